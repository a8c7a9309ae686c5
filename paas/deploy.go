package paas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/selfhost/paas/runtime"
)

// Deployer turns the store's intent (an app started on a snapshot with N
// units) into running units, and keeps it so: it builds images, starts a
// new release beside the old one, switches traffic once the new units answer
// HTTP, drains the old ones, restarts crashed units with backoff, captures
// their logs, and reconciles the engine with the store at start.
type Deployer struct {
	store *Store
	rt    runtime.Runtime
	cfg   Config
	log   *slog.Logger

	mu       sync.Mutex
	locks    map[string]*sync.Mutex // per app: one deploy/stop at a time
	releases map[string]*release    // app key → the release serving traffic
	crashes  map[string][]time.Time // app key → recent crash times
	watchers map[string]context.CancelFunc
	watching sync.WaitGroup  // log capture goroutines; Run waits for them so none writes to a closed store
	ctx      context.Context // set by Run; log capture and restarts live under it
	routesCh chan struct{}
	onRoutes func(map[string][]string)
}

type release struct {
	ID       string
	Snapshot string
	Image    string
	Units    []runtime.Unit
}

// Port every app listens on inside its unit.
const appPort = 8080

// Crash-loop policy: more than crashLoopMax exits within crashLoopWindow
// marks the app errored instead of restarting it forever.
const (
	crashLoopMax    = 5
	crashLoopWindow = 2 * time.Minute
	drainGrace      = 10 * time.Second
)

func newDeployer(store *Store, rt runtime.Runtime, cfg Config, log *slog.Logger) *Deployer {
	return &Deployer{store: store, rt: rt, cfg: cfg, log: log,
		locks: map[string]*sync.Mutex{}, releases: map[string]*release{}, crashes: map[string][]time.Time{},
		watchers: map[string]context.CancelFunc{}, ctx: context.Background(), routesCh: make(chan struct{}, 1)}
}

// OnRoutes registers fn to receive the backends of every serving app
// (app key → unit addresses) each time they change.
func (d *Deployer) OnRoutes(fn func(map[string][]string)) {
	d.mu.Lock()
	d.onRoutes = fn
	d.mu.Unlock()
	d.publish()
}

// Backends returns the addresses of an app's serving units.
func (d *Deployer) Backends(appKey string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return backendsOf(d.releases[appKey])
}

func backendsOf(r *release) []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, u := range r.Units {
		if u.Running && u.Addr != "" {
			out = append(out, u.Addr)
		}
	}
	return out
}

// Serving reports whether app serves snapshot with n running units.
func (d *Deployer) Serving(appKey, snapshot string, n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.releases[appKey]
	return r != nil && r.Snapshot == snapshot && len(r.Units) == max(n, 1) && len(backendsOf(r)) == len(r.Units)
}

// Release describes what serves an app now, for the API faces.
func (d *Deployer) Release(appKey string) (id, snapshot string, units []runtime.Unit) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.releases[appKey]
	if r == nil {
		return "", "", nil
	}
	return r.ID, r.Snapshot, append([]runtime.Unit(nil), r.Units...)
}

func (d *Deployer) publish() {
	d.mu.Lock()
	fn := d.onRoutes
	routes := make(map[string][]string, len(d.releases))
	for k, r := range d.releases {
		routes[k] = backendsOf(r)
	}
	d.mu.Unlock()
	if fn != nil {
		fn(routes)
	}
}

func (d *Deployer) appLock(appKey string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.locks[appKey]
	if l == nil {
		l = &sync.Mutex{}
		d.locks[appKey] = l
	}
	return l
}

// Deploy makes app's active snapshot serve with app.Drones units, with no
// downtime: the old release keeps serving until the new one is healthy, and
// keeps serving if the new one fails.
func (d *Deployer) Deploy(ctx context.Context, app App) error {
	l := d.appLock(app.Key())
	l.Lock()
	defer l.Unlock()
	return d.deployLocked(ctx, app)
}

