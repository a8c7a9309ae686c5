package deploy

import (
	"context"
	"sync"

	"github.com/selfhost/paas/paas"
)

// logQueue writes log lines to the store off the deploy path: a deploy
// records several steps, and each store write waits for the disk (and for
// bbolt's batch window), which would add tens of milliseconds to every
// deploy. One writer goroutine, owned by the deployer, keeps the order of
// lines; Sync gives readers their own writes.
type logQueue struct {
	write func(appKey string, entries []paas.LogEntry)

	mu      sync.Mutex
	cond    *sync.Cond
	pending []logJob
	queued  uint64 // jobs ever queued
	written uint64 // jobs written
	closed  bool
	done    chan struct{}
}

type logJob struct {
	app     string
	entries []paas.LogEntry
}

func newLogQueue(write func(string, []paas.LogEntry)) *logQueue {
	q := &logQueue{write: write, done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

// add queues entries; after close it writes them at once.
func (q *logQueue) add(appKey string, entries []paas.LogEntry) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.write(appKey, entries)
		return
	}
	q.pending = append(q.pending, logJob{appKey, entries})
	q.queued++
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *logQueue) run() {
	defer close(q.done)
	q.mu.Lock()
	for {
		for len(q.pending) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pending) == 0 && q.closed {
			q.mu.Unlock()
			return
		}
		jobs := q.pending
		q.pending = nil
		q.mu.Unlock()
		// One write per app for everything queued meanwhile.
		byApp := map[string][]paas.LogEntry{}
		var order []string
		for _, j := range jobs {
			if _, ok := byApp[j.app]; !ok {
				order = append(order, j.app)
			}
			byApp[j.app] = append(byApp[j.app], j.entries...)
		}
		for _, app := range order {
			q.write(app, byApp[app])
		}
		q.mu.Lock()
		q.written += uint64(len(jobs))
		q.cond.Broadcast()
	}
}

// sync waits until every line queued before the call is written.
func (q *logQueue) sync(ctx context.Context) error {
	q.mu.Lock()
	target := q.queued
	q.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.written < target && !q.closed {
		if err := ctx.Err(); err != nil {
			return err
		}
		q.cond.Wait()
	}
	return nil
}

// close writes what is queued and stops the writer.
func (q *logQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
	<-q.done
}
