package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// Preparing a snapshot's code (runtime.Prepare: a volume filled once, and
// its dependencies installed once per package.json and lockfile) is the
// slow part of a first deploy, so it starts as soon as the snapshot is
// uploaded, in the background; activation finds it ready, or waits for it.

// preparation is one snapshot's preparation, shared by whoever needs it.
type preparation struct {
	done   chan struct{} // closed when code or err is set
	code   runtime.Prepared
	err    error
	cancel context.CancelFunc
	// waiters counts deploys waiting for it (each under its app's lock).
	waiters atomic.Int32
}

func prepKey(appKey, snapshot string) string { return appKey + "@" + snapshot }

// Prepare starts preparing snap of app in the background (owned by the
// deployer, cancelled by Close or by RemoveSnapshot), unless it is being or
// has been prepared. It never blocks.
func (d *Deployer) Prepare(app paas.App, snap paas.Snapshot) {
	d.preparation(app, snap)
}

// preparation returns the preparation of snap, starting it if needed.
func (d *Deployer) preparation(app paas.App, snap paas.Snapshot) *preparation {
	k := prepKey(app.Key(), snap.ID)
	d.mu.Lock()
	defer d.mu.Unlock()
	// The map holds preparations in flight and successful ones: a failed
	// one is dropped when it ends, so the next call tries again.
	if p := d.preps[k]; p != nil {
		return p
	}
	if d.closed {
		p := &preparation{done: make(chan struct{}), cancel: func() {}, err: ErrClosed}
		close(p.done)
		return p
	}
	ctx, cancel := context.WithCancel(d.ctx)
	p := &preparation{done: make(chan struct{}), cancel: cancel}
	d.preps[k] = p
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		defer cancel()
		code, err := d.prepare(ctx, app, snap)
		d.mu.Lock()
		p.code, p.err = code, err
		if err != nil && d.preps[k] == p {
			// A failure is reported once, to the deploy that waited for it;
			// the next activation tries again.
			delete(d.preps, k)
		}
		d.mu.Unlock()
		close(p.done)
	}()
	return p
}

func isDone(p *preparation) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// prepared waits for snap's code to be ready, preparing it if nobody has.
func (d *Deployer) prepared(ctx context.Context, app paas.App, snap paas.Snapshot) (runtime.Prepared, error) {
	p := d.preparation(app, snap)
	p.waiters.Add(1)
	select {
	case <-p.done:
		p.waiters.Add(-1)
	case <-ctx.Done():
		p.waiters.Add(-1)
		return runtime.Prepared{}, ctx.Err()
	}
	if p.err != nil {
		return runtime.Prepared{}, p.err
	}
	return p.code, nil
}

// prepare runs one preparation, with its output in the app's logs.
func (d *Deployer) prepare(ctx context.Context, app paas.App, snap paas.Snapshot) (runtime.Prepared, error) {
	files, err := d.store.SnapshotFS(snap)
	if err != nil {
		return runtime.Prepared{}, err
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
		if ctx.Err() != nil {
			return runtime.Prepared{}, ctx.Err()
		}
		return runtime.Prepared{}, &paas.Error{Status: http.StatusServiceUnavailable, Code: "base_image_unavailable", Err: err,
			Message: fmt.Sprintf("base image %s is not available: %v", d.cfg.BaseImage, err)}
	}
	spec := runtime.CodeSpec{App: app.Key(), Snapshot: snap.ID, BaseImage: d.cfg.BaseImage, Files: files, Install: snap.Install}
	if snap.Install {
		spec.DepsKey = depsKey(d.cfg.BaseImage, snap)
		spec.Env = installEnv(app.Env)
	}
	code, err := d.rt.Prepare(ctx, spec, w)
	if err != nil {
		if ctx.Err() != nil {
			return runtime.Prepared{}, ctx.Err()
		}
		return runtime.Prepared{}, &paas.Error{Status: http.StatusBadRequest, Code: "build_failed", Err: paas.ErrBadRequest,
			Message: fmt.Sprintf("preparing snapshot %s failed: %v (see the app's logs)", snap.ID, err)}
	}
	d.emit(app.Key(), paas.DeployEvent{Snapshot: snap.ID, Step: paas.StepPrepared})
	return code, nil
}

