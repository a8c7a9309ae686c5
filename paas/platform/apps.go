package platform

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/selfhost/paas/paas"
)

// asOwner runs fn on owner's objects once pr may act for owner.
func asOwner[T any](ctx context.Context, p *Platform, pr *paas.Principal, owner string, fn func(owner string) (T, error)) (T, error) {
	return guarded(ctx, pr, owner, p.actFor, fn)
}

// guarded runs fn on the (normalized) owner name once check allows pr.
func guarded[T any](ctx context.Context, pr *paas.Principal, name string,
	check func(context.Context, *paas.Principal, string) error, fn func(name string) (T, error)) (T, error) {
	name = paas.NormalizeUserName(name)
	if err := check(ctx, pr, name); err != nil {
		var zero T
		return zero, err
	}
	return fn(name)
}

// Apps lists owner's apps in name order.
func (p *Platform) Apps(ctx context.Context, pr *paas.Principal, owner string) ([]paas.App, error) {
	return asOwner(ctx, p, pr, owner, p.store.Apps)
}

// App returns one of owner's apps.
func (p *Platform) App(ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) { return p.store.App(owner, name) })
}

// VisibleApps are the apps pr may act on, by name: its own and its
// teams' (every app, for an admin).
func (p *Platform) VisibleApps(ctx context.Context, pr *paas.Principal) ([]paas.App, error) {
	all, err := visible(ctx, p, pr, p.store.AllApps, p.store.Apps)
	slices.SortFunc(all, func(a, b paas.App) int { return strings.Compare(a.Name, b.Name) })
	return all, err
}

// visible gathers what pr may act on: everything (all) for an admin,
// else what byOwner gives for pr and for each of its teams.
func visible[T any](ctx context.Context, p *Platform, pr *paas.Principal, all func() ([]T, error), byOwner func(string) ([]T, error)) ([]T, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pr.IsAdmin() {
		return all()
	}
	teams, err := p.store.TeamsOf(pr.User.Name)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, o := range append([]string{pr.User.Name}, teamNames(teams)...) {
		items, err := byOwner(o)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

func teamNames(ts []paas.Team) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// AppNamed returns the app called name (app names are platform-wide, as
// Tsuru addresses them) when pr may act for its owner.
func (p *Platform) AppNamed(ctx context.Context, pr *paas.Principal, name string) (paas.App, error) {
	a, err := p.store.AppByName(name)
	if err != nil {
		return paas.App{}, err
	}
	if err := p.actFor(ctx, pr, a.Owner); err != nil {
		return paas.App{}, err
	}
	return a, nil
}

// Release returns what serves owner's app now (ok false: nothing).
func (p *Platform) Release(ctx context.Context, pr *paas.Principal, owner, name string) (rel paas.Release, ok bool, err error) {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return paas.Release{}, false, err
	}
	rel, ok = p.deployer.Release(a.Key())
	return rel, ok, nil
}

// DeployEvents subscribes to the deploy steps of owner's app from now on;
// the caller must call stop when done. A consumer that falls behind misses
// steps; the app's logs have them all.
func (p *Platform) DeployEvents(ctx context.Context, pr *paas.Principal, owner, name string) (events <-chan paas.DeployEvent, stop func(), err error) {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return nil, nil, err
	}
	events, stop = p.deployer.Subscribe(a.Key())
	return events, stop, nil
}

// CreateApp creates an app for owner. App names are unique platform-wide
// (Tsuru addresses apps by bare name), subdomains too (default: derived
// from the name).
func (p *Platform) CreateApp(ctx context.Context, pr *paas.Principal, owner string, spec paas.AppSpec) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		if spec.Name == "" {
			return paas.App{}, paas.BadRequest("package.json must have a name")
		}
		if err := paas.ValidateAppName(spec.Name); err != nil {
			return paas.App{}, err
		}
		a := paas.App{Owner: owner, Name: spec.Name, State: paas.AppStopped, Units: paas.DefaultUnits,
			MaxUnits: paas.MaxUnitsPerApp, Env: map[string]string{}, Subdomain: paas.DefaultSubdomain(spec.Name)}
		if spec.Pool != nil {
			if err := p.checkPool(owner, *spec.Pool); err != nil {
				return paas.App{}, err
			}
		}
		if err := spec.Patch(&a); err != nil {
			return paas.App{}, err
		}
		if q := p.cfg.AppQuota; q > 0 {
			// Checked before the write; two creates racing at the limit
			// may both pass, which a quota of apps can bear.
			apps, err := p.store.Apps(owner)
			if err != nil {
				return paas.App{}, err
			}
			if len(apps) >= q {
				return paas.App{}, paas.Forbidden("quota exceeded: %s has %d of %d apps; remove one first", owner, len(apps), q)
			}
		}
		a, err := p.store.CreateApp(a)
		if err == nil {
			p.appsDidChange()
		}
		return a, err
	})
}