func (d *Deployer) deployLocked(ctx context.Context, app App) error {
	if app.Snapshot == "" {
		return BadRequest("Cannot start application with no snapshots")
	}
	snap, err := d.store.Snapshot(app.Owner, app.Name, app.Snapshot)
	if err != nil {
		return err
	}
	image, err := d.build(ctx, app, snap)
	if err != nil {
		return err
	}
	rel := &release{ID: newReleaseID(), Snapshot: snap.ID, Image: image}
	n := max(app.Drones, 1)
	d.platformLog(app, "starting release %s of snapshot %s with %d unit(s)", rel.ID, snap.ID, n)
	for i := range n {
		u, err := d.rt.Start(ctx, runtime.UnitSpec{App: app.Key(), Snapshot: snap.ID, Release: rel.ID, Index: i,
			Image: image, Env: app.Env, Port: appPort, Limits: unitLimits(app)})
		if err != nil {
			d.stopUnits(context.WithoutCancel(ctx), rel.Units)
			d.platformLog(app, "release %s failed to start: %v", rel.ID, err)
			return fmt.Errorf("start %s unit %d: %w", app.Key(), i, err)
		}
		rel.Units = append(rel.Units, u)
		d.watchLogs(app.Key(), u)
	}
	if err := d.waitHealthy(ctx, rel); err != nil {
		d.stopUnits(context.WithoutCancel(ctx), rel.Units)
		d.platformLog(app, "release %s failed its health check: %v; the previous release keeps serving", rel.ID, err)
		return &Error{Status: http.StatusBadRequest, Code: "deploy_failed", Err: ErrBadRequest,
			Message: fmt.Sprintf("snapshot %s did not become healthy: %v (see the app's logs)", snap.ID, err)}
	}
	d.mu.Lock()
	old := d.releases[app.Key()]
	d.releases[app.Key()] = rel
	d.mu.Unlock()
	d.publish()
	d.platformLog(app, "release %s is serving", rel.ID)
	if old != nil {
		d.stopUnits(context.WithoutCancel(ctx), old.Units)
	}
	return nil
}

// unitLimits are the app's own limits; zero fields take the runtime's defaults.
func unitLimits(a App) runtime.Limits {
	return runtime.Limits{MemoryBytes: int64(a.MemoryMB) << 20, NanoCPUs: int64(a.CPUs * 1e9)}
}

func newReleaseID() string { return "r" + strconv.FormatInt(time.Now().UnixNano(), 36) }

func (d *Deployer) build(ctx context.Context, app App, snap Snapshot) (string, error) {
	files, err := d.store.SnapshotFS(snap)
	if err != nil {
		return "", err
	}
	w := &logWriter{flush: func(lines []string) { d.appendLogs(app.Key(), "build", "", "stdout", lines) }}
	defer w.Close()
	// Pull progress (only on first use) goes to the server log as well: it
	// concerns the whole platform, not just this app.
	serverLog := &logWriter{batch: 1, flush: func(lines []string) {
		for _, l := range lines {
			d.log.Info("base image: "+l, "image", d.cfg.BaseImage)
		}
	}}
	defer serverLog.Close()
	if err := d.rt.EnsureImage(ctx, d.cfg.BaseImage, io.MultiWriter(w, serverLog)); err != nil {
		return "", &Error{Status: http.StatusServiceUnavailable, Code: "base_image_unavailable", Err: err,
			Message: fmt.Sprintf("base image %s is not available: %v", d.cfg.BaseImage, err)}
	}
	image, err := d.rt.Build(ctx, runtime.BuildSpec{App: app.Key(), Snapshot: snap.ID, BaseImage: d.cfg.BaseImage,
		Files: files, Cmd: snap.Cmd, Install: snap.Install}, w)
	if err != nil {
		return "", &Error{Status: http.StatusBadRequest, Code: "build_failed", Err: ErrBadRequest,
			Message: fmt.Sprintf("build of snapshot %s failed: %v (see the app's logs)", snap.ID, err)}
	}
	return image, nil
}

