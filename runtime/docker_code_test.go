package runtime_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// appFS is a test app: package.json plus a server.js answering body(), a
// JavaScript expression.
func appFS(pkg, body string, extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"package.json": {Data: []byte(pkg)},
		"server.js": {Data: []byte(`'use strict';
require('http').createServer((q, s) => { s.end(String(` + body + `)); }).listen(process.env.PORT);
process.on('SIGTERM', () => process.exit(0));
`)},
	}
	for p, data := range extra {
		fsys[p] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// runPrepared starts a unit of prepared code and returns its first answer.
func runPrepared(t *testing.T, ctx context.Context, d *runtime.Docker, base string, code runtime.Prepared, release string) (runtime.Unit, string) {
	t.Helper()
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/code", Snapshot: "s", Release: release, Image: base,
		Code: code.Code, Deps: code.Deps, Cmd: []string{"node", "server.js"}, Port: 8080})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get("http://" + u.Addr + "/"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return u, string(body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var logs strings.Builder
	for _, l := range collectLogs(t, ctx, d, u.ID) {
		logs.WriteString(l.Text + "\n")
	}
	t.Fatalf("unit of %s never answered; its output:\n%s", code.Code, logs.String())
	return u, ""
}

// TestPreparedCode: a snapshot's code is prepared once into a volume that
// units mount read-only, with every hardening of a unit kept; preparing it
// again reuses it; removing it leaves nothing.
func TestPreparedCode(t *testing.T) {
	d, base, ctx := engine(t, 3*time.Minute)
	files := appFS(`{"name":"code","scripts":{"start":"node server.js"}}`,
		`(() => { try { require('fs').writeFileSync('/app/x', 'x'); return 'wrote' } catch (e) { return 'read-only ' + e.code } })()`, nil)
	spec := runtime.CodeSpec{App: "test/code", Snapshot: "s1", BaseImage: base, Files: files}
	var log bytes.Buffer
	code, err := d.Prepare(ctx, spec, &log)
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, log.String())
	}
	if code.Deps != "" {
		t.Errorf("no install asked, yet deps %q", code.Deps)
	}
	u, got := runPrepared(t, ctx, d, base, code, "r1")
	if got != "read-only EROFS" {
		t.Errorf("the app could change its code: %q", got)
	}
	info, err := dockertest.Client(t).ContainerInspect(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	if !hc.ReadonlyRootfs || len(hc.CapDrop) == 0 || hc.CapDrop[0] != "ALL" || info.Config.User != "1000:1000" || hc.Memory == 0 {
		t.Errorf("unit lost its hardening: rofs %t caps %v user %q memory %d", hc.ReadonlyRootfs, hc.CapDrop, info.Config.User, hc.Memory)
	}
	if len(info.Mounts) != 1 || info.Mounts[0].Name != code.Code || info.Mounts[0].RW || info.Mounts[0].Destination != "/app" {
		t.Errorf("mounts = %+v, want the code volume read-only at /app", info.Mounts)
	}

	log.Reset()
	again, err := d.Prepare(ctx, spec, &log)
	if err != nil || again != code || !strings.Contains(log.String(), "already prepared") {
		t.Errorf("second prepare: %+v, %v, log %q", again, err, log.String())
	}
	if err := d.RemoveCode(ctx, code.Code); err == nil {
		t.Error("removed code a running unit uses")
	}
	if err := d.Stop(ctx, u.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveCode(ctx, code.Code); err != nil {
		t.Fatal(err)
	}
	if codes, err := d.Codes(ctx); err != nil || len(codes) != 0 {
		t.Errorf("left after removal: %v, %v", codes, err)
	}
	if ids := helpers(t, ctx, d); len(ids) != 0 {
		t.Errorf("helper containers left: %v", ids)
	}
}

// TestPreparedDependencies: a file: dependency is installed once, with npm
// in the hardened install container, and reused by a later snapshot with
// the same key; a bundled node_modules needs no install; a failing install
// fails the preparation and leaves nothing half done.
func TestPreparedDependencies(t *testing.T) {
	d, base, ctx := engine(t, 5*time.Minute)
	pkg := `{"name":"deps","dependencies":{"greet":"file:./vendor/greet"},"scripts":{"start":"node server.js"}}`
	vendor := map[string]string{
		"vendor/greet/package.json": `{"name":"greet","version":"1.0.0","main":"index.js"}`,
		"vendor/greet/index.js":     `module.exports = () => 'hello from greet';`,
	}
	// No registry is reachable here; the install must not need one, and
	// must take the app's npm settings.
	env := map[string]string{"NPM_CONFIG_REGISTRY": "http://127.0.0.1:9/"}
	var log bytes.Buffer
	first, err := d.Prepare(ctx, runtime.CodeSpec{App: "test/deps", Snapshot: "s1", BaseImage: base, Install: true,
		DepsKey: "k1", Env: env, Files: appFS(pkg, "require('greet')()", vendor)}, &log)
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, log.String())
	}
	if first.Deps == "" || !strings.Contains(log.String(), "npm install") {
		t.Fatalf("no install: %+v\n%s", first, log.String())
	}
	u, got := runPrepared(t, ctx, d, base, first, "r1")
	if got != "hello from greet" {
		t.Errorf("answer %q", got)
	}
	stop(t, ctx, d, u)

	log.Reset()
	second, err := d.Prepare(ctx, runtime.CodeSpec{App: "test/deps", Snapshot: "s2", BaseImage: base, Install: true,
		DepsKey: "k1", Env: env, Files: appFS(pkg, "'v2 ' + require('greet')()", vendor)}, &log)
	if err != nil {
		t.Fatalf("prepare s2: %v\n%s", err, log.String())
	}
	if second.Deps != first.Deps || !strings.Contains(log.String(), "reused") || strings.Contains(log.String(), "npm install") {
		t.Errorf("the same key installed again: %+v vs %+v\n%s", second, first, log.String())
	}
	u, got = runPrepared(t, ctx, d, base, second, "r2")
	if got != "v2 hello from greet" {
		t.Errorf("answer %q", got)
	}
	stop(t, ctx, d, u)

	bundled, err := d.Prepare(ctx, runtime.CodeSpec{App: "test/deps", Snapshot: "s3", BaseImage: base,
		Files: appFS(`{"name":"deps"}`, "require('greet')()", map[string]string{
			"node_modules/greet/index.js": `module.exports = () => 'bundled greet';`})}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	u, got = runPrepared(t, ctx, d, base, bundled, "r3")
	if got != "bundled greet" {
		t.Errorf("bundled node_modules: answer %q", got)
	}
	stop(t, ctx, d, u)

	log.Reset()
	// A registry dependency, with the registry the app names unreachable
	// (and no retries, so it fails at once): the app's npm settings reach npm.
	badEnv := map[string]string{"NPM_CONFIG_REGISTRY": "http://127.0.0.1:9/", "NPM_CONFIG_FETCH_RETRIES": "0"}
	_, err = d.Prepare(ctx, runtime.CodeSpec{App: "test/deps", Snapshot: "bad", BaseImage: base, Install: true, DepsKey: "k2", Env: badEnv,
		Files: appFS(`{"name":"deps","dependencies":{"left-pad":"1.3.0"}}`, "1", nil)}, &log)
	if err == nil {
		t.Fatalf("an install from an unreachable registry succeeded:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "127.0.0.1:9") {
		t.Errorf("npm's output is not in the log: %q", log.String())
	}
	codes, _ := d.Codes(ctx)
	for _, c := range codes {
		if c.Snapshot == "bad" || c.DepsKey == "k2" {
			// Left incomplete, marked by its helper: the next preparation
			// of it starts over, and collection at start removes it.
			if len(helpers(t, ctx, d)) == 0 {
				t.Errorf("%s %s of the failed install is left without its incomplete mark", c.Kind, c.Ref)
			}
		}
	}
	if err := d.CollectIncomplete(ctx); err != nil {
		t.Fatal(err)
	}
	codes, _ = d.Codes(ctx)
	for _, c := range codes {
		if c.Snapshot == "bad" || c.DepsKey == "k2" {
			t.Errorf("CollectIncomplete left %s", c.Ref)
		}
	}
	if ids := helpers(t, ctx, d); len(ids) != 0 {
		t.Errorf("helpers left: %v", ids)
	}
}

// TestOtherRuntimesObjectsUntouched: a second runtime (another server on
// another data directory: another prefix) neither lists nor collects the
// first one's volumes.
func TestOtherRuntimesObjectsUntouched(t *testing.T) {
	d, base, ctx := engine(t, 2*time.Minute)
	other := dockertest.New(t)
	code, err := d.Prepare(ctx, runtime.CodeSpec{App: "test/mine", Snapshot: "s1", BaseImage: base,
		Files: appFS(`{"name":"mine"}`, "1", nil)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if codes, err := other.Codes(ctx); err != nil || len(codes) != 0 {
		t.Errorf("the other runtime lists %v (%v)", codes, err)
	}
	if err := other.CollectIncomplete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dockertest.Client(t).VolumeInspect(ctx, code.Code); err != nil {
		t.Errorf("the other runtime's collection removed %s: %v", code.Code, err)
	}
}

func stop(t *testing.T, ctx context.Context, d *runtime.Docker, u runtime.Unit) {
	t.Helper()
	if err := d.Stop(ctx, u.ID, time.Second); err != nil {
		t.Fatal(err)
	}
}

// helpers lists d's helper and install containers.
func helpers(t *testing.T, ctx context.Context, d *runtime.Docker) []string {
	t.Helper()
	list, err := dockertest.Client(t).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "paas.prefix="+d.Config().Prefix), filters.Arg("label", "paas.volume"))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestUnitsCannotReachEachOther: a unit of one owner gets no connection to
// another owner's unit, neither by address nor by container name, while
// the host (where the ingress runs) reaches both.
func TestUnitsCannotReachEachOther(t *testing.T) {
	d, base, ctx := engine(t, 3*time.Minute)
	victim, err := d.Prepare(ctx, runtime.CodeSpec{App: "alice/site", Snapshot: "s1", BaseImage: base,
		Files: appFS(`{"name":"site"}`, "'secret of alice'", nil)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, got := runPrepared(t, ctx, d, base, victim, "ra")
	if got != "secret of alice" {
		t.Fatalf("control: the host cannot reach the victim: %q", got)
	}
	info, err := dockertest.Client(t).ContainerInspect(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := strings.Cut(a.Addr, ":")
	// The attacker logs what it could fetch from each target.
	attacker := appFS(`{"name":"evil"}`, "1", map[string]string{"probe.js": `
const targets = [process.env.BY_ADDR, process.env.BY_NAME];
let pending = targets.length;
for (const t of targets) {
  const req = require('http').get({ host: t, port: 8080, path: '/', timeout: 3000 }, (res) => {
    let body = ''; res.on('data', (c) => body += c); res.on('end', () => { console.log('REACHED ' + t + ': ' + body); done(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { console.log('blocked ' + t + ': ' + (e.code || e.message)); done(); });
}
function done() { if (--pending === 0) setTimeout(() => process.exit(0), 100); }
`})
	code, err := d.Prepare(ctx, runtime.CodeSpec{App: "bob/evil", Snapshot: "s1", BaseImage: base, Files: attacker}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	events, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Start(ctx, runtime.UnitSpec{App: "bob/evil", Snapshot: "s1", Release: "rb", Image: base, Code: code.Code,
		Cmd: []string{"node", "probe.js"}, Env: map[string]string{"BY_ADDR": host, "BY_NAME": strings.TrimPrefix(info.Name, "/")}})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, u.ID)
	var out strings.Builder
	for _, l := range collectLogs(t, ctx, d, u.ID) {
		out.WriteString(l.Text + "\n")
	}
	if strings.Contains(out.String(), "REACHED") || strings.Count(out.String(), "blocked ") != 2 {
		t.Fatalf("another owner's unit was reachable (or the probe did not run):\n%s", out.String())
	}
	stop(t, ctx, d, a)
}
