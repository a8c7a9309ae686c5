package server_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

// TestShutdownWithDeployInFlight: a start request whose deploy waits for a
// unit that never listens (the deployer's health timeout is a minute) gets
// the shutdown grace, then its deploy is cancelled; Run returns well
// before the health timeout, with the failed release's units gone and the
// store closed (it opens again, consistent).
func TestShutdownWithDeployInFlight(t *testing.T) {
	const grace = 300 * time.Millisecond

	fake := runtime.NewFake()
	fake.Healthy = func(spec runtime.UnitSpec) bool { return spec.App != "admin/slow" }
	t.Cleanup(func() { fake.Close() })
	dir := t.TempDir()
	s := startServer(t, dir, fake, "", func(c *server.Config) { c.DNSAddr, c.ShutdownGrace = "", grace })
	s.must(201, "POST", "/apps/admin/slow", []byte(`{"name":"slow"}`), nil)
	s.must(201, "POST", "/apps/admin/slow/snapshots/v1", paastest.TarGz(t, map[string]string{
		"package.json": `{"name":"slow","scripts":{"start":"node server.js"}}`, "server.js": "//"}), nil)

	answered := make(chan string, 1) // how the start request ended
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.api+"/apps/admin/slow/start", nil)
		req.SetBasicAuth("admin", s.password)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(appUnits(t, fake, "admin/slow")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deploy started no unit within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	start := time.Now()
	s.cancel()
	select {
	case <-s.run.finished:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancellation with a deploy in flight")
	}
	took := time.Since(start)
	t.Logf("Run returned %s after cancellation", took)
	if s.run.err != nil {
		t.Errorf("Run: %v", s.run.err)
	}
	if took < grace {
		t.Errorf("Run returned after %s, before the %s grace: the request's deploy was cut short", took, grace)
	}
	select {
	case how := <-answered: // an answer or a closed connection; either way, not left hanging
		t.Logf("the start request ended: %s", how)
	case <-time.After(5 * time.Second):
		t.Error("the start request was still hanging after Run returned")
	}
	if us := appUnits(t, fake, "admin/slow"); len(us) != 0 {
		t.Errorf("the cancelled release left units: %v", ids(us))
	}

	st, err := store.Open(dir)
	if err != nil {
		t.Fatalf("the store was not closed by Run: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("store after shutdown: %v", err)
	}
	if a, err := st.App("admin", "slow"); err != nil || a.State == paas.AppStarted {
		t.Errorf("the cancelled deploy was recorded as started: %+v, %v", a, err)
	}
}
