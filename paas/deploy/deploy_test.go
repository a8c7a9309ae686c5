package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/deploy"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// startApp creates admin/<name> with one snapshot and starts it.
func startApp(t *testing.T, tp *paastest.Platform, name string) paas.App {
	t.Helper()
	createApp(t, tp, name)
	a, err := tp.StartApp(context.Background(), tp.AdminPrincipal(t), "admin", name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// createApp creates admin/<name> with one snapshot, v1, and does not start it.
func createApp(t *testing.T, tp *paastest.Platform, name string) {
	t.Helper()
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: name}); err != nil {
		t.Fatal(err)
	}
	archive := paastest.TarGz(t, map[string]string{"package.json": `{"name":"` + name + `","scripts":{"start":"node server.js"}}`, "server.js": "//"})
	if _, err := tp.UploadSnapshot(ctx, pr, "admin", name, "v1", bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
}

func units(t *testing.T, fake *runtime.Fake, app string) []runtime.Unit {
	t.Helper()
	all, err := fake.Units(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Unit
	for _, u := range all {
		if u.App == app {
			out = append(out, u)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCrashedUnitIsRestarted(t *testing.T) {
	tp := paastest.NewPlatform(t)
	startApp(t, tp, "web")
	first := units(t, tp.Fake, "admin/web")[0]
	if err := tp.Fake.Kill(first.ID, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a replacement unit", func() bool {
		us := units(t, tp.Fake, "admin/web")
		return len(us) == 1 && us[0].ID != first.ID && us[0].Running
	})
	eventually(t, "the replacement to serve", func() bool {
		b := tp.Deployer.Backends("admin/web")
		if len(b) != 1 {
			return false
		}
		resp, err := http.Get("http://" + b[0] + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.HasPrefix(string(body), "admin/web v1")
	})
}

func TestCrashLoopMarksAppErrored(t *testing.T) {
	tp := paastest.NewPlatform(t)
	startApp(t, tp, "loop")
	for i := 0; ; i++ {
		var current runtime.Unit
		eventually(t, "a running unit to kill", func() bool {
			a, err := tp.Store.App("admin", "loop")
			if err == nil && a.State == paas.AppErrored {
				return true
			}
			us := units(t, tp.Fake, "admin/loop")
			if len(us) == 1 && us[0].Running {
				current = us[0]
				return true
			}
			return false
		})
		if a, _ := tp.Store.App("admin", "loop"); a.State == paas.AppErrored {
			if !strings.Contains(a.StateMessage, "crash loop") {
				t.Errorf("state message %q does not name the crash loop", a.StateMessage)
			}
			if i != 6 {
				t.Errorf("errored after %d crashes, want 6 (more than 5 in the window)", i)
			}
			break
		}
		if i > 10 {
			t.Fatal("still restarting after 10 crashes")
		}
		if err := tp.Fake.Kill(current.ID, 1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the errored app's units to be gone", func() bool { return len(units(t, tp.Fake, "admin/loop")) == 0 })
}

// TestReconcileAtStart: a restarted platform adopts the running units of
// started apps, redeploys started apps whose units are gone, and removes
// platform units the store does not know, before Start returns.
func TestReconcileAtStart(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	dir := t.TempDir()
	first := paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake})
	startApp(t, first, "kept")
	startApp(t, first, "lost")
	kept := units(t, fake, "admin/kept")
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// While the platform is down: "lost" loses its units, a stranger appears.
	ctx := context.Background()
	for _, u := range units(t, fake, "admin/lost") {
		if err := fake.Stop(ctx, u.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	ghost, err := fake.Prepare(ctx, runtime.CodeSpec{App: "ghost/app", Snapshot: "s", Install: true, DepsKey: "k"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Start(ctx, runtime.UnitSpec{App: "ghost/app", Snapshot: "s", Release: "r", Image: "base", Code: ghost.Code}); err != nil {
		t.Fatal(err)
	}
	// What earlier versions left: an image per snapshot, and a failed
	// build's step image that belongs to no app.
	fake.AddImage(runtime.Image{Ref: "paas/admin-kept:v1", App: "admin/kept", Snapshot: "v1"})
	fake.AddImage(runtime.Image{Ref: "sha256:step"})

	// NewPlatform returns after the deployer's Start, which reconciles first.
	second := paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake})
	if n := len(units(t, fake, "ghost/app")); n != 0 {
		t.Errorf("the stranger's unit was not removed (%d left)", n)
	}
	if n := len(second.Deployer.Backends("admin/lost")); n != 1 {
		t.Errorf("the lost app was not redeployed: %d backends", n)
	}
	if n := len(second.Deployer.Backends("admin/kept")); n != 1 {
		t.Errorf("the kept app was not adopted: %d backends", n)
	}
	if images, _ := fake.Images(ctx); len(images) != 0 {
		t.Errorf("images of earlier versions were not removed: %v", images)
	}
	codes, _ := fake.Codes(ctx)
	for _, c := range codes {
		if c.App == "ghost/app" {
			t.Errorf("the stranger's prepared %s %s was not removed", c.Kind, c.Ref)
		}
	}
	if len(codes) != 2 {
		t.Errorf("want the code of kept and lost, have %v", codes)
	}
	if now := units(t, fake, "admin/kept"); len(now) != 1 || now[0].ID != kept[0].ID {
		t.Errorf("kept app's units were replaced: before %v, after %v", kept, now)
	}
}

// TestReconcileWaitsForStart: an unstarted deployer touches nothing; its
// Start reconciles, and a second Start is refused.
func TestReconcileWaitsForStart(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	dir := t.TempDir()
	first := paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake})
	startApp(t, first, "web")
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, u := range units(t, fake, "admin/web") {
		if err := fake.Stop(context.Background(), u.ID, 0); err != nil {
			t.Fatal(err)
		}
	}

	second := paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake, NoStart: true})
	if n := len(units(t, fake, "admin/web")); n != 0 || second.Deployer.Backends("admin/web") != nil {
		t.Fatalf("an unstarted deployer deployed: %d units", n)
	}
	if err := second.Deployer.Start(); err != nil {
		t.Fatal(err)
	}
	if n := len(second.Deployer.Backends("admin/web")); n != 1 {
		t.Fatalf("Start did not redeploy the started app: %d backends", n)
	}
	if err := second.Deployer.Start(); err == nil {
		t.Error("a second Start was accepted")
	}
}

// TestStartIsIdempotentRestartIsNot: jitsu deploy activates (deploying a
// started app) and then starts; the start must not deploy a second time,
// while an explicit restart replaces the units.
func TestStartIsIdempotentRestartIsNot(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	startApp(t, tp, "web")
	before := units(t, tp.Fake, "admin/web")
	if _, err := tp.StartApp(ctx, pr, "admin", "web"); err != nil {
		t.Fatal(err)
	}
	if after := units(t, tp.Fake, "admin/web"); len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("start of a serving app replaced its units: %v → %v", before, after)
	}
	if _, err := tp.RestartApp(ctx, pr, "admin", "web"); err != nil {
		t.Fatal(err)
	}
	// The old unit drains off the answer path: it goes moments later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		after := units(t, tp.Fake, "admin/web")
		if len(after) == 1 && after[0].ID != before[0].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart kept the old units: %v → %v", before, after)
		}
	}
}

