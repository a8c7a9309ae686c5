package nodejitsu_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// untgz reads an archive into path → content.
func untgz(t *testing.T, data []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("download is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("download is not a tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = string(b)
	}
	return out
}

// fetch GETs a unit's address and returns the body.
func fetch(t *testing.T, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	res, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("unit %s does not answer: %v", addr, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestJitsuDeployCycle walks through what `jitsu deploy` and the usual
// follow-up commands do, in order.
func TestJitsuDeployCycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.NewUser(t, "dev")
	c := u.Basic()
	files := helloFiles("hello", "0.0.1")
	pkg := map[string]any{"name": "hello", "version": "0.0.1", "subdomain": "hello", "scripts": map[string]string{"start": "node server.js"}}

	// jitsu deploy: GET app (missing) → available → create.
	r := h.do(t, "GET", "/apps/dev/hello", c, nil)
	want(t, r, 404)
	r = h.do(t, "POST", "/apps/dev/hello/available", c, pkg)
	want(t, r, 200)
	if r.obj(t)["available"] != true {
		t.Fatalf("available = %s", r.Body)
	}
	r = h.do(t, "POST", "/apps/dev/hello", c, pkg)
	want(t, r, 201)
	app := r.obj(t)["app"].(map[string]any)
	for k, v := range map[string]any{"name": "hello", "state": "stopped", "subdomain": "hello", "drones": 1.0, "maxDrones": 8.0, "snapshot": ""} {
		if app[k] != v {
			t.Errorf("created app %s = %v, want %v", k, app[k], v)
		}
	}
	if app["running"] != nil {
		t.Errorf("new app is running: %v", app["running"])
	}
	r = h.do(t, "POST", "/apps/dev/hello/available", c, pkg)
	want(t, r, 200)
	if r.obj(t)["available"] != false {
		t.Fatalf("available after create = %s", r.Body)
	}
	// App names are unique platform-wide: nobody else gets "hello" now.
	other := h.NewUser(t, "other")
	r = h.do(t, "POST", "/apps/other/hello/available", other.Basic(), map[string]string{"subdomain": "hello-other"})
	want(t, r, 200)
	if r.obj(t)["available"] != false {
		t.Errorf("a name taken by another owner is available: %s", r.Body)
	}
	r = h.do(t, "POST", "/apps/other/hello", other.Basic(), map[string]string{"subdomain": "hello-other"})
	want(t, r, 409)
	if msg := r.errMessage(t); !strings.Contains(msg, `"hello" is taken`) {
		t.Errorf("message = %q", msg)
	}

	// Upload the snapshot as the CLI does: raw .tgz, octet-stream, Content-Length.
	archive := appTgz(t, files)
	r = h.do(t, "POST", "/apps/dev/hello/snapshots/0.0.1", c, archive)
	want(t, r, 201)
	snap := r.obj(t)["snapshot"].(map[string]any)
	if snap["id"] != "0.0.1" || snap["filename"] != "hello-0.0.1.tgz" || snap["ctime"] == nil || snap["size"] != float64(len(archive)) {
		t.Errorf("upload answer %s", r.Body)
	}

	// PUT the app with env, then activate.
	r = h.do(t, "PUT", "/apps/dev/hello", c, map[string]any{"env": map[string]string{"GREETING": "hi", "NODE_ENV": "production"}})
	want(t, r, 200)
	if get(r.obj(t), "app", "env", "GREETING") != "hi" {
		t.Errorf("env after PUT: %s", r.Body)
	}
	r = h.do(t, "POST", "/apps/dev/hello/snapshots/0.0.1/activate", c, "{}")
	want(t, r, 200)
	if get(r.obj(t), "app", "snapshot") != "0.0.1" {
		t.Errorf("activate answer %s", r.Body)
	}

	// Cloud-routed start: endpoints and cloud first.
	r = h.do(t, "GET", "/endpoints", c, nil)
	want(t, r, 200)
	endpoint, _ := get(r.obj(t), "endpoints", "selfhost", "local").(string)
	if endpoint != h.Server.URL {
		t.Fatalf("endpoints = %s, want %s", r.Body, h.Server.URL)
	}
	r = h.do(t, "GET", "/apps/dev/hello/cloud", c, nil)
	want(t, r, 200)
	cl := r.arr(t)
	if len(cl) != 1 || get(cl[0], "provider") != "selfhost" || get(cl[0], "datacenter") != "local" || get(cl[0], "drones") != 1.0 {
		t.Fatalf("cloud = %s", r.Body)
	}
	r = h.do(t, "POST", "/apps/dev/hello/start", c, "{}")
	want(t, r, 200)
	m := r.obj(t)
	if get(m, "app", "state") != "started" || get(m, "app", "running", "filename") != "hello-0.0.1.tgz" {
		t.Fatalf("start answer %s", r.Body)
	}
	backends := h.Deployer.Backends("dev/hello")
	if len(backends) != 1 {
		t.Fatalf("backends = %v", backends)
	}
	if got := fetch(t, backends[0]); got != "dev/hello 0.0.1 0\n" {
		t.Errorf("unit answered %q", got)
	}
	// The unit got the app's env.
	r = h.do(t, "GET", "/apps/dev/hello", c, nil)
	want(t, r, 200)
	if get(r.obj(t), "app", "running", "snapshot") != "0.0.1" || get(r.obj(t), "app", "state") != "started" {
		t.Errorf("app while running: %s", r.Body)
	}
	r = h.do(t, "GET", "/apps/dev", c, nil)
	want(t, r, 200)
	if l := isList(t, r, "apps"); len(l) != 1 || get(l[0], "name") != "hello" {
		t.Errorf("apps = %s", r.Body)
	}

	// Stop.
	r = h.do(t, "POST", "/apps/dev/hello/stop", c, "{}")
	want(t, r, 200)
	if get(r.obj(t), "app", "state") != "stopped" || get(r.obj(t), "app", "running") != nil {
		t.Errorf("stop answer %s", r.Body)
	}
	if b := h.Deployer.Backends("dev/hello"); len(b) != 0 {
		t.Errorf("backends after stop = %v", b)
	}
	if units, _ := h.Fake.Units(t.Context()); len(units) != 0 {
		t.Errorf("units after stop = %v", units)
	}

	// Starting an app without snapshots fails with the message the CLI knows.
	r = h.do(t, "POST", "/apps/dev/empty", c, map[string]string{"name": "empty"})
	want(t, r, 201)
	r = h.do(t, "POST", "/apps/dev/empty/start", c, "{}")
	want(t, r, 400)
	if msg := r.errMessage(t); !strings.Contains(msg, "Cannot start application with no snapshots") {
		t.Errorf("message = %q", msg)
	}

	// Download the archive and compare the files.
	r = h.do(t, "GET", "/apps/dev/hello/snapshots/0.0.1.tgz", c, nil)
	want(t, r, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("download Content-Type = %q", ct)
	}
	// Byte for byte the upload (jitsu and users compare checksums).
	if !bytes.Equal(r.Body, archive) {
		t.Errorf("the download (%d bytes) is not the upload (%d bytes)", len(r.Body), len(archive))
	}
	got := untgz(t, r.Body)
	delete(got, "package/") // the upload's directory entry, given back too
	if len(got) != len(files) {
		t.Errorf("download has %d files, want %d: %v", len(got), len(files), got)
	}
	for name, content := range files {
		if got["package/"+name] != content {
			t.Errorf("download package/%s = %q, want %q", name, got["package/"+name], content)
		}
	}

	// Snapshot metadata lists the files with their SHA-1.
	r = h.do(t, "GET", "/apps/dev/hello/snapshots/0.0.1", c, nil)
	want(t, r, 200)
	fl, _ := get(r.obj(t), "snapshot", "files").([]any)
	if len(fl) != len(files) {
		t.Fatalf("snapshot files = %s", r.Body)
	}
	for _, x := range fl {
		name, _ := get(x, "file").(string)
		content, ok := files[name]
		if !ok {
			t.Errorf("unexpected file %q", name)
			continue
		}
		if get(x, "sha") != sha1Hex(content) || get(x, "size") != float64(len(content)) {
			t.Errorf("file %s: sha %v size %v, want %s %d", name, get(x, "sha"), get(x, "size"), sha1Hex(content), len(content))
		}
	}
	r = h.do(t, "GET", "/apps/dev/hello/snapshots", c, nil)
	want(t, r, 200)
	if l := isList(t, r, "snapshots"); len(l) != 1 || get(l[0], "id") != "0.0.1" || get(l[0], "filename") != "hello-0.0.1.tgz" || get(l[0], "ctime") == nil {
		t.Errorf("snapshots = %s", r.Body)
	}

	// The active snapshot cannot be deleted; another one can.
	r = h.do(t, "DELETE", "/apps/dev/hello/snapshots/0.0.1", c, nil)
	want(t, r, 409)
	files2 := helloFiles("hello", "0.0.2")
	r = h.do(t, "PUT", "/apps/dev/hello/snapshots/0.0.2", c, appTgz(t, files2))
	want(t, r, 201)
	r = h.do(t, "DELETE", "/apps/dev/hello/snapshots/0.0.2", c, nil)
	want(t, r, 200)
	if _, err := h.Store.Blob(sha1Hex(files2["server.js"])); !paas.IsNotFound(err) {
		t.Errorf("blob of the deleted snapshot is still stored: %v", err)
	}
	if _, err := h.Store.Blob(sha1Hex(files["server.js"])); err != nil {
		t.Errorf("blob of the active snapshot: %v", err)
	}

	// Scale to two drones, start, both answer.
	r = h.do(t, "POST", "/apps/dev/hello/cloud", c, []map[string]any{{"drones": 2}})
	want(t, r, 200)
	if cl := r.arr(t); len(cl) != 1 || get(cl[0], "drones") != 2.0 {
		t.Fatalf("scale answer %s", r.Body)
	}
	r = h.do(t, "POST", "/apps/dev/hello/start", c, "{}")
	want(t, r, 200)
	if get(r.obj(t), "app", "drones") != 2.0 {
		t.Errorf("drones after scale = %s", r.Body)
	}
	backends = h.Deployer.Backends("dev/hello")
	if len(backends) != 2 {
		t.Fatalf("backends after scale = %v", backends)
	}
	for i, b := range backends {
		if got := fetch(t, b); !strings.HasPrefix(got, "dev/hello 0.0.1 ") {
			t.Errorf("unit %d answered %q", i, got)
		}
	}
	// Scaling a started app redeploys it with the new count.
	r = h.do(t, "POST", "/apps/dev/hello/cloud", c, map[string]any{"drones": 3})
	want(t, r, 200)
	if b := h.Deployer.Backends("dev/hello"); len(b) != 3 {
		t.Errorf("backends after scaling a started app = %v", b)
	}
	r = h.do(t, "POST", "/apps/dev/hello/restart", c, "{}")
	want(t, r, 200)
	if b := h.Deployer.Backends("dev/hello"); len(b) != 3 {
		t.Errorf("backends after restart = %v", b)
	}

	// Delete the app: nothing is left in the engine or the store.
	r = h.do(t, "DELETE", "/apps/dev/hello", c, nil)
	want(t, r, 200)
	r = h.do(t, "GET", "/apps/dev/hello", c, nil)
	want(t, r, 404)
	if units, _ := h.Fake.Units(t.Context()); len(units) != 0 {
		t.Errorf("units after delete = %v", units)
	}
	if images, _ := h.Fake.Images(t.Context()); len(images) != 0 {
		t.Errorf("images after delete = %v", images)
	}
	if snaps, _ := h.Store.Snapshots("dev", "hello"); len(snaps) != 0 {
		t.Errorf("snapshots after delete = %v", snaps)
	}
	for name, content := range files {
		if _, err := h.Store.Blob(sha1Hex(content)); !paas.IsNotFound(err) {
			t.Errorf("blob of %s still stored after delete: %v", name, err)
		}
	}
	// The name and subdomain are free again.
	r = h.do(t, "POST", "/apps/dev/hello/available", c, map[string]string{"subdomain": "hello"})
	want(t, r, 200)
	if r.obj(t)["available"] != true {
		t.Errorf("available after delete = %s", r.Body)
	}
}

// TestStartFailures: a failing build or an app that never listens is a 400
// with the app left stopped, and a running release survives a bad new one.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	fake := runtime.NewFake()
	fake.PrepareError = func(spec runtime.CodeSpec) error {
		if spec.Snapshot == "broken" {
			return errors.New("npm install failed")
		}
		return nil
	}
	fake.Healthy = func(spec runtime.UnitSpec) bool { return spec.Snapshot != "silent" }
	h := newHarness(t, paastest.Config{Fake: fake, HealthTimeout: 2 * time.Second})
	u := h.NewUser(t, "dev")
	c := u.Basic()
	h.createApp(t, "dev", "app")
	h.uploadSnapshot(t, "dev", "app", "good")
	h.uploadSnapshot(t, "dev", "app", "broken")
	h.uploadSnapshot(t, "dev", "app", "silent")

	r := h.do(t, "POST", "/apps/dev/app/snapshots/good/activate", c, "{}")
	want(t, r, 200)
	r = h.do(t, "POST", "/apps/dev/app/start", c, "{}")
	want(t, r, 200)
	before := h.Deployer.Backends("dev/app")
	for _, bad := range []string{"broken", "silent"} {
		r = h.do(t, "POST", "/apps/dev/app/snapshots/"+bad+"/activate", c, "{}")
		want(t, r, 400)
		a, err := h.Store.App("dev", "app")
		if err != nil {
			t.Fatal(err)
		}
		if a.Snapshot != "good" || a.State != paas.AppStarted {
			t.Errorf("after failed activation of %s: snapshot %q state %q", bad, a.Snapshot, a.State)
		}
		after := h.Deployer.Backends("dev/app")
		if len(after) != 1 || after[0] != before[0] {
			t.Errorf("serving units changed: %v → %v", before, after)
		}
		if got := fetch(t, after[0]); got != "dev/app good 0\n" {
			t.Errorf("old release answers %q", got)
		}
	}
	units, _ := h.Fake.Units(t.Context())
	if len(units) != 1 {
		t.Errorf("units after failed deploys = %v", units)
	}
}
