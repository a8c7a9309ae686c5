package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

// Deployer turns the store's intent (an app started on a snapshot with N
// units) into running units, and keeps it so: it builds images, starts a
// new release beside the old one, switches traffic once the new units answer
// HTTP, drains the old ones, restarts crashed units with backoff, captures
// their logs, and reconciles the engine with the store at start.
//
// It owns every goroutine it starts, and its lifetime is the context given
// to New: Close cancels it, which also cancels deploys in flight (their
// request contexts are joined to it), and returns once all of them, the
// supervisor and every log capture have ended, so the store can close.
type Deployer struct {
	store  *store.Store
	rt     runtime.Runtime
	events *paas.Notifier
	cfg    Config
	log    *slog.Logger

	ctx    context.Context // the deployer's lifetime
	cancel context.CancelFunc
	work   sync.WaitGroup // the supervisor, exit handlers, log capture, deploys in flight

	mu       sync.Mutex
	closed   bool
	started  bool
	locks    map[string]*sync.Mutex // per app: one deploy/stop/adoption at a time
	releases map[string]*release    // app key → the release serving traffic
	crashes  map[string][]time.Time // app key → recent crash times
	watchers map[string]context.CancelFunc
	preps    map[string]*preparation // app@snapshot → its preparation
	heals    map[string]*healState   // healer → its last run

	subMu sync.Mutex
	subs  map[chan paas.DeployEvent]string // subscriber → app key ("": all)

	logs *logQueue // log lines on their way to the store
}

// release is one snapshot's units; code and cmd are what a restarted unit
// of it runs.
type release struct {
	ID       string
	Snapshot string
	Units    []runtime.Unit
	code     runtime.Prepared
	cmd      []string
}

// Port every app listens on inside its unit.
const appPort = 8080

// drainGrace is how long a replaced unit gets to finish its requests after SIGTERM.
const drainGrace = 10 * time.Second

// Config is what the deployer needs to know about the installation.
type Config struct {
	BaseImage string // the Node image apps are built FROM
	// HealthTimeout bounds how long a new release may take to accept HTTP (0: 60s).
	HealthTimeout time.Duration
	// RestartBackoff is the first delay before restarting a crashed unit;
	// it doubles per recent crash, up to 32 times (0: 500ms).
	RestartBackoff time.Duration
	// ServiceImages are the images database servers run, by service
	// (missing: the official image).
	ServiceImages ServiceImages
	// OnLogs, when set, gets each batch of log lines once stored (the
	// event router's app streams); it must not block for long.
	OnLogs func(target string, entries []paas.LogEntry)
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = &paas.Error{Status: http.StatusServiceUnavailable, Code: "shutting_down",
	Message: "the platform is shutting down", Err: errors.New("deployer closed")}

// New returns a deployer of apps in st onto rt, living until ctx is done or
// Close is called. Changes of serving units are announced as
// paas.TopicRoutes on events. Nothing runs until Start.
func New(ctx context.Context, st *store.Store, rt runtime.Runtime, events *paas.Notifier, cfg Config, log *slog.Logger) *Deployer {
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &Deployer{store: st, rt: rt, events: events, cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		locks: map[string]*sync.Mutex{}, releases: map[string]*release{}, crashes: map[string][]time.Time{},
		watchers: map[string]context.CancelFunc{}, preps: map[string]*preparation{}}
	d.logs = newLogQueue(d.writeLogs)
	return d
}

// Close stops the deployer: deploys in flight are cancelled, supervision
// and log capture end, and Close returns when every goroutine has. Units
// keep running; the next Start adopts them. Close is idempotent.
func (d *Deployer) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.work.Wait()
	d.logs.close() // after every writer: the store closes next
	return nil
}

// begin registers a call that may outlast its caller's patience: the
// returned context ends with ctx or with the deployer, and Close waits for
// done. It fails once Close has begun.
func (d *Deployer) begin(ctx context.Context) (context.Context, func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, nil, ErrClosed
	}
	d.work.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		d.work.Done()
	}, nil
}

// goOwned runs fn on a goroutine Close waits for; it reports false (and
// runs nothing) once Close has begun.
func (d *Deployer) goOwned(fn func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		fn()
	}()
	return true
}

// Background runs fn on a goroutine the deployer owns: its context ends
// with the deployer, and Close waits for it. It reports false (and runs
// nothing) once Close has begun.
func (d *Deployer) Background(fn func(ctx context.Context)) bool {
	return d.goOwned(func() { fn(d.ctx) })
}

// Note writes a platform line to the logs of app's units (its Target).
func (d *Deployer) Note(app paas.App, msg string) { d.platformLog(app, "%s", msg) }

// Routes returns the addresses of every serving app's running units (app
// key → addresses), the ingress table's input.
func (d *Deployer) Routes() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	routes := make(map[string][]string, len(d.releases))
	for k, r := range d.releases {
		routes[k] = backendsOf(r)
	}
	return routes
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

