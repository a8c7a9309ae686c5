package paas

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// CreateApp creates an app from a package.json body. pathName, when not
// empty, is the name from the URL; the body's name must agree with it.
func (p *Platform) CreateApp(owner, pathName string, raw []byte) (App, error) {
	pkg, fields, err := parsePackageBody(raw)
	if err != nil {
		return App{}, err
	}
	name := pkg.Name
	if pathName != "" {
		if name != "" && name != pathName {
			return App{}, BadRequest("package.json name %q does not match the app name %q in the URL", name, pathName)
		}
		name = pathName
	}
	if name == "" {
		return App{}, BadRequest("package.json must have a name")
	}
	if err := ValidateAppName(name); err != nil {
		return App{}, err
	}
	a := App{Owner: owner, Name: name, State: AppStopped, Drones: DefaultDrones, MaxDrones: MaxDrones, Env: map[string]string{}}
	a.Subdomain = pkg.Subdomain
	if a.Subdomain == "" {
		a.Subdomain = DefaultSubdomain(name)
	}
	if err := applyPackage(&a, pkg, fields); err != nil {
		return App{}, err
	}
	a, err = p.Store.CreateApp(a)
	if err == nil {
		p.appsDidChange()
	}
	return a, err
}

func parsePackageBody(raw []byte) (PackageJSON, map[string]json.RawMessage, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return PackageJSON{}, nil, BadRequest("body must be a JSON object (package.json): %s", jsonErrorText(err))
	}
	pkg, err := ParsePackageJSON(raw)
	return pkg, fields, err
}

// applyPackage copies package.json fields onto an app: env replaces the
// app's env, subdomain and drones are checked, everything else is kept as
// the app's package.json.
func applyPackage(a *App, pkg PackageJSON, fields map[string]json.RawMessage) error {
	if _, ok := fields["env"]; ok {
		if err := ValidateEnv(pkg.Env); err != nil {
			return err
		}
		a.Env = pkg.Env
		if a.Env == nil {
			a.Env = map[string]string{}
		}
	}
	if pkg.Subdomain != "" {
		if err := ValidateSubdomain(pkg.Subdomain); err != nil {
			return err
		}
		a.Subdomain = pkg.Subdomain
	}
	if err := ValidateSubdomain(a.Subdomain); err != nil {
		return err
	}
	if pkg.MaxDrones != nil {
		if *pkg.MaxDrones < 1 || *pkg.MaxDrones > MaxDrones {
			return BadRequest("maxDrones must be between 1 and %d", MaxDrones)
		}
		a.MaxDrones = *pkg.MaxDrones
	}
	if pkg.Drones != nil {
		if *pkg.Drones < 1 || *pkg.Drones > a.MaxDrones {
			return BadRequest("drones must be between 1 and %d", a.MaxDrones)
		}
		a.Drones = *pkg.Drones
	}
	if pkg.Memory != nil {
		if *pkg.Memory < MinMemoryMB || *pkg.Memory > MaxMemoryMB {
			return BadRequest("memory must be between %d and %d MiB", MinMemoryMB, MaxMemoryMB)
		}
		a.MemoryMB = *pkg.Memory
	}
	if pkg.CPUs != nil {
		if *pkg.CPUs < MinCPUs || *pkg.CPUs > MaxCPUs {
			return BadRequest("cpus must be between %g and %g", MinCPUs, MaxCPUs)
		}
		a.CPUs = *pkg.CPUs
	}
	merged := map[string]json.RawMessage{}
	if len(a.Package) > 0 {
		_ = json.Unmarshal(a.Package, &merged)
	}
	for k, v := range fields {
		switch k {
		case "env", "drones", "maxDrones", "memory", "cpus", "state", "snapshot", "snapshots", "running", "config", "_id", "owner", "user":
			// platform-managed, not package.json
		default:
			merged[k] = v
		}
	}
	var err error
	a.Package, err = json.Marshal(merged)
	return err
}