// waitHealthy waits until every unit answers HTTP (any status), failing
// early when a unit exits.
func (d *Deployer) waitHealthy(ctx context.Context, rel *release) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.HealthTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	defer client.CloseIdleConnections()
	pending := map[string]string{}
	for _, u := range rel.Units {
		pending[u.ID] = u.Addr
	}
	// Poll fast at first (a Node app listens within tens of milliseconds),
	// backing off so a slow app does not cost a busy loop.
	wait := 20 * time.Millisecond
	for {
		for id, addr := range pending {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				delete(pending, id)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		units, err := d.rt.Units(ctx)
		if err == nil {
			for _, u := range units {
				if _, ok := pending[u.ID]; ok && !u.Running {
					return fmt.Errorf("unit %d exited with code %d", u.Index, u.ExitCode)
				}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("no HTTP answer on port %d within %s", appPort, d.cfg.HealthTimeout)
			}
			return ctx.Err()
		case <-time.After(wait):
			wait = min(wait*2, 250*time.Millisecond)
		}
	}
}

// Stop stops every unit of an app.
func (d *Deployer) Stop(ctx context.Context, appKey string) error {
	l := d.appLock(appKey)
	l.Lock()
	defer l.Unlock()
	return d.stopLocked(ctx, appKey)
}

func (d *Deployer) stopLocked(ctx context.Context, appKey string) error {
	d.mu.Lock()
	rel := d.releases[appKey]
	delete(d.releases, appKey)
	d.mu.Unlock()
	d.publish()
	if rel != nil {
		d.stopUnits(ctx, rel.Units)
	}
	// Units the deployer does not track (left by a crash of the server) go too.
	units, err := d.rt.Units(ctx)
	if err != nil {
		return fmt.Errorf("stop %s: %w", appKey, err)
	}
	var stray []runtime.Unit
	for _, u := range units {
		if u.App == appKey {
			stray = append(stray, u)
		}
	}
	d.stopUnits(ctx, stray)
	return nil
}

// Remove stops an app's units and removes its images.
func (d *Deployer) Remove(ctx context.Context, appKey string) error {
	l := d.appLock(appKey)
	l.Lock()
	defer l.Unlock()
	if err := d.stopLocked(ctx, appKey); err != nil {
		return err
	}
	images, err := d.rt.Images(ctx)
	if err != nil {
		return fmt.Errorf("remove %s: %w", appKey, err)
	}
	for _, im := range images {
		if im.App == appKey {
			if err := d.rt.RemoveImage(ctx, im.Ref); err != nil {
				return fmt.Errorf("remove %s: %w", appKey, err)
			}
		}
	}
	d.mu.Lock()
	delete(d.crashes, appKey)
	d.mu.Unlock()
	return nil
}

func (d *Deployer) stopUnits(ctx context.Context, units []runtime.Unit) {
	var wg sync.WaitGroup
	for _, u := range units {
		d.mu.Lock()
		if cancel := d.watchers[u.ID]; cancel != nil {
			defer cancel() // after Stop, so the last lines are captured
			delete(d.watchers, u.ID)
		}
		d.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.rt.Stop(ctx, u.ID, drainGrace); err != nil {
				d.log.Warn("stop unit", "app", u.App, "unit", u.ID, "err", err)
			}
		}()
	}
	wg.Wait()
}

// watchLogs copies a unit's output into the store until the unit stops,
// batching lines so a chatty app costs few transactions.
func (d *Deployer) watchLogs(appKey string, u runtime.Unit) {
	d.watchLogsSince(appKey, u, u.Started.Add(-time.Second))
}

// watchLogsSince is watchLogs from a given time: an adopted unit resumes
// after the last line stored before the platform restarted.
func (d *Deployer) watchLogsSince(appKey string, u runtime.Unit, since time.Time) {
	d.mu.Lock()
	ctx, cancel := context.WithCancel(d.ctx)
	d.watchers[u.ID] = cancel
	d.mu.Unlock()
	unit := strconv.Itoa(u.Index)
	lines := make(chan runtime.LogLine, 1024)
	d.watching.Add(2)
	go func() {
		defer d.watching.Done()
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
	}()
	go func() {
		defer d.watching.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var batch []LogEntry
		flush := func() {
			if len(batch) > 0 {
				if err := d.store.AppendLogs(appKey, batch); err != nil {
					d.log.Warn("store logs", "app", appKey, "err", err)
				}
				batch = nil
			}
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
				batch = append(batch, LogEntry{Time: t.UTC(), Source: "app", Unit: unit, Stream: l.Stream, Text: l.Text})
				if len(batch) >= 256 {
					flush()
				}
			case <-tick.C:
				flush()
			}
		}
	}()
}

