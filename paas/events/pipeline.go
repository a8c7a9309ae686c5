package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// Config is the router's settings.
type Config struct {
	// Dir holds the file destinations' files: Dir/<workspace>/<path>.
	Dir string
	// Backlog is how many events a stream keeps for its links at most; past
	// it the oldest are dropped and counted (0: DefaultBacklog).
	Backlog int
	// AllowPrivate lets webhooks call loopback and private addresses
	// (tests, a LAN receiver); by default a user's URL may not make the
	// platform call its own host or network.
	AllowPrivate bool
	// FunctionTimeout bounds one function call (0: DefaultFunctionTimeout).
	FunctionTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed deliveries
	// (0: 200ms and 1m).
	RetryMin, RetryMax time.Duration
	// ServiceEndpoint finds a database instance for a service destination
	// (nil: there are none).
	ServiceEndpoint ServiceEndpoint
}

// DefaultBacklog is the events a stream keeps when Config.Backlog is 0.
const DefaultBacklog = 100_000

// Router delivers every link's events. Its goroutines (one per link) live
// until Close.
type Router struct {
	st  *store.Store
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*worker // owner\x00link → its worker
	wakes   map[string]chan struct{}
	apps    map[string][]string // app key → the app streams that carry it
	reload  chan struct{}
}

// New returns a router over st; nothing runs until Start.
func New(st *store.Store, cfg Config, log *slog.Logger) *Router {
	if cfg.Backlog == 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 200 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Router{st: st, cfg: cfg, log: log, ctx: ctx, cancel: cancel, workers: map[string]*worker{},
		wakes: map[string]chan struct{}{}, apps: map[string][]string{}, reload: make(chan struct{}, 1)}
}

// Start loads the configuration and starts delivering; Reload is then run
// on its own goroutine whenever asked.
func (r *Router) Start() error {
	if err := r.load(); err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-r.reload:
				if err := r.load(); err != nil {
					r.log.Error("event routing: reload the configuration", "err", err)
				}
			}
		}
	}()
	return nil
}

// Close stops every worker and waits for them; a batch in flight is
// cancelled and sent again after the next start.
func (r *Router) Close() {
	r.cancel()
	r.wg.Wait()
}

// Reload asks for the configuration to be read again (a config object
// changed); it does not wait.
func (r *Router) Reload() {
	select {
	case r.reload <- struct{}{}:
	default:
	}
}

// Append stores events (JSON objects) in stream, durably, and wakes its links.
func (r *Router) Append(streamKey string, events [][]byte) error {
	if _, err := r.st.AppendEvents(streamKey, events, r.cfg.Backlog); err != nil {
		return err
	}
	r.wake(streamKey)
	return nil
}

func (r *Router) wake(streamKey string) {
	r.mu.Lock()
	ch := r.wakes[streamKey]
	if ch != nil {
		close(ch)
		delete(r.wakes, streamKey)
	}
	r.mu.Unlock()
}

// waitFor returns a channel closed at the next Append to streamKey.
func (r *Router) waitFor(streamKey string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.wakes[streamKey]
	if ch == nil {
		ch = make(chan struct{})
		r.wakes[streamKey] = ch
	}
	return ch
}

// AppLogs turns an app's log lines (its output, and the platform's lines
// about its deploys, crashes, restarts) into events of the app streams
// that carry it. The deployer calls it as it stores them.
func (r *Router) AppLogs(target string, entries []paas.LogEntry) {
	// A now deployment's units log under owner/app~uid: its app's streams carry them.
	appKey, deployment, _ := strings.Cut(target, "~")
	r.mu.Lock()
	streams := r.apps[appKey]
	r.mu.Unlock()
	if len(streams) == 0 {
		return
	}
	_, app, _ := strings.Cut(appKey, "/")
	events := make([][]byte, 0, len(entries))
	for _, e := range entries {
		typ := "log"
		switch e.Source {
		case "deploy", "platform", "build":
			typ = e.Source
		}
		ev := map[string]any{"type": typ, "app": app, "source": e.Source, "stream": e.Stream,
			"unit": e.Unit, "text": e.Text, "timestamp": e.Time.UTC().Format(time.RFC3339Nano), "messageId": paas.RandomID("", 20)}
		if deployment != "" {
			ev["deployment"] = deployment
		}
		b, err := json.Marshal(ev)
		if err == nil {
			events = append(events, b)
		}
	}
	for _, s := range streams {
		if err := r.Append(s, events); err != nil {
			r.log.Warn("event routing: store app events", "stream", s, "err", err)
		}
	}
}

// linkConfig is what a worker runs from: the link and what it names.
type linkConfig struct {
	owner, id, stream string
	fingerprint       string
	dest              map[string]any
	functions         []fnConfig
	eventTypes        []string
	batchSize         int
	frequency         time.Duration
}