// UpdateApp applies spec to owner's app. Env and other changes take effect
// at the next start, restart or activation.
func (p *Platform) UpdateApp(ctx context.Context, pr *paas.Principal, owner, name string, spec paas.AppSpec) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		if spec.Name != "" && spec.Name != name {
			return paas.App{}, paas.BadRequest("an app cannot be renamed (body name %q, app %q)", spec.Name, name)
		}
		a, err := p.store.UpdateApp(owner, name, spec.Patch)
		if err == nil {
			p.appsDidChange()
		}
		return a, err
	})
}

// AppAvailable reports whether owner can create an app called name with
// subdomain sub ("": the default).
func (p *Platform) AppAvailable(ctx context.Context, pr *paas.Principal, owner, name, sub string) (bool, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (bool, error) {
		if err := paas.ValidateAppName(name); err != nil {
			return false, err
		}
		if sub == "" {
			sub = paas.DefaultSubdomain(name)
		}
		if err := paas.ValidateSubdomain(sub); err != nil {
			return false, err
		}
		if _, err := p.store.AppByName(name); err == nil {
			return false, nil
		} else if !paas.IsNotFound(err) {
			return false, err
		}
		taken, err := p.store.SubdomainTaken(sub, owner, name)
		return !taken, err
	})
}

// DeleteApp removes owner's app with its containers, images and routes.
func (p *Platform) DeleteApp(ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		a, err := p.store.DeleteApp(owner, name)
		if err != nil {
			return a, err
		}
		p.appsDidChange()
		p.removeUnits(ctx, a)
		return a, nil
	})
}

// removeUnits removes a deleted app's containers and images. The store no
// longer knows the app, so a failure only leaves leftovers that
// reconciliation at the next start removes.
func (p *Platform) removeUnits(ctx context.Context, a paas.App) {
	if err := p.deployer.Remove(ctx, a.Key()); err != nil {
		p.log.Error("remove containers of deleted app", "app", a.Key(), "err", err)
	}
}

// StartApp deploys the active snapshot (the newest, when none is active).
// An app already serving its active snapshot is left as it is: jitsu deploy
// activates (which deploys) and then starts.
func (p *Platform) StartApp(ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error) {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return a, err
	}
	if a.State == paas.AppStarted && a.Snapshot != "" && p.deployer.Serving(a.Key(), a.Snapshot, a.Units) {
		return a, nil
	}
	return p.deploy(ctx, a)
}

// RestartApp replaces a running app's units with fresh ones (no downtime),
// or starts a stopped app.
func (p *Platform) RestartApp(ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error) {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return a, err
	}
	return p.deploy(ctx, a)
}

// deploy makes a serve its active snapshot (the newest, when none is
// active) and records it as started.
func (p *Platform) deploy(ctx context.Context, a paas.App) (paas.App, error) {
	owner, name := a.Owner, a.Name
	if a.Snapshot == "" {
		snaps, err := p.store.Snapshots(owner, name)
		if err != nil {
			return a, err
		}
		if len(snaps) == 0 {
			return a, paas.BadRequest("Cannot start application with no snapshots")
		}
		a.Snapshot = snaps[len(snaps)-1].ID
	}
	// The deployer announces the new units; routes follow the state from
	// them, and no name changed, so no TopicApps here.
	var out paas.App
	err := p.deployer.Deploy(ctx, a, func() error {
		var err error
		out, err = p.store.UpdateApp(owner, name, func(s *paas.App) error {
			// Its own units take its hostname back from a deployment.
			s.State, s.StateMessage, s.Snapshot, s.ServedBy = paas.AppStarted, "", a.Snapshot, ""
			return nil
		})
		return err
	})
	if err != nil {
		return a, err
	}
	return out, nil
}

// StopApp stops every unit of owner's app.
func (p *Platform) StopApp(ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		a, err := p.store.UpdateApp(owner, name, func(a *paas.App) error {
			a.State, a.StateMessage, a.ServedBy = paas.AppStopped, "", ""
			return nil
		})
		if err != nil {
			return a, err
		}
		p.appsDidChange() // an alias of its hostname may have gone
		// Stopping announces the routes change (TopicRoutes).
		if err := p.deployer.Stop(ctx, a.Key()); err != nil {
			return a, fmt.Errorf("stop %s: %w", a.Key(), err)
		}
		return a, nil
	})
}