func TestAppLimitsValidation(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	mem := func(n int) *int { return &n }
	cpus := func(n float64) *float64 { return &n }
	for _, c := range []struct {
		spec paas.AppSpec
		ok   bool
	}{
		{paas.AppSpec{MemoryMB: mem(128), CPUs: cpus(0.5)}, true},
		{paas.AppSpec{MemoryMB: mem(16)}, false},
		{paas.AppSpec{MemoryMB: mem(99999)}, false},
		{paas.AppSpec{CPUs: cpus(0)}, false},
		{paas.AppSpec{CPUs: cpus(64)}, false},
	} {
		_, err := tp.UpdateApp(ctx, pr, "admin", "web", c.spec)
		if c.ok != (err == nil) {
			t.Errorf("UpdateApp(%+v): err %v, want ok=%v", c.spec, err, c.ok)
		}
		if err != nil {
			if status, _, _ := paas.ErrorStatus(err); status != http.StatusBadRequest {
				t.Errorf("UpdateApp(%+v): status %d, want 400", c.spec, status)
			}
		}
	}
	// A limit that is not a number is the face's to refuse, before the service.
	if r := tp.Do(t, "PUT", "/apps/admin/web", tp.Admin.Basic(), `{"memory":"lots"}`); r.Status != http.StatusBadRequest {
		t.Errorf(`PUT {"memory":"lots"}: status %d, want 400: %s`, r.Status, r.Body)
	}
	a, err := tp.Store.App("admin", "web")
	if err != nil {
		t.Fatal(err)
	}
	if a.MemoryMB != 128 || a.CPUs != 0.5 {
		t.Errorf("limits after the valid update: %d MiB, %g CPUs", a.MemoryMB, a.CPUs)
	}
}

