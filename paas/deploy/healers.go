package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// The deployer's self-healing jobs, as Tsuru's healers list them.
const (
	HealerUnits     = "units"
	HealerReconcile = "reconcile"
)

var healerAbout = map[string]string{
	HealerUnits:     "restarts crashed units with backoff (on every unit exit; run on demand it sweeps the engine for serving units that stopped unseen)",
	HealerReconcile: "reconciles the engine with the store: adopts running units, redeploys started apps without units, removes units nobody wants",
}

type healState struct {
	last   time.Time
	runs   int
	result string
}

// noteHeal records a run of a healer.
func (d *Deployer) noteHeal(name, result string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.heals == nil {
		d.heals = map[string]*healState{}
	}
	h := d.heals[name]
	if h == nil {
		h = &healState{}
		d.heals[name] = h
	}
	h.last, h.result = time.Now().UTC(), result
	h.runs++
}

// Healers lists the self-healing jobs with their last run.
func (d *Deployer) Healers() []paas.Healer {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []paas.Healer
	for _, name := range []string{HealerUnits, HealerReconcile} {
		h := paas.Healer{Name: name, About: healerAbout[name]}
		if s := d.heals[name]; s != nil {
			h.LastRun, h.Runs, h.LastResult = s.last, s.runs, s.result
		}
		out = append(out, h)
	}
	return out
}

// Heal runs a healer now and returns it with this run recorded.
func (d *Deployer) Heal(ctx context.Context, name string) (paas.Healer, error) {
	switch name {
	case HealerReconcile:
		if err := d.Reconcile(ctx); err != nil {
			return paas.Healer{}, fmt.Errorf("reconcile: %w", err)
		}
	case HealerUnits:
		n, err := d.sweepUnits(ctx)
		if err != nil {
			return paas.Healer{}, err
		}
		d.noteHeal(HealerUnits, fmt.Sprintf("sweep: %d stopped unit(s) found and being restarted", n))
	default:
		return paas.Healer{}, paas.NotFound("no healer %q (healers: %s, %s)", name, HealerUnits, HealerReconcile)
	}
	for _, h := range d.Healers() {
		if h.Name == name {
			return h, nil
		}
	}
	return paas.Healer{}, nil
}

// sweepUnits finds serving units the engine no longer runs (an exit whose
// event was missed) and restarts each as if its exit had been seen.
func (d *Deployer) sweepUnits(ctx context.Context) (int, error) {
	units, err := d.rt.Units(ctx)
	if err != nil {
		return 0, err
	}
	running := map[string]bool{}
	for _, u := range units {
		running[u.ID] = u.Running
	}
	var dead []runtime.Event
	d.mu.Lock()
	for appKey, rel := range d.releases {
		for _, u := range rel.Units {
			if u.Running && !running[u.ID] {
				dead = append(dead, runtime.Event{UnitID: u.ID, App: appKey, ExitCode: -1, Time: time.Now()})
			}
		}
	}
	d.mu.Unlock()
	for _, ev := range dead {
		d.goOwned(func() { d.handleExit(d.ctx, ev) })
	}
	return len(dead), nil
}