type fnConfig struct{ id, code string }

// load reads the configuration and makes the workers follow it: links
// that went, or changed (or whose stream, destination or functions did),
// stop; new and changed ones start.
func (r *Router) load() error {
	all := map[string]map[string]map[string]any{} // type → owner\x00id → object
	for _, typ := range paas.ConfigTypes {
		objs, err := r.st.AllConfigs(typ)
		if err != nil {
			return err
		}
		all[typ] = map[string]map[string]any{}
		for _, o := range objs {
			m, err := decodeObject(o.Raw)
			if err != nil {
				continue
			}
			all[typ][o.Owner+"\x00"+str(m, "id")] = m
		}
	}
	apps := map[string][]string{}
	for k, s := range all[paas.TypeStream] {
		if str(s, "kind") == "app" && str(s, "app") != "" {
			owner, _, _ := strings.Cut(k, "\x00")
			apps[owner+"/"+str(s, "app")] = append(apps[owner+"/"+str(s, "app")], k)
		}
	}
	wanted := map[string]linkConfig{}
	for k, l := range all[paas.TypeLink] {
		owner, id, _ := strings.Cut(k, "\x00")
		from, to := str(l, "fromId"), str(l, "toId")
		stream, dest := all[paas.TypeStream][owner+"\x00"+from], all[paas.TypeDestination][owner+"\x00"+to]
		if stream == nil || dest == nil {
			continue // pointing at nothing (a plain delete): idle
		}
		lc := linkConfig{owner: owner, id: id, stream: paas.StreamKey(owner, from), dest: dest, batchSize: 100}
		data, _ := l["data"].(map[string]any)
		if n, ok := data["batchSize"].(float64); ok && n >= 1 {
			lc.batchSize = int(n)
		}
		if n, ok := data["frequency"].(float64); ok && n > 0 {
			lc.frequency = time.Duration(n) * time.Second
		}
		if ts, ok := data["eventTypes"].([]any); ok {
			for _, t := range ts {
				if s, ok := t.(string); ok {
					lc.eventTypes = append(lc.eventTypes, s)
				}
			}
		}
		fns, _ := data["functions"].([]any)
		missing := false
		for _, f := range fns {
			fm, _ := f.(map[string]any)
			fid := strings.TrimPrefix(str(fm, "functionId"), "udf.")
			fn := all[paas.TypeFunction][owner+"\x00"+fid]
			if fn == nil {
				missing = true
				break
			}
			lc.functions = append(lc.functions, fnConfig{id: fid, code: str(fn, "code")})
		}
		if missing {
			continue
		}
		fp, _ := json.Marshal([]any{l, dest, lc.functions})
		lc.fingerprint = string(fp)
		wanted[k] = lc
	}
	r.mu.Lock()
	r.apps = apps
	var stop []*worker
	for k, w := range r.workers {
		if lc, ok := wanted[k]; !ok || lc.fingerprint != w.cfg.fingerprint {
			stop = append(stop, w)
			delete(r.workers, k)
		}
	}
	r.mu.Unlock()
	for _, w := range stop {
		w.cancel()
		<-w.done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, lc := range wanted {
		if r.workers[k] != nil {
			continue
		}
		w, err := r.newWorker(lc)
		if err != nil {
			r.log.Warn("event routing: link not started", "workspace", lc.owner, "link", lc.id, "err", err)
			r.failLink(lc, err)
			continue
		}
		r.workers[k] = w
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer close(w.done)
			w.run()
		}()
	}
	return nil
}

// failLink records why a link cannot run.
func (r *Router) failLink(lc linkConfig, err error) {
	st, _, _ := r.st.LinkState(lc.owner, lc.id)
	st.LastError, st.LastTry = err.Error(), time.Now().UTC()
	_ = r.st.SaveLinkState(lc.owner, lc.id, st)
}

type worker struct {
	r      *Router
	cfg    linkConfig
	dest   destination
	fns    []*Function
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *Router) newWorker(lc linkConfig) (*worker, error) {
	w := &worker{r: r, cfg: lc, done: make(chan struct{})}
	var err error
	switch str(lc.dest, "destinationType") {
	case "webhook":
		w.dest, err = newWebhook(lc.dest, r.cfg.AllowPrivate)
	case "file":
		w.dest, err = newFile(filepath.Join(r.cfg.Dir, lc.owner), lc.dest)
	case "service":
		w.dest, err = newServiceDest(lc.owner, lc.dest, r.cfg.ServiceEndpoint)
	default:
		err = fmt.Errorf("destination type %q is not delivered to", str(lc.dest, "destinationType"))
	}
	if err != nil {
		return nil, err
	}
	for _, f := range lc.functions {
		fn, err := Compile(f.id, f.code, r.cfg.FunctionTimeout, func(level, msg string) {
			r.log.Info("function log", "workspace", lc.owner, "function", f.id, "level", level, "msg", msg)
		})
		if err != nil {
			return nil, err
		}
		w.fns = append(w.fns, fn)
	}
	w.ctx, w.cancel = context.WithCancel(r.ctx)
	return w, nil
}

