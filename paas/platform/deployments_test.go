package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func waitState(t *testing.T, tp *paastest.Platform, uid, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d, err := tp.Store.Deployment(uid)
		if err != nil {
			t.Fatal(err)
		}
		if d.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s is %s, want %s", uid, d.State, want)
		}
	}
}

// TestReconcileDeployments: after a restart cut boots short, a BOOTING
// deployment whose unit serves is READY, and one with none boots again.
func TestReconcileDeployments(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{Domain: "paas.example"})
	ctx := context.Background()
	alice := tp.NewUser(t, "alice")
	pa := tp.Principal(t, alice)
	mk := func(name string) paas.Deployment {
		files := paastest.AppFiles(t, name)
		d, err := tp.CreateDeployment(ctx, pa, "alice", files, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, tp, d.UID, paas.DeploymentReady)
		return d
	}
	serving, stopped := mk("one"), mk("two")
	if err := tp.Deployer.Stop(ctx, stopped.Target()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []paas.Deployment{serving, stopped} {
		if _, err := tp.Store.SetDeploymentState(d.UID, paas.DeploymentBooting, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.ReconcileDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := tp.Store.Deployment(serving.UID); d.State != paas.DeploymentReady {
		t.Errorf("the serving one: %s", d.State)
	}
	waitState(t, tp, stopped.UID, paas.DeploymentReady)
	if !tp.Deployer.Serving(stopped.Target(), stopped.UID, 1) {
		t.Error("the stopped one was not booted again")
	}
}
