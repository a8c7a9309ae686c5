package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// watchLogs copies a unit's output into the store until the unit stops,
// batching lines so a chatty app costs few transactions.
func (d *Deployer) watchLogs(appKey string, u runtime.Unit) {
	d.watchLogsSince(appKey, u, time.Time{})
}

// watchLogsSince is watchLogs from a given time (zero: from the unit's
// start): an adopted unit resumes after the last line stored before the
// platform restarted.
func (d *Deployer) watchLogsSince(appKey string, u runtime.Unit, since time.Time) {
	if since.IsZero() {
		since = u.Started.Add(-time.Second)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.mu.Lock()
	d.watchers[u.ID] = cancel
	d.mu.Unlock()
	unit := strconv.Itoa(u.Index)
	lines := make(chan runtime.LogLine, 1024)
	// The reader closes lines when it ends, which ends the writer; if the
	// deployer is closing, neither starts.
	if !d.goOwned(func() {
		defer close(lines)
		err := d.rt.Logs(ctx, u.ID, since, func(l runtime.LogLine) {
			select {
			case lines <- l:
			case <-ctx.Done():
			}
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
			d.log.Debug("log capture ended", "app", appKey, "unit", u.ID, "err", err)
		}
	}) {
		cancel()
		return
	}
	d.goOwned(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var batch []paas.LogEntry
		flush := func() {
			d.storeLogs(appKey, batch)
			batch = nil
		}
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					flush()
					return
				}
				t := l.Time
				if t.IsZero() {
					t = time.Now()
				}
				batch = append(batch, paas.LogEntry{Time: t.UTC(), Source: "app", Unit: unit, Stream: l.Stream, Text: l.Text})
				if len(batch) >= 256 {
					flush()
				}
			case <-tick.C:
				flush()
			}
		}
	})
}

func (d *Deployer) appendLogs(appKey, source, unit, stream string, lines []string) {
	now := time.Now().UTC()
	entries := make([]paas.LogEntry, len(lines))
	for i, l := range lines {
		entries[i] = paas.LogEntry{Time: now, Source: source, Unit: unit, Stream: stream, Text: l}
	}
	d.storeLogs(appKey, entries)
}

// storeLogs appends entries to the app's log; a failure costs those lines,
// never the app, so it is only logged.
func (d *Deployer) storeLogs(appKey string, entries []paas.LogEntry) {
	if len(entries) == 0 {
		return
	}
	d.logs.add(appKey, entries)
}

// writeLogs is the log queue's writer.
func (d *Deployer) writeLogs(appKey string, entries []paas.LogEntry) {
	if err := d.store.AppendLogs(appKey, entries); err != nil {
		d.log.Warn("store logs", "app", appKey, "err", err)
		return
	}
	if d.cfg.OnLogs != nil {
		d.cfg.OnLogs(appKey, entries)
	}
}

// SyncLogs waits until every log line the deployer recorded before the
// call is in the store: a reader of an app's logs sees what happened
// before it asked (a failed deploy's reason, say).
func (d *Deployer) SyncLogs(ctx context.Context) error { return d.logs.sync(ctx) }

func (d *Deployer) platformLog(app paas.App, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log.Info(msg, "app", app.Target())
	d.appendLogs(app.Target(), "platform", "", "stdout", []string{msg})
}

// logWriter splits written bytes into lines and hands them to flush in
// batches of up to batch lines (0: 64).
type logWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	batch int
	flush func([]string)
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(w.buf.Next(i+1), "\r\n"))
		w.lines = append(w.lines, line)
	}
	limit := w.batch
	if limit == 0 {
		limit = 64
	}
	if len(w.lines) >= limit {
		w.flushLocked()
	}
	return len(p), nil
}

func (w *logWriter) flushLocked() {
	if len(w.lines) > 0 && w.flush != nil {
		w.flush(w.lines)
	}
	w.lines = nil
}

// Close flushes everything, including a last line without a newline.
func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.lines = append(w.lines, w.buf.String())
		w.buf.Reset()
	}
	w.flushLocked()
	return nil
}
