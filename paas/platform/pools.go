package platform

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/selfhost/paas/paas"
)

// DefaultPool is the public pool every app may run in.
const DefaultPool = "default"

// ParsePools reads the pools setting: "gpu=crew+ml,edge=ops" gives pool
// gpu to teams crew and ml, pool edge to team ops.
func ParsePools(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, teams, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || name == DefaultPool || strings.TrimSpace(teams) == "" {
			return nil, fmt.Errorf("pool %q: use name=team+team (and not %q, the public pool)", part, DefaultPool)
		}
		for _, t := range strings.Split(teams, "+") {
			if t = paas.NormalizeUserName(t); t != "" {
				out[name] = append(out[name], t)
			}
		}
	}
	return out, nil
}

// Pools are the team pools pr may use, with the teams of pr's that may;
// every caller has the default public pool too.
func (p *Platform) Pools(ctx context.Context, pr *paas.Principal) (map[string][]string, error) {
	teams, err := p.Teams(ctx, pr)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, t := range teams {
		if t.Role(pr.User.Name) != "" || pr.IsAdmin() {
			mine[t.Name] = true
		}
	}
	byTeam := map[string][]string{}
	for pool, allowed := range p.cfg.Pools {
		for _, t := range allowed {
			if mine[t] {
				byTeam[t] = append(byTeam[t], pool)
			}
		}
	}
	for _, pools := range byTeam {
		sort.Strings(pools)
	}
	return byTeam, nil
}

// checkPool: owner may run apps in pool.
func (p *Platform) checkPool(owner, pool string) error {
	if pool == "" || pool == DefaultPool {
		return nil
	}
	allowed, ok := p.cfg.Pools[pool]
	if !ok {
		names := []string{DefaultPool}
		for n := range p.cfg.Pools {
			names = append(names, n)
		}
		sort.Strings(names)
		return paas.BadRequest("unknown pool %q (pools: %s)", pool, strings.Join(names, ", "))
	}
	if !slices.Contains(allowed, owner) {
		return paas.Forbidden("pool %q is for teams %s; %q is not one of them", pool, strings.Join(allowed, ", "), owner)
	}
	return nil
}

// SetPool moves owner's app to pool.
func (p *Platform) SetPool(ctx context.Context, pr *paas.Principal, owner, name, pool string) (paas.App, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.App, error) {
		if err := p.checkPool(owner, pool); err != nil {
			return paas.App{}, err
		}
		return p.store.UpdateApp(owner, name, paas.AppSpec{Pool: &pool}.Patch)
	})
}
