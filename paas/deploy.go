package paas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	onRoutes func(map[string][]string)
}

type release struct {
	ID       string
	Snapshot string
	Units    []runtime.Unit
}

// Port every app listens on inside its unit.
const appPort = 8080

// drainGrace is how long a replaced unit gets to finish its requests after SIGTERM.
const drainGrace = 10 * time.Second

func newDeployer(store *Store, rt runtime.Runtime, cfg Config, log *slog.Logger) *Deployer {
	return &Deployer{store: store, rt: rt, cfg: cfg, log: log,
		locks: map[string]*sync.Mutex{}, releases: map[string]*release{}, crashes: map[string][]time.Time{},
		watchers: map[string]context.CancelFunc{}, ctx: context.Background()}
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
	rel := &release{ID: newReleaseID(), Snapshot: snap.ID}
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

func ownerName(appKey string) (string, string) {
	owner, name, _ := strings.Cut(appKey, "/")
	return owner, name
}