// run delivers the link's events: a batch after its cursor, through the
// functions and the type filter, to the destination; the cursor moves
// once the destination took it; a failure is retried with backoff.
func (w *worker) run() {
	st, ok, err := w.r.st.LinkState(w.cfg.owner, w.cfg.id)
	if err != nil {
		w.r.log.Error("event routing: link state", "link", w.cfg.id, "err", err)
		return
	}
	if !ok {
		// Created without a state (the platform gives links one when they
		// are made): it delivers what comes from now on.
		if err := w.r.st.StartLink(w.cfg.owner, w.cfg.id, w.cfg.stream); err != nil {
			return
		}
		if st, _, err = w.r.st.LinkState(w.cfg.owner, w.cfg.id); err != nil {
			return
		}
	}
	backoff := w.r.cfg.RetryMin
	for w.ctx.Err() == nil {
		wake := w.r.waitFor(w.cfg.stream)
		batch, err := w.r.st.ReadEvents(w.cfg.stream, st.Cursor, w.cfg.batchSize)
		if err != nil {
			w.r.log.Error("event routing: read events", "link", w.cfg.id, "err", err)
			return
		}
		if len(batch) == 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-wake:
			case <-time.After(time.Minute): // a missed wake costs a minute at most
			}
			continue
		}
		out, failed := w.transform(batch)
		st.LastTry = time.Now().UTC()
		if len(out) > 0 {
			if err := w.dest.deliver(w.ctx, out); err != nil {
				if w.ctx.Err() != nil {
					return
				}
				st.Attempts++
				st.LastError = err.Error()
				_ = w.r.st.SaveLinkState(w.cfg.owner, w.cfg.id, st)
				select {
				case <-w.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, w.r.cfg.RetryMax)
				continue
			}
		}
		backoff = w.r.cfg.RetryMin
		st.Cursor = batch[len(batch)-1].Seq
		st.Delivered += uint64(len(out))
		st.Failed += uint64(failed)
		st.Attempts++
		st.LastError = ""
		if failed > 0 {
			st.LastError = fmt.Sprintf("%d event(s) failed in a function", failed)
		}
		if len(out) > 0 {
			st.LastOK = st.LastTry
		}
		if err := w.r.st.SaveLinkState(w.cfg.owner, w.cfg.id, st); err != nil {
			w.r.log.Error("event routing: save link state", "link", w.cfg.id, "err", err)
			return
		}
		w.r.prune(w.cfg.stream)
		if w.cfg.frequency > 0 && len(batch) < w.cfg.batchSize {
			select {
			case <-w.ctx.Done():
				return
			case <-time.After(w.cfg.frequency):
			}
		}
	}
}

// transform runs the batch through the type filter and the functions:
// the events to deliver, and how many failed in a function.
func (w *worker) transform(batch []paas.Event) (out [][]byte, failed int) {
	for _, e := range batch {
		if len(w.cfg.eventTypes) > 0 {
			var head struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(e.Data, &head)
			if !slices.Contains(w.cfg.eventTypes, head.Type) {
				continue
			}
		}
		cur := [][]byte{e.Data}
		for _, fn := range w.fns {
			var next [][]byte
			for _, c := range cur {
				res, err := fn.Run(c)
				if err != nil {
					w.r.log.Info("event routing: function failed", "workspace", w.cfg.owner, "link", w.cfg.id, "err", err)
					failed++
					continue
				}
				next = append(next, res...)
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out, failed
}

// prune drops a stream's events every link from it has delivered.
func (r *Router) prune(streamKey string) {
	r.mu.Lock()
	var owners []linkConfig
	for _, w := range r.workers {
		if w.cfg.stream == streamKey {
			owners = append(owners, w.cfg)
		}
	}
	r.mu.Unlock()
	var upTo uint64
	for i, lc := range owners {
		st, ok, err := r.st.LinkState(lc.owner, lc.id)
		if err != nil || !ok {
			return
		}
		if i == 0 || st.Cursor < upTo {
			upTo = st.Cursor
		}
	}
	if len(owners) > 0 && upTo > 0 {
		if err := r.st.PruneEvents(streamKey, upTo); err != nil {
			r.log.Warn("event routing: prune", "stream", streamKey, "err", err)
		}
	}
}
