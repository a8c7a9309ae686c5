package paas_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// deployFixture is a platform on the fake runtime with its deployer running.
type deployFixture struct {
	p     *paas.Platform
	fake  *runtime.Fake
	close func() // stops the deployer and closes the store; idempotent
}

func newDeployFixture(t *testing.T, fake *runtime.Fake, dir string) *deployFixture {
	t.Helper()
	store, err := paas.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := paas.New(store, fake, paas.Config{Domain: "localhost", BaseImage: "base", HealthTimeout: 5 * time.Second,
		RestartBackoff: time.Millisecond, PasswordCost: bcrypt.MinCost}, slog.New(slog.DiscardHandler))
	if _, err := p.EnsureAdmin("admin-password-1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			t.Errorf("deployer: %v", err)
		}
	}()
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			cancel()
			<-done
			store.Close()
		})
	}
	t.Cleanup(closeAll)
	return &deployFixture{p: p, fake: fake, close: closeAll}
}

// startApp creates admin/<name> with one snapshot and starts it.
func (f *deployFixture) startApp(t *testing.T, name string) paas.App {
	t.Helper()
	if _, err := f.p.CreateApp("admin", name, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	archive := paastest.TarGz(t, map[string]string{"package.json": `{"name":"` + name + `","scripts":{"start":"node server.js"}}`, "server.js": "//"})
	if _, err := f.p.UploadSnapshot("admin", name, "v1", bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	a, err := f.p.StartApp(context.Background(), "admin", name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *deployFixture) units(t *testing.T, app string) []runtime.Unit {
	t.Helper()
	all, err := f.fake.Units(context.Background())
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
	f := newDeployFixture(t, runtime.NewFake(), t.TempDir())
	f.startApp(t, "web")
	first := f.units(t, "admin/web")[0]
	if err := f.fake.Kill(first.ID, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a replacement unit", func() bool {
		us := f.units(t, "admin/web")
		return len(us) == 1 && us[0].ID != first.ID && us[0].Running
	})
	eventually(t, "the replacement to serve", func() bool {
		b := f.p.Deployer.Backends("admin/web")
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
	f := newDeployFixture(t, runtime.NewFake(), t.TempDir())
	f.startApp(t, "loop")
	for i := 0; ; i++ {
		var current runtime.Unit
		eventually(t, "a running unit to kill", func() bool {
			a, err := f.p.Store.App("admin", "loop")
			if err == nil && a.State == paas.AppErrored {
				return true
			}
			us := f.units(t, "admin/loop")
			if len(us) == 1 && us[0].Running {
				current = us[0]
				return true
			}
			return false
		})
		if a, _ := f.p.Store.App("admin", "loop"); a.State == paas.AppErrored {
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
		if err := f.fake.Kill(current.ID, 1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the errored app's units to be gone", func() bool { return len(f.units(t, "admin/loop")) == 0 })
}

// TestReconcileAtStart: a restarted platform adopts the running units of
// started apps, redeploys started apps whose units are gone, and removes
// platform units the store does not know.
func TestReconcileAtStart(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	dir := t.TempDir()
	first := newDeployFixture(t, fake, dir)
	first.startApp(t, "kept")
	first.startApp(t, "lost")
	kept := first.units(t, "admin/kept")
	first.close()

	// While the platform is down: "lost" loses its units, a stranger appears.
	ctx := context.Background()
	for _, u := range first.units(t, "admin/lost") {
		if err := fake.Stop(ctx, u.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := fake.Build(ctx, runtime.BuildSpec{App: "ghost/app", Snapshot: "s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Start(ctx, runtime.UnitSpec{App: "ghost/app", Snapshot: "s", Release: "r", Image: ref}); err != nil {
		t.Fatal(err)
	}

	orphan, err := fake.Build(ctx, runtime.BuildSpec{Snapshot: "step"}, io.Discard) // a failed build's step image: no app
	if err != nil {
		t.Fatal(err)
	}

	second := newDeployFixture(t, fake, dir)
	eventually(t, "the stranger's unit to be removed", func() bool { return len(second.units(t, "ghost/app")) == 0 })
	eventually(t, "the lost app to be redeployed", func() bool { return len(second.p.Deployer.Backends("admin/lost")) == 1 })
	eventually(t, "the kept app to be adopted", func() bool { return len(second.p.Deployer.Backends("admin/kept")) == 1 })
	eventually(t, "the orphaned build image to be removed", func() bool {
		ok, _ := fake.ImageExists(ctx, orphan)
		return !ok
	})
	if now := second.units(t, "admin/kept"); len(now) != 1 || now[0].ID != kept[0].ID {
		t.Errorf("kept app's units were replaced: before %v, after %v", kept, now)
	}
}

// TestStartIsIdempotentRestartIsNot: jitsu deploy activates (deploying a
// started app) and then starts; the start must not deploy a second time,
// while an explicit restart replaces the units.
func TestStartIsIdempotentRestartIsNot(t *testing.T) {
	f := newDeployFixture(t, runtime.NewFake(), t.TempDir())
	f.startApp(t, "web")
	before := f.units(t, "admin/web")
	if _, err := f.p.StartApp(context.Background(), "admin", "web"); err != nil {
		t.Fatal(err)
	}
	if after := f.units(t, "admin/web"); len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("start of a serving app replaced its units: %v → %v", before, after)
	}
	if _, err := f.p.RestartApp(context.Background(), "admin", "web"); err != nil {
		t.Fatal(err)
	}
	if after := f.units(t, "admin/web"); len(after) != 1 || after[0].ID == before[0].ID {
		t.Fatalf("restart kept the old units: %v → %v", before, after)
	}
}

func TestAppLimitsValidation(t *testing.T) {
	f := newDeployFixture(t, runtime.NewFake(), t.TempDir())
	if _, err := f.p.CreateApp("admin", "web", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"memory":128,"cpus":0.5}`, true},
		{`{"memory":16}`, false},
		{`{"memory":99999}`, false},
		{`{"cpus":0}`, false},
		{`{"cpus":64}`, false},
		{`{"memory":"lots"}`, false},
	} {
		_, err := f.p.UpdateApp("admin", "web", []byte(c.body))
		if c.ok != (err == nil) {
			t.Errorf("UpdateApp(%s): err %v, want ok=%v", c.body, err, c.ok)
		}
		if err != nil {
			if status, _, _ := paas.ErrorStatus(err); status != http.StatusBadRequest {
				t.Errorf("UpdateApp(%s): status %d, want 400", c.body, status)
			}
		}
	}
	a, err := f.p.Store.App("admin", "web")
	if err != nil {
		t.Fatal(err)
	}
	if a.MemoryMB != 128 || a.CPUs != 0.5 {
		t.Errorf("limits after the valid update: %d MiB, %g CPUs", a.MemoryMB, a.CPUs)
	}
}