// ScaleApp changes how many units owner's app runs, redeploying a started app.
func (p *Platform) ScaleApp(ctx context.Context, pr *paas.Principal, owner, name string, n int) (paas.App, error) {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return a, err
	}
	if err := paas.ValidateUnits(n, a.MaxUnits); err != nil {
		return a, err
	}
	return p.redeploy(ctx, a, func(a *paas.App) { a.Units = n }, nil)
}

// redeploy applies change to a: a started app is deployed with the change
// first, and only a deploy that succeeded is recorded, so a failed one
// leaves the app as it was, still serving. All of it holds the app's
// deploy lock, with check (when not nil) first: a precondition no
// concurrent call can break before the change is recorded.
func (p *Platform) redeploy(ctx context.Context, a paas.App, change func(*paas.App), check func() error) (paas.App, error) {
	var out paas.App
	record := func() error {
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		var err error
		out, err = p.store.UpdateApp(a.Owner, a.Name, func(s *paas.App) error {
			change(s)
			return nil
		})
		return err
	}
	var err error
	if a.State == paas.AppStarted {
		next := a
		change(&next)
		err = p.deployer.Deploy(ctx, next, record)
	} else {
		err = p.deployer.Exclusive(ctx, a.Key(), record)
	}
	if err != nil {
		return a, err
	}
	return out, nil
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

// Bounds of a command run in units.
const maxCommandBytes = 4096

// RunCommand runs command in the running units of owner's app (the first
// only, with once), as the unit's user, within its limits; out(unit)
// receives each unit's output as it comes.
func (p *Platform) RunCommand(ctx context.Context, pr *paas.Principal, owner, name, command string, once bool, out func(unit string) io.Writer) error {
	a, err := p.App(ctx, pr, owner, name)
	if err != nil {
		return err
	}
	if len(command) > maxCommandBytes {
		return paas.BadRequest("command is longer than %d bytes", maxCommandBytes)
	}
	argv := paas.CommandLine(command)
	if len(argv) == 0 {
		return paas.BadRequest("no command to run")
	}
	return p.deployer.Run(ctx, a.Key(), argv, once, out)
}

// SwapApps exchanges the addresses of two apps the caller may act on
// (Tsuru's swap): the ingress and the DNS follow the one change together.
func (p *Platform) SwapApps(ctx context.Context, pr *paas.Principal, name1, name2 string) error {
	a, err := p.AppNamed(ctx, pr, name1)
	if err != nil {
		return err
	}
	b, err := p.AppNamed(ctx, pr, name2)
	if err != nil {
		return err
	}
	if _, _, err := p.store.SwapSubdomains(a.Owner, a.Name, b.Owner, b.Name); err != nil {
		return err
	}
	p.appsDidChange()
	return nil
}

// Quota is owner's app quota: the limit (-1 for none) and how many apps
// it has.
func (p *Platform) Quota(ctx context.Context, pr *paas.Principal, owner string) (limit, inUse int, err error) {
	_, err = asOwner(ctx, p, pr, owner, func(owner string) (struct{}, error) {
		apps, err := p.store.Apps(owner)
		inUse = len(apps)
		return struct{}{}, err
	})
	limit = p.cfg.AppQuota
	if limit == 0 {
		limit = -1
	}
	return limit, inUse, err
}

// AppListing is an app as a list shows it: no env, what serves it, and
// how many snapshots (deploys) it has.
type AppListing struct {
	App       paas.App
	Release   paas.Release
	Serving   bool
	Snapshots int
}

// VisibleAppListing is VisibleApps for lists: one store read for every
// app the caller may see, none of their env unsealed, and their releases
// from the deployer's memory, so a list's cost does not grow with what
// each app holds.
func (p *Platform) VisibleAppListing(ctx context.Context, pr *paas.Principal) ([]AppListing, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var owners []string
	if !pr.IsAdmin() {
		teams, err := p.store.TeamsOf(pr.User.Name)
		if err != nil {
			return nil, err
		}
		owners = append([]string{pr.User.Name}, teamNames(teams)...)
	}
	sums, err := p.store.AppSummaries(owners)
	if err != nil {
		return nil, err
	}
	out := make([]AppListing, 0, len(sums))
	for _, s := range sums {
		rel, ok := p.deployer.Release(s.App.Key())
		out = append(out, AppListing{App: s.App, Release: rel, Serving: ok, Snapshots: s.Snapshots})
	}
	slices.SortFunc(out, func(a, b AppListing) int { return strings.Compare(a.App.Name, b.App.Name) })
	return out, nil
}