// UpdateApp applies a (partial) package.json to an app. Env and other changes
// take effect at the next start, restart or activation.
func (p *Platform) UpdateApp(owner, name string, raw []byte) (App, error) {
	pkg, fields, err := parsePackageBody(raw)
	if err != nil {
		return App{}, err
	}
	if pkg.Name != "" && pkg.Name != name {
		return App{}, BadRequest("an app cannot be renamed (body name %q, app %q)", pkg.Name, name)
	}
	a, err := p.Store.UpdateApp(owner, name, func(a *App) error {
		return applyPackage(a, pkg, fields)
	})
	if err == nil {
		p.appsDidChange()
	}
	return a, err
}

// AppAvailable reports whether owner can create an app called name with subdomain sub.
func (p *Platform) AppAvailable(owner, name, sub string) (bool, error) {
	if err := ValidateAppName(name); err != nil {
		return false, err
	}
	if sub == "" {
		sub = DefaultSubdomain(name)
	}
	if err := ValidateSubdomain(sub); err != nil {
		return false, err
	}
	if _, err := p.Store.App(owner, name); err == nil {
		return false, nil
	} else if !IsNotFound(err) {
		return false, err
	}
	taken, err := p.Store.SubdomainTaken(sub, owner, name)
	return !taken, err
}

// DeleteApp removes an app, its containers, images and routes.
func (p *Platform) DeleteApp(ctx context.Context, owner, name string) (App, error) {
	a, err := p.Store.DeleteApp(owner, name)
	if err != nil {
		return a, err
	}
	p.appsDidChange()
	if err := p.Deployer.Remove(ctx, a.Key()); err != nil {
		// The store no longer knows the app; reconciliation at the next start removes leftovers.
		p.log.Error("remove containers of deleted app", "app", a.Key(), "err", err)
	}
	return a, nil
}

// StartApp deploys the active snapshot (the newest, when none is active).
// An app already serving its active snapshot is left as it is: jitsu deploy
// activates (which deploys) and then starts.
func (p *Platform) StartApp(ctx context.Context, owner, name string) (App, error) {
	a, err := p.Store.App(owner, name)
	if err != nil {
		return a, err
	}
	if a.State == AppStarted && a.Snapshot != "" && p.Deployer.Serving(a.Key(), a.Snapshot, a.Drones) {
		return a, nil
	}
	return p.deploy(ctx, a)
}

// RestartApp replaces a running app's units with fresh ones (no downtime),
// or starts a stopped app.
func (p *Platform) RestartApp(ctx context.Context, owner, name string) (App, error) {
	a, err := p.Store.App(owner, name)
	if err != nil {
		return a, err
	}
	return p.deploy(ctx, a)
}

// deploy makes a serve its active snapshot (the newest, when none is
// active) and records it as started.
func (p *Platform) deploy(ctx context.Context, a App) (App, error) {
	owner, name := a.Owner, a.Name
	if a.Snapshot == "" {
		snaps, err := p.Store.Snapshots(owner, name)
		if err != nil {
			return a, err
		}
		if len(snaps) == 0 {
			return a, BadRequest("Cannot start application with no snapshots")
		}
		a.Snapshot = snaps[len(snaps)-1].ID
	}
	if err := p.Deployer.Deploy(ctx, a); err != nil {
		return a, err
	}
	return p.Store.UpdateApp(owner, name, func(s *App) error {
		s.State, s.StateMessage, s.Snapshot = AppStarted, "", a.Snapshot
		return nil
	})
}

// StopApp stops every unit of an app.
func (p *Platform) StopApp(ctx context.Context, owner, name string) (App, error) {
	a, err := p.Store.UpdateApp(owner, name, func(a *App) error {
		a.State, a.StateMessage = AppStopped, ""
		return nil
	})
	if err != nil {
		return a, err
	}
	if err := p.Deployer.Stop(ctx, a.Key()); err != nil {
		return a, fmt.Errorf("stop %s: %w", a.Key(), err)
	}
	return a, nil
}