// Release describes what serves an app now (ok false: nothing).
func (d *Deployer) Release(appKey string) (paas.Release, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.releases[appKey]
	if r == nil {
		return paas.Release{}, false
	}
	out := paas.Release{ID: r.ID, Snapshot: r.Snapshot}
	for _, u := range r.Units {
		out.Units = append(out.Units, paas.UnitStatus{ID: u.ID, Index: u.Index, Running: u.Running})
	}
	return out, true
}

func (d *Deployer) publish() { d.events.Notify(paas.TopicRoutes) }

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

// Deploy makes app's active snapshot serve with app.Units units, with no
// downtime: the old release keeps serving until the new one is healthy, and
// keeps serving if the new one fails.
//
// commit, when not nil, runs after a successful switch under the same
// per-app lock: what records the new state (the store's active snapshot)
// cannot interleave with a removal of what it records. Its error is the
// call's.
func (d *Deployer) Deploy(ctx context.Context, app paas.App, commit func() error) error {
	return d.withApp(ctx, app.Target(), func(ctx context.Context) error {
		if err := d.deployLocked(ctx, app); err != nil {
			return err
		}
		if commit != nil {
			return commit()
		}
		return nil
	})
}

// Exclusive runs fn under app's lock: no deploy, stop, adoption or
// snapshot removal of the app runs meanwhile.
func (d *Deployer) Exclusive(ctx context.Context, appKey string, fn func() error) error {
	return d.withApp(ctx, appKey, func(context.Context) error { return fn() })
}

// withApp runs fn under app's lock (one deploy, stop or adoption at a time
// per app), with a context that Close cancels and waits for.
func (d *Deployer) withApp(ctx context.Context, appKey string, fn func(ctx context.Context) error) error {
	ctx, done, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	l := d.appLock(appKey)
	l.Lock()
	defer l.Unlock()
	return fn(ctx)
}

func (d *Deployer) deployLocked(ctx context.Context, app paas.App) error {
	if app.Snapshot == "" {
		return paas.BadRequest("Cannot start application with no snapshots")
	}
	snap, err := d.store.Snapshot(app.Owner, app.Name, app.Snapshot)
	if err != nil {
		return err
	}
	fail := func(rel, format string, args ...any) {
		d.emit(app.Target(), paas.DeployEvent{Snapshot: snap.ID, Release: rel, Step: paas.StepFailed, Message: fmt.Sprintf(format, args...)})
	}
	code, err := d.prepared(ctx, app, snap)
	if err != nil {
		err = d.cancelled(ctx, err)
		fail("", "%v", err)
		return err
	}
	rel := &release{ID: newReleaseID(), Snapshot: snap.ID, code: code, cmd: snap.Cmd}
	n := max(app.Units, 1)
	d.platformLog(app, "starting release %s of snapshot %s with %d unit(s)", rel.ID, snap.ID, n)
	for i := range n {
		u, err := d.rt.Start(ctx, d.unitSpec(app, rel, i))
		if err != nil {
			d.stopUnits(context.WithoutCancel(ctx), rel.Units)
			if ctx.Err() != nil {
				fail(rel.ID, "cancelled")
				return d.cancelled(ctx, err)
			}
			fail(rel.ID, "unit %d did not start: %v", i, err)
			return fmt.Errorf("start %s unit %d: %w", app.Target(), i, err)
		}
		rel.Units = append(rel.Units, u)
		d.watchLogs(app.Target(), u)
		if err := d.joinServices(ctx, app, u.ID); err != nil {
			d.stopUnits(context.WithoutCancel(ctx), rel.Units)
			fail(rel.ID, "unit %d cannot reach its databases: %v", i, err)
			return fmt.Errorf("start %s unit %d: %w", app.Target(), i, err)
		}
	}
	d.emit(app.Target(), paas.DeployEvent{Snapshot: snap.ID, Release: rel.ID, Step: paas.StepStarted})
	if err := d.waitHealthy(ctx, rel); err != nil {
		d.stopUnits(context.WithoutCancel(ctx), rel.Units)
		if ctx.Err() != nil {
			// Not the app's fault: the caller went away or the platform is stopping.
			fail(rel.ID, "cancelled before it became healthy")
			return d.cancelled(ctx, err)
		}
		fail(rel.ID, "%v; the previous release keeps serving", err)
		return &paas.Error{Status: http.StatusBadRequest, Code: "deploy_failed", Err: paas.ErrBadRequest,
			Message: fmt.Sprintf("snapshot %s did not become healthy: %v (see the app's logs)", snap.ID, err)}
	}
	d.emit(app.Target(), paas.DeployEvent{Snapshot: snap.ID, Release: rel.ID, Step: paas.StepHealthy})
	d.mu.Lock()
	old := d.releases[app.Target()]
	d.releases[app.Target()] = rel
	d.mu.Unlock()
	d.publish()
	d.emit(app.Target(), paas.DeployEvent{Snapshot: snap.ID, Release: rel.ID, Step: paas.StepSwitched})
	if old != nil {
		// Off the answer path: the caller learns the new release serves
		// while the old one finishes its requests. Close waits for it to
		// finish (a drain is bounded by its grace), so no old unit outlives
		// a shutdown.
		if !d.goOwned(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), drainGrace+5*time.Second)
			defer cancel()
			d.stopUnits(ctx, old.Units)
			d.emit(app.Target(), paas.DeployEvent{Snapshot: old.Snapshot, Release: old.ID, Step: paas.StepDrained})
		}) {
			d.stopUnits(context.WithoutCancel(ctx), old.Units)
		}
	}
	return nil
}