// neverHealthy is a fake engine whose units of app run but never listen.
func neverHealthy(app string) *runtime.Fake {
	fake := runtime.NewFake()
	fake.Healthy = func(spec runtime.UnitSpec) bool { return spec.App != app }
	return fake
}

// TestCloseCancelsDeployInFlight: a deploy waiting for a health check that
// would take minutes ends when the deployer closes, with an error, and
// Close returns promptly, leaving no unit of the failed release behind.
func TestCloseCancelsDeployInFlight(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{Fake: neverHealthy("admin/slow"), HealthTimeout: 10 * time.Minute})
	createApp(t, tp, "slow")
	pr := tp.AdminPrincipal(t)
	deployed := make(chan error, 1)
	go func() {
		_, err := tp.StartApp(context.Background(), pr, "admin", "slow")
		deployed <- err
	}()
	eventually(t, "the deploy to wait for its unit's health", func() bool { return len(units(t, tp.Fake, "admin/slow")) == 1 })
	select {
	case err := <-deployed:
		t.Fatalf("the deploy ended before Close: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	closed := make(chan struct{})
	start := time.Now()
	go func() {
		tp.Deployer.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s with a deploy in flight")
	}
	t.Logf("Close returned after %s", time.Since(start))
	select {
	case err := <-deployed:
		if !errors.Is(err, deploy.ErrClosed) {
			t.Fatalf("the cancelled deploy: %v, want ErrClosed (shutting down, not the app's fault)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StartApp did not return after Close")
	}
	if us := units(t, tp.Fake, "admin/slow"); len(us) != 0 {
		t.Errorf("the cancelled release left units: %v", us)
	}
	if a, err := tp.Store.App("admin", "slow"); err != nil || a.State == paas.AppStarted {
		t.Errorf("the cancelled deploy was recorded: %+v, %v", a, err)
	}
}

// TestCallsAfterCloseFail: once closed, the deployer refuses work with
// ErrClosed, and the service passes that on.
func TestCallsAfterCloseFail(t *testing.T) {
	tp := paastest.NewPlatform(t)
	createApp(t, tp, "web")
	ctx := context.Background()
	app, err := tp.Store.App("admin", "web")
	if err != nil {
		t.Fatal(err)
	}
	app.Snapshot = "v1"
	tp.Deployer.Close()
	tp.Deployer.Close() // idempotent
	for what, err := range map[string]error{
		"Deploy": tp.Deployer.Deploy(ctx, app, nil),
		"Stop":   tp.Deployer.Stop(ctx, app.Key()),
		"Remove": tp.Deployer.Remove(ctx, app.Key()),
	} {
		if !errors.Is(err, deploy.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	if _, err := tp.StartApp(ctx, tp.AdminPrincipal(t), "admin", "web"); !errors.Is(err, deploy.ErrClosed) {
		t.Errorf("StartApp after Close: %v, want ErrClosed", err)
	}
	if status, _, _ := paas.ErrorStatus(deploy.ErrClosed); status != http.StatusServiceUnavailable {
		t.Errorf("ErrClosed is status %d, want 503", status)
	}
	if err := tp.Deployer.Start(); err == nil {
		t.Error("Start after Close was accepted")
	}
	if n := len(units(t, tp.Fake, "admin/web")); n != 0 {
		t.Errorf("%d units started after Close", n)
	}
}

// deployGoroutines returns the stacks of goroutines running the deployer's
// code, or started by it.
func deployGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := goruntime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/selfhost/paas/paas/deploy.") && !strings.Contains(g, "deploy_test.") {
			out = append(out, g)
		}
	}
	return out
}

// TestNoGoroutineOutlivesClose: supervision, log capture, crash restarts
// and deploys in flight all end by the time Close returns (or a moment
// after, for a goroutine between its last act and its exit), while the
// units keep running; and once the whole platform is closed, the process
// has no more goroutines than before it.
func TestNoGoroutineOutlivesClose(t *testing.T) {
	before := goruntime.NumGoroutine()
	fake := neverHealthy("admin/slow")
	tp := paastest.NewPlatform(t, paastest.Config{Fake: fake, HealthTimeout: 10 * time.Minute, RestartBackoff: time.Hour})
	startApp(t, tp, "web")
	startApp(t, tp, "api")
	createApp(t, tp, "slow")
	pr := tp.AdminPrincipal(t)
	deployed := make(chan error, 1)
	go func() {
		_, err := tp.StartApp(context.Background(), pr, "admin", "slow")
		deployed <- err
	}()
	// A crash whose restart waits out an hour's backoff.
	if err := fake.Kill(units(t, fake, "admin/api")[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow deploy to start its unit", func() bool { return len(units(t, fake, "admin/slow")) == 1 })
	if len(deployGoroutines()) == 0 {
		t.Fatal("no deployer goroutine found while it works: the check below would prove nothing")
	}

	tp.Deployer.Close()
	<-deployed
	deadline := time.Now().Add(2 * time.Second)
	for left := deployGoroutines(); len(left) > 0; left = deployGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d deployer goroutines outlived Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if us := units(t, fake, "admin/web"); len(us) != 1 || !us[0].Running {
		t.Errorf("Close stopped the units: %v", us)
	}

	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the platform closed, %d before:\n%s", goruntime.NumGoroutine(), before, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeployNotifiesRoutes: the views following the store learn of every
// change of serving units through TopicRoutes: a deploy, a crash, a stop.
func TestDeployNotifiesRoutes(t *testing.T) {
	tp := paastest.NewPlatform(t)
	changed, unsubscribe := tp.Events.Subscribe(paas.TopicRoutes)
	defer unsubscribe()
	<-changed // the wake-up every subscription starts with
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("no TopicRoutes notification after %s", what)
		}
	}
	startApp(t, tp, "web")
	wait("a deploy")
	if b := tp.Deployer.Routes()["admin/web"]; len(b) != 1 {
		t.Fatalf("routes after the deploy: %v", tp.Deployer.Routes())
	}
	if err := tp.Fake.Kill(units(t, tp.Fake, "admin/web")[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	wait("a crash")
	eventually(t, "the restarted unit to serve", func() bool { return len(tp.Deployer.Backends("admin/web")) == 1 })
	for len(changed) > 0 { // the restart's own notification
		<-changed
	}
	if _, err := tp.StopApp(context.Background(), tp.AdminPrincipal(t), "admin", "web"); err != nil {
		t.Fatal(err)
	}
	wait("a stop")
	if _, ok := tp.Deployer.Routes()["admin/web"]; ok {
		t.Errorf("a stopped app has routes: %v", tp.Deployer.Routes())
	}
}
