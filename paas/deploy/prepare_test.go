package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

func upload(t *testing.T, tp *paastest.Platform, app, id string, files map[string]string) {
	t.Helper()
	if _, err := tp.UploadSnapshot(context.Background(), tp.AdminPrincipal(t), "admin", app, id, bytes.NewReader(paastest.TarGz(t, files))); err != nil {
		t.Fatal(err)
	}
}

func hasCodeOf(t *testing.T, fake *runtime.Fake, app, snapshot string) bool {
	t.Helper()
	codes, err := fake.Codes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if c.App == app && c.Snapshot == snapshot {
			return true
		}
	}
	return false
}

// TestPreparedAtUpload: an upload starts preparing the snapshot in the
// background, and the activation that follows waits for it and uses it,
// preparing nothing twice.
func TestPreparedAtUpload(t *testing.T) {
	fake := runtime.NewFake()
	gate := make(chan struct{})
	fake.PrepareGate = gate
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	upload(t, tp, "web", "v1", map[string]string{"package.json": `{"name":"web"}`, "server.js": "//"})
	// The upload answered while its preparation, begun by the upload
	// alone, waits at the gate.
	eventually(t, "the upload's preparation", func() bool { return fake.PrepareCalls() == 1 })
	started := make(chan error, 1)
	go func() {
		_, err := tp.StartApp(ctx, pr, "admin", "web")
		started <- err
	}()
	select {
	case err := <-started:
		t.Fatalf("the start did not wait for the preparation: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if fake.Prepares != 1 {
		t.Errorf("prepared %d times, want once", fake.Prepares)
	}
	if len(units(t, fake, "admin/web")) != 1 {
		t.Error("no unit runs the prepared snapshot")
	}
}

// TestDeletedSnapshotCancelsItsPreparation: deleting a snapshot being
// prepared cancels the preparation and leaves nothing of it.
func TestDeletedSnapshotCancelsItsPreparation(t *testing.T) {
	fake := runtime.NewFake()
	fake.PrepareGate = make(chan struct{}) // never opens
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	upload(t, tp, "web", "v1", map[string]string{"package.json": `{"name":"web"}`, "server.js": "//"})
	done := make(chan error, 1)
	go func() { done <- tp.DeleteSnapshot(ctx, pr, "admin", "web", "v1") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deleting the snapshot waited for its preparation")
	}
	if hasCodeOf(t, fake, "admin/web", "v1") {
		t.Error("the deleted snapshot's code is left")
	}
}

// TestDependenciesInstalledOncePerKey: snapshots whose package.json and
// lockfile are the same share one install; a changed lockfile or a changed
// file: dependency installs again; bundled node_modules installs nothing.
func TestDependenciesInstalledOncePerKey(t *testing.T) {
	fake := runtime.NewFake()
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	pkg := `{"name":"web","dependencies":{"lib":"file:./vendor/lib","left-pad":"1.3.0"}}`
	files := func(server, lock, lib string) map[string]string {
		return map[string]string{"package.json": pkg, "server.js": server, "package-lock.json": lock, "vendor/lib/index.js": lib}
	}
	steps := []struct {
		id       string
		files    map[string]string
		installs int
	}{
		{"v1", files("1", "lock1", "lib1"), 1},
		{"v2", files("2", "lock1", "lib1"), 1}, // only the app's code changed
		{"v3", files("3", "lock2", "lib1"), 2}, // a new lockfile
		{"v4", files("4", "lock2", "lib2"), 3}, // a local dependency changed
		{"v5", map[string]string{"package.json": pkg, "server.js": "5", "node_modules/lib/index.js": "x", "node_modules/left-pad/index.js": "x"}, 3},
	}
	for _, s := range steps {
		upload(t, tp, "web", s.id, s.files)
		if _, err := tp.ActivateSnapshot(ctx, pr, "admin", "web", s.id); err != nil {
			t.Fatal(err)
		}
		if _, err := tp.StartApp(ctx, pr, "admin", "web"); err != nil {
			t.Fatal(err)
		}
		if fake.Installs != s.installs {
			t.Errorf("after %s: %d installs, want %d", s.id, fake.Installs, s.installs)
		}
	}
	// Only v5 is active: deleting the others leaves only the deps of no snapshot to collect.
	for _, id := range []string{"v1", "v2", "v3"} {
		if err := tp.DeleteSnapshot(ctx, pr, "admin", "web", id); err != nil {
			t.Fatal(err)
		}
	}
	codes, _ := fake.Codes(ctx)
	deps := 0
	for _, c := range codes {
		if c.Kind == runtime.KindDeps {
			deps++
		}
	}
	if deps != 1 {
		t.Errorf("%d deps volumes left, want 1 (v4's)", deps)
	}
}

// TestDeployStepsAreEmitted: a deploy's steps reach subscribers in order,
// and a failed one says why; all are in the app's logs too.
func TestDeployStepsAreEmitted(t *testing.T) {
	fake := runtime.NewFake()
	fake.PrepareError = func(spec runtime.CodeSpec) error {
		if spec.Snapshot == "broken" {
			return errors.New("npm install failed")
		}
		return nil
	}
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	startApp(t, tp, "web")
	events, stop, err := tp.DeployEvents(ctx, pr, "admin", "web")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	upload(t, tp, "web", "v2", map[string]string{"package.json": `{"name":"web"}`, "server.js": "//"})
	if _, err := tp.ActivateSnapshot(ctx, pr, "admin", "web", "v2"); err != nil {
		t.Fatal(err)
	}
	var got []paas.DeployStep
	for len(got) < 5 {
		select {
		case ev := <-events:
			if ev.App != "admin/web" {
				t.Errorf("event of %s", ev.App)
			}
			got = append(got, ev.Step)
		case <-time.After(5 * time.Second):
			t.Fatalf("steps so far: %v", got)
		}
	}
	want := []paas.DeployStep{paas.StepPrepared, paas.StepStarted, paas.StepHealthy, paas.StepSwitched, paas.StepDrained}
	if strings.Join(steps(got), " ") != strings.Join(steps(want), " ") {
		t.Errorf("steps %v, want %v", got, want)
	}

	upload(t, tp, "web", "broken", map[string]string{"package.json": `{"name":"web"}`, "server.js": "//"})
	if _, err := tp.ActivateSnapshot(ctx, pr, "admin", "web", "broken"); err == nil {
		t.Fatal("a failed preparation deployed")
	}
	select {
	case ev := <-events:
		if ev.Step != paas.StepFailed || !strings.Contains(ev.Message, "npm install failed") {
			t.Errorf("failure step: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no failed step")
	}
	logs, err := tp.AppLogs(ctx, pr, "admin", "web", time.Unix(0, 0), time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var deploySteps int
	for _, l := range logs {
		if l.Source == "deploy" {
			deploySteps++
		}
	}
	if deploySteps < 10 { // the first start's steps, v2's and the failure
		t.Errorf("%d deploy steps in the logs", deploySteps)
	}
}

func steps(s []paas.DeployStep) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

// TestActivateDeleteRace: deleting a snapshot while a deploy to it is in
// flight waits for the deploy, and is then refused (it is active); the app
// never runs a snapshot that does not exist.
func TestActivateDeleteRace(t *testing.T) {
	fake := runtime.NewFake()
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	startApp(t, tp, "web")
	gate := make(chan struct{})
	fake.PrepareGate = gate
	upload(t, tp, "web", "r2", map[string]string{"package.json": `{"name":"web"}`, "server.js": "//"})
	activated := make(chan error, 1)
	go func() {
		_, err := tp.ActivateSnapshot(ctx, pr, "admin", "web", "r2")
		activated <- err
	}()
	// The activation holds the app's lock while it waits for r2's code.
	eventually(t, "the activation waiting for r2's preparation", func() bool {
		return tp.Deployer.PreparationWaiters("admin/web", "r2") > 0
	})
	deleted := make(chan error, 1)
	go func() { deleted <- tp.DeleteSnapshot(ctx, pr, "admin", "web", "r2") }()
	select {
	case err := <-deleted:
		t.Fatalf("the deletion did not wait for the deploy in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	if err := <-activated; err != nil {
		t.Fatal(err)
	}
	err := <-deleted
	if !errors.Is(err, paas.ErrConflict) {
		t.Fatalf("deleting the snapshot just activated: %v, want 409", err)
	}
	a, err := tp.App(ctx, pr, "admin", "web")
	if err != nil || a.Snapshot != "r2" {
		t.Fatalf("active snapshot %q (%v), want r2", a.Snapshot, err)
	}
	if _, err := tp.Snapshot(ctx, pr, "admin", "web", "r2"); err != nil {
		t.Fatalf("the active snapshot is gone: %v", err)
	}
	if _, err := tp.RestartApp(ctx, pr, "admin", "web"); err != nil {
		t.Fatalf("restart: %v", err)
	}
}