// RemoveSnapshot runs remove (which deletes the snapshot's record, or
// refuses) under the app's lock, so no deploy targets the snapshot
// meanwhile; then it cancels the snapshot's preparation and removes what it
// prepared, with dependencies no remaining snapshot of the app uses.
func (d *Deployer) RemoveSnapshot(ctx context.Context, appKey, snapshot string, remove func() error) error {
	return d.withApp(ctx, appKey, func(ctx context.Context) error {
		if err := remove(); err != nil {
			return err
		}
		d.mu.Lock()
		p := d.preps[prepKey(appKey, snapshot)]
		delete(d.preps, prepKey(appKey, snapshot))
		d.mu.Unlock()
		if p != nil {
			p.cancel()
			select {
			case <-p.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return d.collectCode(ctx, appKey)
	})
}

// collectCode removes the prepared volumes of appKey that no stored
// snapshot references ("" : of every app, and of apps the store does not
// know). A volume still in use by a unit is left for a later collection.
func (d *Deployer) collectCode(ctx context.Context, appKey string) error {
	codes, err := d.rt.Codes(ctx)
	if err != nil {
		return err
	}
	wantCode, wantDeps, err := d.wantedCode(appKey)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range codes {
		if appKey != "" && c.App != appKey {
			continue
		}
		wanted := wantCode[prepKey(c.App, c.Snapshot)]
		if c.Kind == runtime.KindDeps {
			wanted = wantDeps[c.App+"#"+c.DepsKey]
		}
		if wanted || d.preparing(c.App) {
			continue
		}
		if err := d.rt.RemoveCode(ctx, c.Ref); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// preparing reports whether a preparation of appKey is in flight: its
// volumes exist before any snapshot record says they are wanted.
func (d *Deployer) preparing(appKey string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, p := range d.preps {
		if strings.HasPrefix(k, appKey+"@") && !isDone(p) {
			return true
		}
	}
	return false
}

// wantedCode is what the store's snapshots reference: code by
// app@snapshot, dependencies by app#key.
func (d *Deployer) wantedCode(appKey string) (code, deps map[string]bool, err error) {
	code, deps = map[string]bool{}, map[string]bool{}
	apps, err := d.store.AllApps()
	if err != nil {
		return nil, nil, err
	}
	for _, a := range apps {
		if appKey != "" && a.Key() != appKey {
			continue
		}
		snaps, err := d.store.Snapshots(a.Owner, a.Name)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range snaps {
			code[prepKey(a.Key(), s.ID)] = true
			if s.Install {
				deps[a.Key()+"#"+depsKey(d.cfg.BaseImage, s)] = true
			}
		}
	}
	return code, deps, nil
}

// depsKey is what decides an install's result: the base image, the
// package manifests and npm settings, and the files of every local (file:)
// dependency. Two snapshots of an app with the same key share one install.
func depsKey(base string, snap paas.Snapshot) string {
	pkg, _ := paas.ParsePackageJSON(snap.Package)
	var local []string
	for _, spec := range pkg.Dependencies {
		if p, ok := strings.CutPrefix(spec, "file:"); ok {
			local = append(local, path.Clean(strings.TrimPrefix(p, "./")))
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "base %s\n", base)
	files := append([]paas.File(nil), snap.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		keep := false
		switch f.Path {
		case "package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc":
			keep = true
		}
		for _, l := range local {
			if f.Path == l || strings.HasPrefix(f.Path, l+"/") {
				keep = true
			}
		}
		if keep {
			fmt.Fprintf(h, "%s %s\n", f.Path, f.SHA1)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// installEnv is the part of an app's env the install step sees: npm's own
// settings (NPM_CONFIG_REGISTRY, tokens for a private registry).
func installEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(strings.ToUpper(k), "NPM_CONFIG_") {
			out[k] = v
		}
	}
	return out
}
