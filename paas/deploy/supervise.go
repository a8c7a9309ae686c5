package deploy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// Crash-loop policy: more than crashLoopMax exits within crashLoopWindow
// marks the app errored instead of restarting it forever.
const (
	crashLoopMax    = 5
	crashLoopWindow = 2 * time.Minute
)

// Start reconciles the engine with the store, then supervises units until
// Close: a unit that exits is restarted with backoff, and an app that
// crash-loops is marked errored. It returns once reconciliation is done,
// so a caller that starts the API after it never races an adoption.
func (d *Deployer) Start() error {
	d.mu.Lock()
	if d.started || d.closed {
		d.mu.Unlock()
		return fmt.Errorf("deployer: Start called twice or after Close")
	}
	d.started = true
	d.mu.Unlock()
	ctx := d.ctx
	// Subscribe before reconciling, so an exit during reconciliation is seen.
	events, err := d.rt.Events(ctx)
	if err != nil {
		return fmt.Errorf("watch runtime events: %w", err)
	}
	if err := d.Reconcile(ctx); err != nil {
		d.log.Error("reconcile", "err", err)
	}
	d.goOwned(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				d.goOwned(func() { d.handleExit(ctx, ev) })
			}
		}
	})
	return nil
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
	deps, err := d.store.AllDeployments()
	if err != nil {
		return err
	}
	byKey := make(map[string]paas.App, len(apps))
	for _, a := range apps {
		byKey[a.Key()] = a
	}
	for _, dep := range deps {
		if a, ok := byKey[dep.Owner+"/"+dep.App]; ok {
			apps = append(apps, dep.AppView(a))
		}
	}
	wanted := map[string]bool{}
	for _, app := range apps {
		// An app whose hostname serves a deployment runs no units of its own.
		if app.State != paas.AppStarted || app.Snapshot == "" || app.ServedBy != "" {
			continue
		}
		wanted[app.Target()] = true
		d.reconcileApp(ctx, app, byApp[app.Target()])
	}
	for appKey, us := range byApp {
		if !wanted[appKey] {
			d.log.Info("removing units the store does not know", "app", appKey, "units", len(us))
			d.stopUnits(ctx, us)
		}
	}
	d.collectAtStart(ctx)
	d.publish()
	d.noteHeal(HealerReconcile, fmt.Sprintf("%d started app(s) checked, %d unwanted app(s) removed", len(wanted), len(byApp)-countWanted(byApp, wanted)))
	return nil
}

func countWanted(byApp map[string][]runtime.Unit, wanted map[string]bool) int {
	n := 0
	for k := range byApp {
		if wanted[k] {
			n++
		}
	}
	return n
}

