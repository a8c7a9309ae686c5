package runtime

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/pkg/stdcopy"
)

// Logs implements Runtime. It returns nil when ctx is done or the stream ends
// (the engine ends a follow stream when the unit stops), and a wrapped
// ErrNotFound when the unit does not exist.
func (d *Docker) Logs(ctx context.Context, id string, since time.Time, fn func(LogLine)) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := d.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("logs of unit %s: %w", shortID(id), ErrNotFound)
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("logs of unit %s: %w", shortID(id), err)
	}
	// Closing the body is what unblocks the read below on cancellation.
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	defer rc.Close()

	stdout := &logLineWriter{unit: id, stream: "stdout", fn: fn}
	stderr := &logLineWriter{unit: id, stream: "stderr", fn: fn}
	// Units never get a TTY, so the stream is always multiplexed.
	_, err = stdcopy.StdCopy(stdout, stderr, rc)
	stdout.flush()
	stderr.flush()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of unit %s: %w", shortID(id), err)
	}
	return nil
}

// logLineWriter splits one demultiplexed stream into lines, each carrying the
// timestamp the engine prefixed it with.
type logLineWriter struct {
	unit, stream string
	fn           func(LogLine)
	buf          []byte
}

// maxLogLine bounds a line without newline: past it the line is delivered in
// pieces rather than buffered without limit.
const maxLogLine = 64 << 10

func (w *logLineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLogLine {
		w.emit(w.buf)
		w.buf = nil
	}
	// Compact so a long-lived stream does not pin an ever-growing array.
	if len(w.buf) == 0 {
		w.buf = w.buf[:0:0]
	}
	return len(p), nil
}

func (w *logLineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *logLineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	l := LogLine{UnitID: w.unit, Stream: w.stream, Text: string(line)}
	if sp := bytes.IndexByte(line, ' '); sp > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(line[:sp])); err == nil {
			l.Time, l.Text = t, string(line[sp+1:])
		}
	} else if t, err := time.Parse(time.RFC3339Nano, string(line)); err == nil {
		l.Time, l.Text = t, "" // an empty line still carries its timestamp
	}
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	w.fn(l)
}

// Events implements Runtime. The returned channel is closed when ctx is done.
// A broken event stream is re-opened (replaying from the last event seen) with
// a capped backoff, so a daemon restart does not silently end delivery.
func (d *Docker) Events(ctx context.Context) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(chan Event, 16)
	go d.pumpEvents(ctx, out)
	return out, nil
}

func (d *Docker) pumpEvents(ctx context.Context, out chan<- Event) {
	defer close(out)
	args := d.ownFilters()
	args.Add("type", string(events.ContainerEventType))
	args.Add("event", string(events.ActionDie))
	args.Add("event", string(events.ActionOOM))

	var (
		subscribed = time.Now()
		first      = true
		last       time.Time // engine time of the last event seen
		lastKey    string    // dedupes the replayed boundary event after a reconnect
		oom        = map[string]time.Time{}
		backoff    = 250 * time.Millisecond
	)
	for {
		opts := events.ListOptions{Filters: args}
		if !first {
			// Replay what happened while disconnected.
			from := last
			if from.IsZero() {
				from = subscribed
			}
			opts.Since = fmt.Sprintf("%d.%09d", from.Unix(), from.Nanosecond())
		}
		first = false
		sctx, cancel := context.WithCancel(ctx)
		msgs, errs := d.api.Events(sctx, opts)
	recv:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case <-errs:
				break recv
			case m, ok := <-msgs:
				if !ok {
					break recv
				}
				backoff = 250 * time.Millisecond
				t := time.Unix(0, m.TimeNano)
				if m.TimeNano == 0 {
					t = time.Unix(m.Time, 0)
				}
				key := m.Actor.ID + "/" + string(m.Action) + "/" + strconv.FormatInt(t.UnixNano(), 10)
				if !last.IsZero() && (t.Before(last) || key == lastKey) {
					continue
				}
				last, lastKey = t, key
				switch m.Action {
				case events.ActionOOM:
					// The engine sends oom before die; fold it into the die
					// event so one stop yields one Event.
					oom[m.Actor.ID] = t
					for id, at := range oom {
						if t.Sub(at) > time.Minute {
							delete(oom, id) // an oom whose die never came
						}
					}
				case events.ActionDie:
					ev := Event{UnitID: m.Actor.ID, App: m.Actor.Attributes[LabelApp], Time: t}
					ev.ExitCode, _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
					if _, ok := oom[m.Actor.ID]; ok {
						ev.OOM = true
						delete(oom, m.Actor.ID)
					}
					select {
					case out <- ev:
					case <-ctx.Done():
						cancel()
						return
					}
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
