package platform

import (
	"context"
	"maps"
	"slices"

	"github.com/selfhost/paas/paas"
)

// SetEnv adds or replaces variables of owner's app (private: shown masked
// from then on) and, unless noRestart, restarts a started app so they
// apply; a stopped app gets them at its next start.
func (p *Platform) SetEnv(ctx context.Context, pr *paas.Principal, owner, name string, vars map[string]string, private, noRestart bool) (paas.App, error) {
	return p.changeEnv(ctx, pr, owner, name, noRestart, func(a *paas.App) error {
		next := maps.Clone(a.Env)
		if next == nil {
			next = map[string]string{}
		}
		maps.Copy(next, vars)
		if err := paas.ValidateEnv(next); err != nil {
			return err
		}
		a.Env = next
		for k := range vars {
			i := slices.Index(a.PrivateEnv, k)
			switch {
			case private && i < 0:
				a.PrivateEnv = append(a.PrivateEnv, k)
			case !private && i >= 0:
				a.PrivateEnv = slices.Delete(a.PrivateEnv, i, i+1)
			}
		}
		slices.Sort(a.PrivateEnv)
		return nil
	})
}

// UnsetEnv removes variables of owner's app, restarting it unless noRestart.
func (p *Platform) UnsetEnv(ctx context.Context, pr *paas.Principal, owner, name string, names []string, noRestart bool) (paas.App, error) {
	return p.changeEnv(ctx, pr, owner, name, noRestart, func(a *paas.App) error {
		next := maps.Clone(a.Env)
		for _, k := range names {
			delete(next, k)
		}
		a.Env = next
		a.PrivateEnv = slices.DeleteFunc(a.PrivateEnv, func(k string) bool { return slices.Contains(names, k) })
		return nil
	})
}

func (p *Platform) changeEnv(ctx context.Context, pr *paas.Principal, owner, name string, noRestart bool, change func(*paas.App) error) (paas.App, error) {
	a, err := asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		return p.store.UpdateApp(owner, name, change)
	})
	if err != nil {
		return a, err
	}
	p.appsDidChange()
	if noRestart || a.State != paas.AppStarted {
		return a, nil
	}
	return p.RestartApp(ctx, pr, a.Owner, a.Name)
}