// SetDrones changes how many units an app runs, redeploying a started app.
func (p *Platform) SetDrones(ctx context.Context, owner, name string, n int) (App, error) {
	a, err := p.Store.App(owner, name)
	if err != nil {
		return a, err
	}
	if n < 1 || n > a.MaxDrones {
		return a, BadRequest("drones must be between 1 and %d", a.MaxDrones)
	}
	if a.State == AppStarted {
		a.Drones = n
		if err := p.Deployer.Deploy(ctx, a); err != nil {
			return a, err
		}
	}
	return p.Store.UpdateApp(owner, name, func(s *App) error {
		s.Drones = n
		return nil
	})
}

// countingReader counts bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// UploadSnapshot stores a new snapshot from a .tgz archive. Nothing is
// stored unless the archive is valid and complete.
func (p *Platform) UploadSnapshot(owner, app, id string, body io.Reader) (Snapshot, error) {
	if err := ValidateSnapshotID(id); err != nil {
		return Snapshot{}, err
	}
	if _, err := p.Store.App(owner, app); err != nil {
		return Snapshot{}, err
	}
	if _, err := p.Store.Snapshot(owner, app, id); err == nil {
		return Snapshot{}, Conflict("snapshot %q already exists", id)
	}
	cr := &countingReader{r: body}
	files, err := ReadArchive(cr, p.cfg.Archive)
	if err != nil {
		return Snapshot{}, err
	}
	sn, err := SnapshotFromFiles(files)
	if err != nil {
		return Snapshot{}, err
	}
	sn.Owner, sn.App, sn.ID, sn.Size = owner, app, id, cr.n
	sn.Filename = app + "-" + id + ".tgz"
	return p.Store.CreateSnapshot(sn, files)
}

// SnapshotFromFiles checks an app's files and derives how to build and start
// them: package.json with a name, and a way to start.
func SnapshotFromFiles(files []ArchiveFile) (Snapshot, error) {
	index := map[string]*ArchiveFile{}
	hasModules := false
	for i := range files {
		index[files[i].Path] = &files[i]
		if strings.HasPrefix(files[i].Path, "node_modules/") {
			hasModules = true
		}
	}
	pkgFile := index["package.json"]
	if pkgFile == nil {
		return Snapshot{}, BadRequest("the archive has no package.json at its root")
	}
	pkg, err := ParsePackageJSON(pkgFile.Data)
	if err != nil {
		return Snapshot{}, err
	}
	if pkg.Name == "" {
		return Snapshot{}, BadRequest("package.json has no name")
	}
	cmd, err := StartCommand(pkg, func(p string) bool { return index[p] != nil })
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Package: json.RawMessage(pkgFile.Data), Cmd: cmd, Install: len(pkg.Dependencies) > 0 && !hasModules}, nil
}

// ActivateSnapshot makes a snapshot the active one. A started app is
// redeployed on it first; if that fails, the previous snapshot stays active
// and keeps serving.
func (p *Platform) ActivateSnapshot(ctx context.Context, owner, app, id string) (App, error) {
	a, err := p.Store.App(owner, app)
	if err != nil {
		return a, err
	}
	if _, err := p.Store.Snapshot(owner, app, id); err != nil {
		return a, err
	}
	if a.State == AppStarted {
		next := a
		next.Snapshot = id
		if err := p.Deployer.Deploy(ctx, next); err != nil {
			return a, err
		}
	}
	return p.Store.UpdateApp(owner, app, func(s *App) error {
		s.Snapshot = id
		return nil
	})
}

// AppLogs returns an app's log lines between from and until, newest rows.
func (p *Platform) AppLogs(appKey string, from, until time.Time, rows int) ([]LogEntry, error) {
	return p.Store.Logs(appKey, from, until, rows)
}
