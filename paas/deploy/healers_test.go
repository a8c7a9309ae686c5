package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/deploy"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// TestHealers: the units healer restarts crashed units and, run on
// demand, finds a serving unit that stopped without an exit event and
// restarts it; the reconcile healer records each run; an unknown healer
// is 404.
func TestHealers(t *testing.T) {
	fake := runtime.NewFake()
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx := context.Background()
	startApp(t, tp, "web")
	rel, _ := tp.Deployer.Release("admin/web")
	first := rel.Units[0].ID

	// An exit the deployer sees: restarted, and recorded by the healer.
	if err := fake.Kill(first, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the crashed unit's restart", func() bool {
		rel, _ := tp.Deployer.Release("admin/web")
		return len(rel.Units) == 1 && rel.Units[0].ID != first && rel.Units[0].Running
	})
	hs := tp.Deployer.Healers()
	if hs[0].Name != deploy.HealerUnits || hs[0].Runs != 1 || !strings.Contains(hs[0].LastResult, "admin/web") {
		t.Errorf("units healer after a crash: %+v", hs[0])
	}

	// A unit removed behind the deployer's back (its exit never seen):
	// only the sweep finds it.
	rel, _ = tp.Deployer.Release("admin/web")
	second := rel.Units[0].ID
	if err := fake.Stop(ctx, second, time.Second); err != nil {
		t.Fatal(err)
	}
	h, err := tp.Deployer.Heal(ctx, deploy.HealerUnits)
	if err != nil || !strings.Contains(h.LastResult, "1 stopped unit") {
		t.Fatalf("sweep: %+v, %v", h, err)
	}
	eventually(t, "the swept unit's restart", func() bool {
		rel, _ := tp.Deployer.Release("admin/web")
		return len(rel.Units) == 1 && rel.Units[0].ID != second && rel.Units[0].Running
	})

	before := tp.Deployer.Healers()[1].Runs // the reconcile at start
	if h, err := tp.Deployer.Heal(ctx, deploy.HealerReconcile); err != nil || h.Runs != before+1 || h.LastRun.IsZero() {
		t.Errorf("reconcile on demand: %+v, %v", h, err)
	}
	if _, err := tp.Deployer.Heal(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "no healer") {
		t.Errorf("unknown healer: %v", err)
	}
}
