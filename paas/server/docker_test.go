package server_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// TestDockerLifecycle runs the whole scenario against the real
// engine: deploy, zero-downtime update, rollback, crash restart, a failing
// deploy that leaves the old release serving, a server restart that adopts
// running units, and deletion that leaves nothing behind.
func TestDockerLifecycle(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, d, base)
	const host = "hello.localhost"

	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello","env":{"GREETING":"hi"},"memory":128,"cpus":0.25}`), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", paastest.TarGzDir(t, "../../testdata/apps/hello-v1"), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v2", paastest.TarGzDir(t, "../../testdata/apps/hello-v2"), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/crash", paastest.TarGzDir(t, "../../testdata/apps/crash"), nil)

	s.waitStatus(host, http.StatusServiceUnavailable, 5*time.Second) // a stopped app
	if code, _, _ := s.get("nope.localhost"); code != http.StatusNotFound {
		t.Fatalf("unknown host: status %d, want 404", code)
	}

	s.must(200, "POST", "/apps/admin/hello/snapshots/v1/activate", nil, nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil)
	s.waitFor(host, "hello v1", 30*time.Second)

	t.Log("step: per-app limits and env reach the container")
	func() {
		units := appUnits(t, d, "admin/hello")
		if len(units) != 1 {
			t.Fatalf("want 1 unit, have %d", len(units))
		}
		info, err := dockertest.Client(t).ContainerInspect(context.Background(), units[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.HostConfig.Memory != 128<<20 || info.HostConfig.NanoCPUs != 250_000_000 {
			t.Errorf("limits: memory %d, nano-CPUs %d; want 128 MiB and 0.25 CPU", info.HostConfig.Memory, info.HostConfig.NanoCPUs)
		}
		if !slices.Contains(info.Config.Env, "GREETING=hi") || !slices.Contains(info.Config.Env, "PORT=8080") {
			t.Errorf("env %v lacks GREETING=hi or PORT=8080", info.Config.Env)
		}
	}()

	t.Log("step: zero-downtime update")
	func() {
		var failures, requests atomic.Int64
		var seen sync.Map
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := s.get(host)
				requests.Add(1)
				if err != nil || code != 200 {
					failures.Add(1)
					t.Logf("request failed during deploy: code %d err %v body %q", code, err, body)
					continue
				}
				seen.Store(body, true)
			}
		}()
		s.must(200, "POST", "/apps/admin/hello/snapshots/v2/activate", nil, nil)
		s.waitFor(host, "hello v2", 30*time.Second)
		// Keep hitting while the old release drains.
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		if failures.Load() != 0 {
			t.Fatalf("%d of %d requests failed during the update", failures.Load(), requests.Load())
		}
		for _, want := range []string{"hello v1", "hello v2"} {
			if _, ok := seen.Load(want); !ok {
				t.Errorf("never saw %q during the update", want)
			}
		}
		t.Logf("%d requests during the update, none failed", requests.Load())
	}()

	t.Log("step: rollback")
	func() {
		s.must(200, "POST", "/apps/admin/hello/snapshots/v1/activate", nil, nil)
		s.waitFor(host, "hello v1", 30*time.Second)
		// The old release drains in the background, after the answer.
		deadline := time.Now().Add(30 * time.Second)
		for len(appUnits(t, d, "admin/hello")) != 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}()

	t.Log("step: crashed unit comes back")
	func() {
		units := appUnits(t, d, "admin/hello")
		if len(units) != 1 {
			t.Fatalf("want 1 unit, have %d", len(units))
		}
		dockertest.Kill(t, units[0].ID)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			us := appUnits(t, d, "admin/hello")
			if len(us) == 1 && us[0].ID != units[0].ID && us[0].Running {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		s.waitFor(host, "hello v1", 30*time.Second)
		if us := appUnits(t, d, "admin/hello"); len(us) != 1 || us[0].ID == units[0].ID {
			t.Fatalf("the killed unit was not replaced: %+v", us)
		}
	}()

	t.Log("step: failing deploy keeps the old release")
	func() {
		var body struct {
			Error struct{ Code, Message string }
		}
		if code := s.call("POST", "/apps/admin/hello/snapshots/crash/activate", nil, &body); code != 400 {
			t.Fatalf("activating a crashing snapshot: status %d, want 400", code)
		}
		if body.Error.Code != "deploy_failed" {
			t.Errorf("error code %q, want deploy_failed (%s)", body.Error.Code, body.Error.Message)
		}
		s.waitFor(host, "hello v1", 5*time.Second)
		var app struct{ App struct{ Snapshot string } }
		s.must(200, "GET", "/apps/admin/hello", nil, &app)
		if app.App.Snapshot != "v1" {
			t.Errorf("active snapshot %q after failed deploy, want v1", app.App.Snapshot)
		}
	}()

	t.Log("step: logs are captured")
	func() {
		var logs struct {
			Data []struct{ Text string }
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.must(200, "POST", "/logs/admin/hello", []byte(`{"from":"NOW-1DAY","until":"NOW","rows":500}`), &logs)
			all := ""
			for _, l := range logs.Data {
				all += l.Text + "\n"
			}
			if strings.Contains(all, "hello v1 listening") && strings.Contains(all, "crashing") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("logs lack the app's output:\n%s", all)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()

	t.Log("step: server restart adopts running units, without capturing their logs twice")
	func() {
		before := appUnits(t, d, "admin/hello")
		linesBefore := countLogLines(s, "hello v1 listening")
		s.stop()
		s = startServer(t, dataDir, d, base)
		s.waitFor(host, "hello v1", 30*time.Second)
		after := appUnits(t, d, "admin/hello")
		if len(after) != 1 || len(before) != 1 || after[0].ID != before[0].ID {
			t.Errorf("units changed across the restart: before %v, after %v", ids(before), ids(after))
		}
		// Capture of the adopted unit has resumed by now (it flushes every 250ms);
		// re-reading its output from the start would have added its lines again.
		time.Sleep(time.Second)
		if n := countLogLines(s, "hello v1 listening"); n != linesBefore {
			t.Errorf("%d log lines %q after the restart, %d before: logs were captured twice", n, "hello v1 listening", linesBefore)
		}
	}()

	t.Log("step: units gone are redeployed at start")
	func() {
		s.stop()
		ctx := context.Background()
		for _, u := range appUnits(t, d, "admin/hello") {
			if err := d.Stop(ctx, u.ID, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		s = startServer(t, dataDir, d, base)
		s.waitFor(host, "hello v1", 60*time.Second)
	}()

	t.Log("step: deleting a snapshot removes its prepared code")
	func() {
		if !hasCode(t, d, "admin/hello", "crash") {
			t.Fatal("the uploaded snapshot crash was never prepared")
		}
		s.must(200, "DELETE", "/apps/admin/hello/snapshots/crash", nil, nil)
		if hasCode(t, d, "admin/hello", "crash") {
			t.Error("the deleted snapshot's code volume is left")
		}
	}()

	t.Log("step: delete removes containers, code volumes and images")
	func() {
		s.must(200, "DELETE", "/apps/admin/hello", nil, nil)
		codes, err := d.Codes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			if c.App == "admin/hello" {
				t.Errorf("prepared %s left after delete: %s", c.Kind, c.Ref)
			}
		}
		if us := appUnits(t, d, "admin/hello"); len(us) != 0 {
			t.Errorf("units left after delete: %v", ids(us))
		}
		images, err := d.Images(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range images {
			if im.App == "admin/hello" {
				t.Errorf("image left after delete: %s", im.Ref)
			}
		}
		s.waitStatus(host, http.StatusNotFound, 5*time.Second) // a deleted app
	}()
}

// hasCode reports whether the engine holds the prepared code of app@snapshot.
func hasCode(t testing.TB, rt runtime.Runtime, app, snapshot string) bool {
	t.Helper()
	codes, err := rt.Codes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if c.App == app && c.Snapshot == snapshot && c.Kind == runtime.KindCode {
			return true
		}
	}
	return false
}

// TestDockerDependencies: an app with a file: dependency is installed once
// for two snapshots with the same package.json, runs, and a snapshot whose
// install fails is a failed deploy that leaves the old release serving.
func TestDockerDependencies(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base)
	const host = "deps.localhost"
	pkg := `{"name":"deps","dependencies":{"greet":"file:./vendor/greet"},"scripts":{"start":"node server.js"}}`
	app := func(version string) []byte {
		return paastest.TarGz(t, map[string]string{
			"package.json":              pkg,
			"server.js":                 `require('http').createServer((q, s) => s.end('` + version + ` ' + require('greet')())).listen(process.env.PORT)`,
			"vendor/greet/package.json": `{"name":"greet","version":"1.0.0"}`,
			"vendor/greet/index.js":     `module.exports = () => 'greets';`,
		})
	}
	// No registry here: the app's npm settings point npm at nothing, fast.
	s.must(201, "POST", "/apps/admin/deps", []byte(`{"name":"deps","env":{"NPM_CONFIG_REGISTRY":"http://127.0.0.1:9/","NPM_CONFIG_FETCH_RETRIES":"0"}}`), nil)
	s.must(201, "POST", "/apps/admin/deps/snapshots/v1", app("v1"), nil)
	s.must(200, "POST", "/apps/admin/deps/start", nil, nil)
	s.waitFor(host, "v1 greets", 60*time.Second)
	s.must(201, "POST", "/apps/admin/deps/snapshots/v2", app("v2"), nil)
	s.must(200, "POST", "/apps/admin/deps/snapshots/v2/activate", nil, nil)
	s.waitFor(host, "v2 greets", 30*time.Second)
	if n := countLogLinesOf(s, "deps", "installing dependencies"); n != 1 {
		t.Errorf("npm install ran %d times for one package.json, want once", n)
	}
	var deps []string
	codes, _ := d.Codes(context.Background())
	for _, c := range codes {
		if c.Kind == runtime.KindDeps {
			deps = append(deps, c.Ref)
		}
	}
	if len(deps) != 1 {
		t.Errorf("deps volumes %v, want one shared", deps)
	}

	s.must(201, "POST", "/apps/admin/deps/snapshots/bad", paastest.TarGz(t, map[string]string{
		"package.json": `{"name":"deps","dependencies":{"left-pad":"1.3.0"},"scripts":{"start":"node server.js"}}`,
		"server.js":    `require('http').createServer((q, s) => s.end('bad')).listen(process.env.PORT)`,
	}), nil)
	var body struct {
		Error struct{ Code, Message string }
	}
	if code := s.call("POST", "/apps/admin/deps/snapshots/bad/activate", nil, &body); code != 400 || body.Error.Code != "build_failed" {
		t.Errorf("a failing install: %d %+v, want 400 build_failed", code, body.Error)
	}
	s.waitFor(host, "v2 greets", 5*time.Second)
	if n := countLogLinesOf(s, "deps", "127.0.0.1:9"); n == 0 {
		t.Error("npm's failure is not in the app's logs")
	}
	s.must(200, "DELETE", "/apps/admin/deps", nil, nil)
	if codes, _ := d.Codes(context.Background()); len(codes) != 0 {
		t.Errorf("left after the app's deletion: %v", codes)
	}
}

func appUnits(t testing.TB, rt runtime.Runtime, app string) []runtime.Unit {
	t.Helper()
	units, err := rt.Units(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Unit
	for _, u := range units {
		if u.App == app {
			out = append(out, u)
		}
	}
	return out
}

func ids(units []runtime.Unit) []string {
	var out []string
	for _, u := range units {
		out = append(out, u.ID)
	}
	return out
}

// countLogLines counts the hello app's stored log lines containing text.
func countLogLines(s *testServer, text string) int { return countLogLinesOf(s, "hello", text) }

// countLogLinesOf counts admin/app's stored log lines containing text.
func countLogLinesOf(s *testServer, app, text string) int {
	var logs struct {
		Data []struct{ Text string }
	}
	s.must(200, "POST", "/logs/admin/"+app, []byte(`{"from":"NOW-1DAY","until":"NOW","rows":10000}`), &logs)
	n := 0
	for _, l := range logs.Data {
		if strings.Contains(l.Text, text) {
			n++
		}
	}
	return n
}

// TestAPIRefusesAppUnits: with the API listening on every address, an app
// unit reaching it through its network's gateway gets no answer, while the
// same probe reaches the HTTP ingress on the same host (so the refusal is
// the API's doing, not the network's).
func TestAPIRefusesAppUnits(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.APIAddr, c.HTTPAddr = "0.0.0.0:0", "0.0.0.0:0" })
	s.must(200, "GET", "/apps/admin", nil, nil) // loopback still works

	gateway := gatewayOf(t, d.Config().Network)
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

	if code, out := runProbe(t, d, base, gateway, port(s.ingress)); code != 0 {
		t.Fatalf("control: the unit could not reach the ingress on %s (exit %d: %s)", gateway, code, out)
	}
	if code, out := runProbe(t, d, base, gateway, port(s.api)); code == 0 {
		t.Fatalf("the unit got an answer from the API through %s: %s", gateway, out)
	}
}

// runProbe runs a unit that sends one HTTP request to host:port and returns
// its exit code (0: answered) and output.
func runProbe(t *testing.T, d *runtime.Docker, base, host, port string) (int, string) {
	t.Helper()
	const probe = `
const req = require('http').get({ host: process.env.TARGET_HOST, port: Number(process.env.TARGET_PORT), path: '/auth', timeout: 5000 }, (res) => {
  console.log('probe: answered ' + res.statusCode); process.exit(0);
});
req.on('timeout', () => { console.log('probe: timeout'); process.exit(3); });
req.on('error', (e) => { console.log('probe: failed ' + e.code); process.exit(3); });
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref, err := d.Build(ctx, runtime.BuildSpec{App: "test/probe", Snapshot: "p1", BaseImage: base,
		Cmd: []string{"node", "probe.js"}, Files: fstest.MapFS{"probe.js": {Data: []byte(probe)}}}, nopWriter{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/probe", Snapshot: "p1", Release: "r" + port, Image: ref,
		Env: map[string]string{"TARGET_HOST": host, "TARGET_PORT": port}})
	if err != nil {
		t.Fatal(err)
	}
	var ev runtime.Event
	for ev.UnitID != u.ID {
		select {
		case ev = <-events:
		case <-ctx.Done():
			t.Fatal("the probe did not exit")
		}
	}
	var out []string
	logCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	_ = d.Logs(logCtx, u.ID, time.Time{}, func(l runtime.LogLine) { out = append(out, l.Text) })
	return ev.ExitCode, strings.Join(out, "\n")
}

// TestHostileInstallScript: code from the upload that runs during the
// install step (an .npmrc script-shell pointing at a script in the archive,
// run for the package's postinstall) runs as the unit user, without
// capabilities, under no-new-privileges, on a read-only root, and cannot
// reach the API even when the API listens on every address.
func TestHostileInstallScript(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.APIAddr = "0.0.0.0:0" })
	gateway := gatewayOf(t, "bridge")
	_, apiPort, _ := net.SplitHostPort(s.api)
	evil := `#!/usr/local/bin/node
const fs = require('fs');
console.log('EVIL uid=' + process.getuid());
const st = fs.readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(CapEff|NoNewPrivs)/.test(l));
console.log('EVIL ' + st.join(' ').replace(/\s+/g, ' '));
try { fs.writeFileSync('/etc/evil', 'x'); console.log('EVIL wrote /etc'); } catch (e) { console.log('EVIL rootfs ' + e.code); }
const req = require('http').get({ host: '` + gateway + `', port: ` + apiPort + `, path: '/auth', timeout: 3000 }, (res) => {
  console.log('EVIL api answered ' + res.statusCode); process.exit(0);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => { console.log('EVIL api unreachable ' + (e.code || e.message)); process.exit(0); });
`
	archive := paastest.TarGzEntries(t,
		paastest.TarEntry{Name: "package.json", Body: `{"name":"evil","dependencies":{"lib":"file:./lib"},"scripts":{"start":"node server.js","postinstall":"anything"}}`},
		paastest.TarEntry{Name: ".npmrc", Body: "script-shell=/app/evil.js\n"},
		paastest.TarEntry{Name: "evil.js", Body: evil, Mode: 0o755},
		paastest.TarEntry{Name: "lib/package.json", Body: `{"name":"lib","version":"1.0.0"}`},
		paastest.TarEntry{Name: "server.js", Body: `require('http').createServer((q, s) => s.end('evil')).listen(process.env.PORT)`},
	)
	s.must(201, "POST", "/apps/admin/evil", []byte(`{"name":"evil","env":{"NPM_CONFIG_REGISTRY":"http://127.0.0.1:9/"}}`), nil)
	s.must(201, "POST", "/apps/admin/evil/snapshots/v1", archive, nil)
	s.call("POST", "/apps/admin/evil/start", nil, nil)
	var logs struct{ Data []struct{ Text string } }
	s.must(200, "POST", "/logs/admin/evil", []byte(`{"from":"NOW-1DAY","until":"NOW","rows":1000}`), &logs)
	var out strings.Builder
	for _, l := range logs.Data {
		if strings.Contains(l.Text, "EVIL") {
			out.WriteString(l.Text + "\n")
		}
	}
	got := out.String()
	for _, want := range []string{"EVIL uid=1000", "CapEff: 0000000000000000", "NoNewPrivs: 1", "EVIL rootfs EROFS", "EVIL api unreachable"} {
		if !strings.Contains(strings.ReplaceAll(got, "\t", " "), want) {
			t.Errorf("the install script's view lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "api answered") || strings.Contains(got, "wrote /etc") {
		t.Errorf("the install script got through:\n%s", got)
	}
}

// gatewayOf is the IPv4 address of a Docker network's bridge on the host:
// its gateway, or, where the engine lists none (the default bridge), the
// subnet's first address, by convention.
func gatewayOf(t *testing.T, name string) string {
	t.Helper()
	nw, err := dockertest.Client(t).NetworkInspect(context.Background(), name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range nw.IPAM.Config {
		if ip, err := netip.ParseAddr(c.Gateway); err == nil && ip.Is4() {
			return c.Gateway
		}
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			return p.Masked().Addr().Next().String()
		}
	}
	t.Fatalf("network %s has no IPv4 gateway: %+v", name, nw.IPAM.Config)
	return ""
}