func (d *Deployer) appendLogs(appKey, source, unit, stream string, lines []string) {
	if len(lines) == 0 {
		return
	}
	now := time.Now().UTC()
	entries := make([]LogEntry, len(lines))
	for i, l := range lines {
		entries[i] = LogEntry{Time: now, Source: source, Unit: unit, Stream: stream, Text: l}
	}
	if err := d.store.AppendLogs(appKey, entries); err != nil {
		d.log.Warn("store logs", "app", appKey, "err", err)
	}
}

func (d *Deployer) platformLog(app App, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log.Info(msg, "app", app.Key())
	d.appendLogs(app.Key(), "platform", "", "stdout", []string{msg})
}

// Run reconciles the engine with the store, then supervises units until ctx
// is done: a unit that exits is restarted with backoff, and an app that
// crash-loops is marked errored.
func (d *Deployer) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	events, err := d.rt.Events(ctx)
	if err != nil {
		return fmt.Errorf("watch runtime events: %w", err)
	}
	if err := d.Reconcile(ctx); err != nil {
		d.log.Error("reconcile", "err", err)
	}
	var wg sync.WaitGroup
	defer d.watching.Wait()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.handleExit(ctx, ev)
			}()
		}
	}
}

// Reconcile adopts running units of started apps, redeploys started apps
// that have none, and removes platform units the store does not want.
func (d *Deployer) Reconcile(ctx context.Context) error {
	apps, err := d.store.AllApps()
	if err != nil {
		return err
	}
	units, err := d.rt.Units(ctx)
	if err != nil {
		return err
	}
	byApp := map[string][]runtime.Unit{}
	for _, u := range units {
		byApp[u.App] = append(byApp[u.App], u)
	}
	wanted := map[string]bool{}
	for _, app := range apps {
		if app.State != AppStarted || app.Snapshot == "" {
			continue
		}
		wanted[app.Key()] = true
		// Adopt the newest complete release of the active snapshot, if running.
		releases := map[string][]runtime.Unit{}
		for _, u := range byApp[app.Key()] {
			if u.Running && u.Snapshot == app.Snapshot {
				releases[u.Release] = append(releases[u.Release], u)
			}
		}
		var best string
		for id := range releases {
			if id > best {
				best = id
			}
		}
		var stale []runtime.Unit
		if best != "" {
			rel := &release{ID: best, Snapshot: app.Snapshot, Units: releases[best]}
			sort.Slice(rel.Units, func(i, j int) bool { return rel.Units[i].Index < rel.Units[j].Index })
			d.mu.Lock()
			d.releases[app.Key()] = rel
			d.mu.Unlock()
			since := time.Time{}
			if last, err := d.store.LastLogTime(app.Key()); err == nil && !last.IsZero() {
				since = last.Add(time.Nanosecond)
			}
			for _, u := range rel.Units {
				if since.IsZero() {
					d.watchLogs(app.Key(), u)
				} else {
					d.watchLogsSince(app.Key(), u, since)
				}
			}
			for _, u := range byApp[app.Key()] {
				if u.Release != best {
					stale = append(stale, u)
				}
			}
			d.stopUnits(ctx, stale)
			d.platformLog(app, "adopted running release %s after restart", best)
			continue
		}
		d.stopUnits(ctx, byApp[app.Key()])
		d.platformLog(app, "no running units found at start; deploying snapshot %s", app.Snapshot)
		if err := d.Deploy(ctx, app); err != nil {
			d.log.Error("reconcile deploy", "app", app.Key(), "err", err)
			d.markErrored(app.Key(), fmt.Sprintf("redeploy at start failed: %v", err))
		}
	}
	for appKey, us := range byApp {
		if !wanted[appKey] {
			d.log.Info("removing units the store does not know", "app", appKey, "units", len(us))
			d.stopUnits(ctx, us)
		}
	}
	d.publish()
	return nil
}