// unitSpec is unit i of rel of app.
func (d *Deployer) unitSpec(app paas.App, rel *release, i int) runtime.UnitSpec {
	return runtime.UnitSpec{App: app.Target(), Snapshot: rel.Snapshot, Release: rel.ID, Index: i,
		Image: d.cfg.BaseImage, Code: rel.code.Code, Deps: rel.code.Deps, Cmd: rel.cmd,
		Env: app.Env, Port: appPort, Limits: unitLimits(app), Pool: app.Pool, Networks: app.ServiceNetworks}
}

// cancelled reports a deploy cut short by its context: ErrClosed when the
// deployer is closing, the context's error when the caller went away, err
// itself when the context is fine (a real failure).
func (d *Deployer) cancelled(ctx context.Context, err error) error {
	switch {
	case d.ctx.Err() != nil:
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("deploy cancelled: %w", ctx.Err())
	}
	return err
}

// unitLimits are the app's own limits; zero fields take the runtime's defaults.
func unitLimits(a paas.App) runtime.Limits {
	return runtime.Limits{MemoryBytes: int64(a.MemoryMB) << 20, NanoCPUs: int64(a.CPUs * 1e9)}
}

func newReleaseID() string { return "r" + strconv.FormatInt(time.Now().UnixNano(), 36) }

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
	// A refused connection costs microseconds, and every millisecond after
	// the app listens is a millisecond of deploy: poll often for the first
	// seconds, then back off so a slow app costs no busy loop. Whether a
	// unit exited (an engine listing) is asked less often.
	start := time.Now()
	var lastExitCheck time.Time
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
		if time.Since(lastExitCheck) >= exitCheckEvery {
			lastExitCheck = time.Now()
			units, err := d.rt.Units(ctx)
			if err == nil {
				for _, u := range units {
					if _, ok := pending[u.ID]; ok && !u.Running {
						return fmt.Errorf("unit %d exited with code %d", u.Index, u.ExitCode)
					}
				}
			}
		}
		wait := 5 * time.Millisecond
		if time.Since(start) > 3*time.Second {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("no HTTP answer on port %d within %s", appPort, d.cfg.HealthTimeout)
			}
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// exitCheckEvery is how often a health check asks the engine whether a
// unit it waits for has exited.
const exitCheckEvery = 200 * time.Millisecond

// Freeze stops the units of target once commit, run under target's lock
// (so no deploy or wake interleaves), has recorded why: scaling an idle
// deployment to zero. commit's error is the call's, and stops nothing.
func (d *Deployer) Freeze(ctx context.Context, target string, commit func() error) error {
	return d.withApp(ctx, target, func(ctx context.Context) error {
		if err := commit(); err != nil {
			return err
		}
		return d.stopLocked(ctx, target)
	})
}

// Stop stops every unit of an app.
func (d *Deployer) Stop(ctx context.Context, appKey string) error {
	return d.withApp(ctx, appKey, func(ctx context.Context) error { return d.stopLocked(ctx, appKey) })
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

// Remove stops a deleted app's units, cancels its preparations and removes
// everything prepared for it.
func (d *Deployer) Remove(ctx context.Context, appKey string) error {
	// The units of the app's now deployments first, each under its own key.
	d.mu.Lock()
	var targets []string
	for k := range d.releases {
		if strings.HasPrefix(k, appKey+"~") {
			targets = append(targets, k)
		}
	}
	d.mu.Unlock()
	for _, t := range targets {
		if err := d.Stop(ctx, t); err != nil {
			return fmt.Errorf("remove %s: %w", appKey, err)
		}
	}
	return d.withApp(ctx, appKey, func(ctx context.Context) error {
		if err := d.stopLocked(ctx, appKey); err != nil {
			return err
		}
		d.mu.Lock()
		var preps []*preparation
		for k, p := range d.preps {
			if strings.HasPrefix(k, appKey+"@") {
				preps = append(preps, p)
				delete(d.preps, k)
			}
		}
		d.mu.Unlock()
		for _, p := range preps {
			p.cancel()
			<-p.done
		}
		if err := d.collectCode(ctx, appKey); err != nil {
			return fmt.Errorf("remove %s: %w", appKey, err)
		}
		// Images of earlier versions, which built one per snapshot.
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
	})
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

func ownerName(appKey string) (string, string) {
	owner, name, _ := strings.Cut(appKey, "/")
	return owner, name
}