// reconcileApp adopts or redeploys one started app, under its lock so no
// request can deploy or stop it meanwhile.
func (d *Deployer) reconcileApp(ctx context.Context, app paas.App, units []runtime.Unit) {
	l := d.appLock(app.Target())
	l.Lock()
	defer l.Unlock()
	// The API may already serve (a caller that did not reconcile first):
	// act on the app as it is now.
	app, err := d.targetApp(app.Target())
	if err != nil || app.State != paas.AppStarted || app.Snapshot == "" || app.ServedBy != "" {
		return
	}
	// Adopt the newest release of the active snapshot that has running units.
	releases := map[string][]runtime.Unit{}
	for _, u := range units {
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
		// What a restart of an adopted unit runs: the snapshot's prepared
		// code, which Prepare finds complete at once.
		if snap, err := d.store.Snapshot(app.Owner, app.Name, app.Snapshot); err == nil {
			rel.cmd = snap.Cmd
			if code, err := d.prepared(ctx, app, snap); err == nil {
				rel.code = code
			} else {
				d.log.Warn("adopted release: its code", "app", app.Target(), "err", err)
			}
		}
		sort.Slice(rel.Units, func(i, j int) bool { return rel.Units[i].Index < rel.Units[j].Index })
		d.mu.Lock()
		d.releases[app.Target()] = rel
		d.mu.Unlock()
		var since time.Time // zero: from each unit's start
		if last, err := d.store.LastLogTime(app.Target()); err == nil && !last.IsZero() {
			since = last.Add(time.Nanosecond)
		}
		for _, u := range rel.Units {
			d.watchLogsSince(app.Target(), u, since)
		}
		for _, u := range units {
			if u.Release != best {
				stale = append(stale, u)
			}
		}
		d.stopUnits(ctx, stale)
		d.platformLog(app, "adopted running release %s after restart", best)
		return
	}
	d.stopUnits(ctx, units)
	d.platformLog(app, "no running units found at start; deploying snapshot %s", app.Snapshot)
	if err := d.deployLocked(ctx, app); err != nil {
		d.log.Error("reconcile deploy", "app", app.Target(), "err", err)
		d.markErrored(app.Target(), fmt.Sprintf("redeploy at start failed: %v", err))
	}
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

	app, err := d.targetApp(ev.App)
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
	d.noteHeal(HealerUnits, fmt.Sprintf("restarting unit %d of %s (%s)", dead.Index, ev.App, reason))
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
	u, err := d.rt.Start(ctx, d.unitSpec(app, rel, dead.Index))
	if err != nil {
		d.platformLog(app, "restart of unit %d failed: %v", dead.Index, err)
		return
	}
	d.watchLogs(ev.App, u)
	if err := d.joinServices(ctx, app, u.ID); err != nil {
		d.platformLog(app, "restarted unit %d cannot reach its databases: %v", dead.Index, err)
	}
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

// targetApp is the app whose units run under the deployer's key target:
// an app, or the view of a now deployment.
func (d *Deployer) targetApp(target string) (paas.App, error) {
	if uid := paas.DeploymentOfTarget(target); uid != "" {
		dep, err := d.store.Deployment(uid)
		if err != nil {
			return paas.App{}, err
		}
		a, err := d.store.App(dep.Owner, dep.App)
		if err != nil {
			return a, err
		}
		return dep.AppView(a), nil
	}
	return d.store.App(ownerName(target))
}

func (d *Deployer) markErrored(appKey, msg string) {
	if uid := paas.DeploymentOfTarget(appKey); uid != "" {
		if _, err := d.store.SetDeploymentState(uid, paas.DeploymentError, msg); err != nil {
			d.log.Warn("mark errored", "deployment", uid, "err", err)
		}
		return
	}
	owner, name := ownerName(appKey)
	_, err := d.store.UpdateApp(owner, name, func(a *paas.App) error {
		a.State, a.StateMessage = paas.AppErrored, msg
		return nil
	})
	if err != nil {
		d.log.Warn("mark errored", "app", appKey, "err", err)
	}
}

// incompleteCollector is implemented by runtimes that can find what an
// interrupted preparation left (runtime.Docker).
type incompleteCollector interface {
	CollectIncomplete(ctx context.Context) error
}

// collectAtStart removes what nothing references, before any preparation
// of this process runs: what interrupted preparations left, prepared
// volumes of snapshots and apps the store no longer has, and the
// per-snapshot images earlier versions built (deploys no longer use
// images of their own).
func (d *Deployer) collectAtStart(ctx context.Context) {
	if c, ok := d.rt.(incompleteCollector); ok {
		if err := c.CollectIncomplete(ctx); err != nil {
			d.log.Warn("remove incomplete preparations", "err", err)
		}
	}
	if err := d.collectCode(ctx, ""); err != nil {
		d.log.Warn("remove unreferenced code volumes", "err", err)
	}
	if images, err := d.rt.Images(ctx); err == nil {
		for _, im := range images {
			if err := d.rt.RemoveImage(ctx, im.Ref); err != nil {
				d.log.Warn("remove platform image", "image", im.Ref, "err", err)
			}
		}
	}
}