func (d *Deployer) handleExit(ctx context.Context, ev runtime.Event) {
	d.mu.Lock()
	rel := d.releases[ev.App]
	idx := -1
	if rel != nil {
		for i, u := range rel.Units {
			if u.ID == ev.UnitID {
				idx = i
			}
		}
	}
	if idx < 0 {
		d.mu.Unlock()
		return // a unit being replaced or stopped on purpose
	}
	rel.Units[idx].Running = false
	now := time.Now()
	recent := []time.Time{now}
	for _, t := range d.crashes[ev.App] {
		if now.Sub(t) < crashLoopWindow {
			recent = append(recent, t)
		}
	}
	d.crashes[ev.App] = recent
	dead := rel.Units[idx]
	d.mu.Unlock()
	d.publish()

	app, err := d.store.App(ownerName(ev.App))
	if err != nil {
		return
	}
	reason := fmt.Sprintf("exit code %d", ev.ExitCode)
	if ev.OOM {
		reason = "out of memory"
	}
	if len(recent) > crashLoopMax {
		d.platformLog(app, "unit %d crashed (%s) %d times in %s; marking the app errored", dead.Index, reason, len(recent), crashLoopWindow)
		d.markErrored(ev.App, fmt.Sprintf("crash loop: %d exits in %s, last: %s", len(recent), crashLoopWindow, reason))
		_ = d.Stop(ctx, ev.App)
		return
	}
	backoff := time.Duration(1<<min(len(recent)-1, 5)) * d.cfg.RestartBackoff
	d.platformLog(app, "unit %d crashed (%s); restarting in %s", dead.Index, reason, backoff)
	select {
	case <-ctx.Done():
		return
	case <-time.After(backoff):
	}
	l := d.appLock(ev.App)
	l.Lock()
	defer l.Unlock()
	d.mu.Lock()
	current := d.releases[ev.App]
	d.mu.Unlock()
	if current != rel {
		return // redeployed or stopped meanwhile
	}
	_ = d.rt.Stop(ctx, dead.ID, time.Second) // remove the dead container
	u, err := d.rt.Start(ctx, runtime.UnitSpec{App: ev.App, Snapshot: rel.Snapshot, Release: rel.ID, Index: dead.Index,
		Image: dead.Image, Env: app.Env, Port: appPort, Limits: unitLimits(app)})
	if err != nil {
		d.platformLog(app, "restart of unit %d failed: %v", dead.Index, err)
		return
	}
	d.watchLogs(ev.App, u)
	// Record the new unit at once, so that if it dies during its health
	// check its exit event is recognised and restarts it again; it gets no
	// traffic until it is healthy.
	pending := u
	pending.Running = false
	d.setUnit(rel, dead.ID, pending)
	if err := d.waitHealthy(ctx, &release{ID: rel.ID, Units: []runtime.Unit{u}}); err != nil {
		d.platformLog(app, "restarted unit %d is not healthy: %v", dead.Index, err)
		return
	}
	d.setUnit(rel, u.ID, u)
	d.publish()
}

// setUnit replaces the unit with id in rel.
func (d *Deployer) setUnit(rel *release, id string, u runtime.Unit) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range rel.Units {
		if rel.Units[i].ID == id {
			rel.Units[i] = u
		}
	}
}

func (d *Deployer) markErrored(appKey, msg string) {
	owner, name := ownerName(appKey)
	_, err := d.store.UpdateApp(owner, name, func(a *App) error {
		a.State, a.StateMessage = AppErrored, msg
		return nil
	})
	if err != nil {
		d.log.Warn("mark errored", "app", appKey, "err", err)
	}
}

func ownerName(appKey string) (string, string) {
	owner, name, _ := strings.Cut(appKey, "/")
	return owner, name
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

func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
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
