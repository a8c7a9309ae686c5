package runtime

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
)

// taskPoll is how often Events lists the tasks, and Logs asks whether the
// task it follows still runs.
const taskPoll = time.Second

// localEventWait is how long a stopped task waits for its container's die
// event (which has the OOM flag) before the task poll reports it instead.
const localEventWait = 3 * time.Second

// logTail is how long Logs keeps reading after its task stopped and the
// stream fell quiet: Swarm's log streams never end on their own.
const logTail = 500 * time.Millisecond

// Events implements Runtime. Exits come from two sources, each reported
// once per task: the die events of this node's containers, which carry the
// exit code and OOM at once, and a poll of the tasks, which sees exits on
// any node (and those whose event was missed) a few seconds later.
func (s *Swarm) Events(ctx context.Context) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// What stopped before the subscription is not news.
	tasks, err := s.tasks(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch units: %w", err)
	}
	known := map[string]bool{}
	for _, t := range tasks {
		if terminal(t.Status.State) {
			known[t.ID] = true
		}
	}
	local, err := s.d.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan Event, 16)
	go s.pumpEvents(ctx, local, known, out)
	return out, nil
}

func (s *Swarm) pumpEvents(ctx context.Context, local <-chan Event, reported map[string]bool, out chan<- Event) {
	defer close(out)
	tick := time.NewTicker(taskPoll)
	defer tick.Stop()
	var (
		byContainer = map[string]string{} // container id -> task id, from the last poll
		swapped     = map[string]bool{}   // containers limitSwap has seen to
		// database servers' containers limitSwap has seen to: Swarm
		// restarts a crashed server as a new container, with swap.
		serversSwapped = map[string]bool{}
	)
	send := func(ev Event) bool {
		reported[ev.UnitID] = true
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-local:
			if !ok {
				return
			}
			task := byContainer[ev.UnitID]
			if task == "" {
				task = s.taskOfContainer(ctx, ev.UnitID)
			}
			// Not a unit (an install step) or already reported.
			if task == "" || reported[task] {
				continue
			}
			ev.UnitID = task
			if !send(ev) {
				return
			}
		case <-tick.C:
			tasks, err := s.tasks(ctx)
			if err != nil {
				continue // the next tick asks again (an engine restarting)
			}
			listed := make(map[string]bool, len(tasks))
			for _, t := range tasks {
				listed[t.ID] = true
				cid := containerOf(t)
				if cid == "" {
					continue
				}
				byContainer[cid] = t.ID
				switch {
				case t.Status.State == swarm.TaskStateRunning && !swapped[cid]:
					// A task Swarm restarted never went through Start.
					if s.limitSwap(ctx, t) == nil {
						swapped[cid] = true
					}
				case terminal(t.Status.State) && !reported[t.ID] && time.Since(t.Status.Timestamp) > localEventWait:
					ev := Event{UnitID: t.ID, App: t.Spec.ContainerSpec.Labels[LabelApp], Time: t.Status.Timestamp}
					if cs := t.Status.ContainerStatus; cs != nil {
						ev.ExitCode = cs.ExitCode
					}
					if !send(ev) {
						return
					}
				}
			}
			serversSwapped = s.limitServersSwap(ctx, serversSwapped)
			// Forget tasks Swarm no longer keeps.
			for id := range reported {
				if !listed[id] {
					delete(reported, id)
				}
			}
			for cid, id := range byContainer {
				if !listed[id] {
					delete(byContainer, cid)
					delete(swapped, cid)
				}
			}
		}
	}
}

// taskOfContainer is the unit task a container of this node belongs to,
// "" when it is none of this installation's units or is gone.
func (s *Swarm) taskOfContainer(ctx context.Context, cid string) string {
	info, err := s.api.ContainerInspect(ctx, cid)
	if err != nil || info.Config == nil || !s.own(info.Config.Labels) {
		return ""
	}
	return info.Config.Labels[labelSwarmTask]
}

// Logs implements Runtime. It follows the task's output through the
// manager, so it reaches a unit on any node, and returns nil when ctx is
// done or once the task has stopped and its last lines are read; a
// wrapped ErrNotFound when the unit does not exist.
func (s *Swarm) Logs(ctx context.Context, id string, since time.Time, fn func(LogLine)) error {
	t, _, err := s.api.TaskInspectWithRaw(ctx, id)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("logs of unit %s: %w", id, err)
	}
	if err != nil || !s.ownTask(t) {
		return fmt.Errorf("logs of unit %s: %w", id, ErrNotFound)
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	ctx, cancel := context.WithCancel(ctx)
	rc, err := s.api.TaskLogs(ctx, id, opts)
	if err != nil {
		cancelled := ctx.Err() != nil
		cancel()
		if cancelled {
			return nil
		}
		return fmt.Errorf("logs of unit %s: %w", id, err)
	}
	var lastRead atomic.Int64 // unix nanoseconds of the last bytes read
	lastRead.Store(time.Now().UnixNano())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.endLogs(ctx, id, &lastRead, cancel)
	}()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer func() {
		stop()
		rc.Close()
		cancel()
		<-watched
	}()
	w := func(stream string) *logLineWriter { return &logLineWriter{unit: id, stream: stream, fn: fn} }
	stdout, stderr := w("stdout"), w("stderr")
	_, err = stdcopy.StdCopy(stdout, stderr, readNoting{rc, &lastRead})
	stdout.flush()
	stderr.flush()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of unit %s: %w", id, err)
	}
	return nil
}

// endLogs calls cancel once task id has stopped (or is gone) and its
// stream has been quiet for logTail.
func (s *Swarm) endLogs(ctx context.Context, id string, lastRead *atomic.Int64, cancel context.CancelFunc) {
	tick := time.NewTicker(logTail)
	defer tick.Stop()
	stopped := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !stopped {
			t, _, err := s.api.TaskInspectWithRaw(ctx, id)
			stopped = cerrdefs.IsNotFound(err) || (err == nil && terminal(t.Status.State))
		}
		if stopped && time.Since(time.Unix(0, lastRead.Load())) >= logTail {
			cancel()
			return
		}
	}
}

// readNoting notes the time of every read that returned bytes.
type readNoting struct {
	r io.Reader
	t *atomic.Int64
}

func (r readNoting) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Store(time.Now().UnixNano())
	}
	return n, err
}

// limitServersSwap gives the running database servers of this node the
// swap limit StartService gives them (see limitSwap), skipping the
// containers in done, and returns the containers seen to.
func (s *Swarm) limitServersSwap(ctx context.Context, done map[string]bool) map[string]bool {
	tasks, err := s.tasksMatching(ctx, s.serviceFilters(), func(t swarm.Task) bool {
		return t.Status.State == swarm.TaskStateRunning && containerOf(t) != ""
	})
	if err != nil {
		return done // the next tick asks again
	}
	next := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		if cid := containerOf(t); done[cid] || s.limitSwap(ctx, t) == nil {
			next[cid] = true
		}
	}
	return next
}
