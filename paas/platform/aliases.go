package platform

import (
	"context"
	"errors"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// aliasReadyWait bounds how long SetAlias waits for a booting deployment.
const aliasReadyWait = 2 * time.Minute

// ErrAliasUnchanged: the alias already points at the deployment.
var ErrAliasUnchanged = store.ErrAliasUnchanged

// SetAlias points alias (a label, a .now.sh name, or a name of one of
// owner's verified domains) at owner's deployment uid and returns it, with
// the deployment it pointed at before ("" for a new alias). The switch
// happens once the deployment is READY: a booting one is waited for, a
// failed one refused, so the alias never serves a deployment that does not
// answer.
func (p *Platform) SetAlias(ctx context.Context, pr *paas.Principal, owner, uid, alias string) (paas.Alias, string, error) {
	var old string
	a, err := asOwner(ctx, p, pr, owner, func(owner string) (paas.Alias, error) {
		host, err := paas.NormalizeAlias(alias, p.cfg.Domain)
		if err != nil {
			return paas.Alias{}, err
		}
		d, err := p.ready(ctx, owner, uid)
		if err != nil {
			return paas.Alias{}, err
		}
		a, o, err := p.store.SetAlias(host, p.cfg.Domain, d)
		if err != nil {
			return a, err
		}
		old = o
		p.appsDidChange()
		if a.AppHost {
			// The app's own units, if any, no longer serve its hostname.
			// Off the answer path, after the routes moved to the deployment.
			p.deployer.Background(func(ctx context.Context) {
				select { // the route refresh runs on its own goroutine
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				if cur, err := p.store.App(owner, a.App); err == nil && cur.ServedBy != "" {
					_ = p.deployer.Stop(ctx, cur.Key())
				}
			})
		}
		return a, nil
	})
	return a, old, err
}

// ready waits until owner's deployment uid is READY (or FROZEN: it starts
// on its first request).
func (p *Platform) ready(ctx context.Context, owner, uid string) (paas.Deployment, error) {
	ctx, cancel := context.WithTimeout(ctx, aliasReadyWait)
	defer cancel()
	for {
		d, err := p.ownDeployment(owner, uid)
		if err != nil {
			return d, err
		}
		switch d.State {
		case paas.DeploymentReady, paas.DeploymentFrozen:
			return d, nil
		case paas.DeploymentError:
			return d, paas.BadRequest("deployment %s failed (%s): an alias only points at a deployment that serves", uid, d.Message)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return d, paas.Conflict("deployment %s is still %s; alias it once it is READY", uid, d.State)
			}
			return d, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Aliases lists owner's aliases.
func (p *Platform) Aliases(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Alias, error) {
	return asOwner(ctx, p, pr, owner, p.store.Aliases)
}

// DeploymentAliases lists the aliases of owner's deployment uid.
func (p *Platform) DeploymentAliases(ctx context.Context, pr *paas.Principal, owner, uid string) ([]paas.Alias, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) ([]paas.Alias, error) {
		if _, err := p.ownDeployment(owner, uid); err != nil {
			return nil, err
		}
		all, err := p.store.Aliases(owner)
		var out []paas.Alias
		for _, a := range all {
			if a.Deployment == uid {
				out = append(out, a)
			}
		}
		return out, err
	})
}

// DeleteAlias removes owner's alias uid.
func (p *Platform) DeleteAlias(ctx context.Context, pr *paas.Principal, owner, uid string) (paas.Alias, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Alias, error) {
		a, err := p.store.DeleteAlias(owner, uid)
		if err == nil {
			p.appsDidChange()
		}
		return a, err
	})
}
