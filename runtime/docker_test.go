package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// ---- engine-free tests ----

func TestImageRefIsValidReference(t *testing.T) {
	cases := []struct{ prefix, app, snap string }{
		{"paas", "owner/app", "snap1"},
		{"PaaS", "Owner/My_App!!", "S@P 1"},
		{"paas", "a/b-c", "x"},
		{"paas", "a-b/c", "x"},
		{"paas", "--/..", "..."},
		{"paas", strings.Repeat("verylongname", 40), strings.Repeat("s", 300)},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		ref := imageRef(c.prefix, c.app, c.snap)
		if _, err := reference.ParseNormalizedNamed(ref); err != nil {
			t.Errorf("imageRef(%q, %q, %q) = %q: invalid reference: %v", c.prefix, c.app, c.snap, ref, err)
		}
		if ref != strings.ToLower(ref) {
			t.Errorf("imageRef %q is not lowercase", ref)
		}
		if seen[ref] {
			t.Errorf("imageRef collision on %q", ref)
		}
		seen[ref] = true
	}
	if got, want := imageRef("paas", "owner/app", "snap1"), "paas/owner-app:snap1-"; !strings.HasPrefix(got, want) {
		t.Errorf("imageRef = %q, want prefix %q", got, want)
	}
}

func TestContainerNameIsValid(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	a := containerName("paas", "a/b-c", "r1", 0)
	b := containerName("paas", "a-b/c", "r1", 0)
	for _, n := range []string{a, b, containerName("P", "ÄÖ/ü", "", -1)} {
		if !valid.MatchString(n) {
			t.Errorf("container name %q is invalid", n)
		}
	}
	if a == b {
		t.Errorf("container names collide: %q", a)
	}
}

func TestGenerateDockerfile(t *testing.T) {
	df, err := generateDockerfile(BuildSpec{App: "o/a", Snapshot: "s", BaseImage: "node:20-slim", Cmd: []string{"node", "server.js"}, Install: true},
		map[string]string{LabelApp: `o/"a"$x\`, LabelPlatform: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM node:20-slim\n", "COPY app/ /app/\n", `RUN ["npm", "install", "--omit=dev"`, "USER 1000:1000\n", `CMD ["node","server.js"]`,
		`LABEL "paas.app"="o/\"a\"\$x\\" "paas.platform"="1"` + "\n"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Index(string(df), "RUN") > strings.Index(string(df), "USER") {
		t.Errorf("npm install must run before USER:\n%s", df)
	}
	df, _ = generateDockerfile(BuildSpec{BaseImage: "b", Cmd: []string{"node", "a b.js"}}, nil)
	if strings.Contains(string(df), "npm") {
		t.Errorf("Dockerfile without Install runs npm:\n%s", df)
	}
	if err := validateBuildSpec(BuildSpec{App: "a", Snapshot: "s", Files: fstest.MapFS{}, Cmd: []string{"x"}, BaseImage: "b\nRUN evil"}); err == nil {
		t.Error("a base image with a newline was accepted")
	}
}

func TestLogLineWriter(t *testing.T) {
	var got []LogLine
	w := &logLineWriter{unit: "u", stream: "stdout", fn: func(l LogLine) { got = append(got, l) }}
	io.WriteString(w, "2024-05-01T10:00:00.123456789Z hello ")
	io.WriteString(w, "world\n2024-05-01T10:00:01Z second\n2024-05-01T10:00:02Z")
	w.flush()
	if len(got) != 3 {
		t.Fatalf("got %d lines, want 3: %+v", len(got), got)
	}
	if got[0].Text != "hello world" || got[0].Time.Nanosecond() != 123456789 || got[0].Stream != "stdout" || got[0].UnitID != "u" {
		t.Errorf("line 0 = %+v", got[0])
	}
	if got[1].Text != "second" || got[2].Text != "" || got[2].Time.Second() != 2 {
		t.Errorf("lines = %+v", got[1:])
	}
}

// ---- engine tests ----

var baseOnce sync.Mutex

// testDocker returns a Docker runtime on a test-unique network and prefix,
// removing everything the test created when it ends. Without a reachable
// engine it skips, except on CI (CI=true) where that is a failure.
func testDocker(t *testing.T) *Docker {
	t.Helper()
	suffix := randHex(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := NewDocker(ctx, DockerConfig{Network: "paastest-" + suffix, Prefix: "paastest" + suffix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker engine required on CI: %v", err)
		}
		t.Skipf("no docker engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if units, err := d.Units(ctx); err != nil {
			t.Errorf("cleanup: list units: %v", err)
		} else {
			for _, u := range units {
				if err := d.Stop(ctx, u.ID, 0); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
		if images, err := d.Images(ctx); err != nil {
			t.Errorf("cleanup: list images: %v", err)
		} else {
			for _, im := range images {
				if err := d.RemoveImage(ctx, im.Ref); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
		if err := d.RemoveNetwork(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		d.Close()
	})
	return d
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// ensureHostBase builds HostBaseImage unless it exists (CI prebuilds it); it
// is deliberately never removed, so later runs reuse it.
func ensureHostBase(t *testing.T, d *Docker) string {
	t.Helper()
	baseOnce.Lock()
	defer baseOnce.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ok, err := d.ImageExists(ctx, HostBaseImage)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		var log bytes.Buffer
		if err := BuildHostBaseImage(ctx, d, "", HostBaseImage, &log); err != nil {
			t.Fatalf("build host base image: %v\n%s", err, log.String())
		}
		t.Logf("built %s:\n%s", HostBaseImage, log.String())
	}
	return HostBaseImage
}

func buildApp(t *testing.T, ctx context.Context, d *Docker, base, app, dir string, install bool) string {
	t.Helper()
	var log bytes.Buffer
	ref, err := d.Build(ctx, BuildSpec{
		App: "test/" + app, Snapshot: "s1", BaseImage: base,
		Files: os.DirFS(dir), Cmd: []string{"node", "server.js"}, Install: install,
	}, &log)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", app, err, log.String())
	}
	return ref
}

// waitEvent returns the first event of unit id, failing after a bounded wait.
func waitEvent(t *testing.T, ch <-chan Event, id string) Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed before the exit of %s", shortID(id))
			}
			if ev.UnitID == id {
				return ev
			}
		case <-timeout:
			t.Fatalf("no exit event for unit %s within 60s", shortID(id))
		}
	}
}

// collectLogs returns everything a (finished) unit wrote.
func collectLogs(t *testing.T, ctx context.Context, d *Docker, id string) []LogLine {
	t.Helper()
	var lines []LogLine
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.Logs(ctx, id, time.Time{}, func(l LogLine) { lines = append(lines, l) }); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return lines
}

func dockerClient(t *testing.T, d *Docker) *client.Client {
	cli, ok := d.api.(*client.Client)
	if !ok {
		t.Fatalf("runtime does not wrap a docker client")
	}
	return cli
}

func TestDockerUnitLifecycle(t *testing.T) {
	d := testDocker(t)
	base := ensureHostBase(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	evs, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ref := buildApp(t, ctx, d, base, "hello", "../testdata/apps/hello-v1", false)
	var log bytes.Buffer
	again, err := d.Build(ctx, BuildSpec{App: "test/hello", Snapshot: "s1", BaseImage: base, Files: os.DirFS("../testdata/apps/hello-v1"), Cmd: []string{"node", "server.js"}}, &log)
	if err != nil || again != ref || !strings.Contains(log.String(), "already built") {
		t.Fatalf("second Build = %q, %v (log %q), want %q from the existing image", again, err, log.String(), ref)
	}
	if ok, err := d.ImageExists(ctx, ref); err != nil || !ok {
		t.Fatalf("ImageExists(%s) = %v, %v", ref, ok, err)
	}
	images, err := d.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0] != (Image{Ref: ref, App: "test/hello", Snapshot: "s1"}) {
		t.Fatalf("Images = %+v, want just %s", images, ref)
	}

	u, err := d.Start(ctx, UnitSpec{
		App: "test/hello", Snapshot: "s1", Release: "r1", Index: 0, Image: ref,
		Env: map[string]string{"GREETING": "hi", "PORT": "1"}, // PORT is the runtime's
	})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Running || !strings.HasSuffix(u.Addr, ":8080") || u.App != "test/hello" || u.Release != "r1" {
		t.Fatalf("Start = %+v, want a running unit on port 8080", u)
	}

	// Logs are followed from the start; the start line must arrive.
	logCtx, stopLogs := context.WithCancel(ctx)
	startLine := make(chan LogLine, 1)
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- d.Logs(logCtx, u.ID, time.Time{}, func(l LogLine) {
			if strings.Contains(l.Text, "hello v1 listening on 8080") {
				select {
				case startLine <- l:
				default:
				}
			}
		})
	}()

	body := waitHTTP(t, u.Addr, "hello v1")
	t.Logf("unit %s at %s answered %q", shortID(u.ID), u.Addr, body)

	select {
	case l := <-startLine:
		if l.Stream != "stdout" || l.Time.IsZero() || l.UnitID != u.ID {
			t.Errorf("start line = %+v", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Logs did not deliver the start line within 30s")
	}
	stopLogs()
	select {
	case err := <-logsDone:
		if err != nil {
			t.Errorf("Logs after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Logs did not return after its context was cancelled")
	}

	units, err := d.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 {
		t.Fatalf("Units = %+v, want 1", units)
	}
	got := units[0]
	if got.ID != u.ID || !got.Running || got.App != "test/hello" || got.Snapshot != "s1" || got.Release != "r1" ||
		got.Index != 0 || got.Image != ref || got.Addr != u.Addr || got.Started.IsZero() {
		t.Fatalf("Units()[0] = %+v, want running unit %+v", got, u)
	}

	checkHardening(t, ctx, d, u.ID)

	// An exit the platform did not ask for must surface as an Event.
	if err := dockerClient(t, d).ContainerKill(ctx, u.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, evs, u.ID)
	if ev.App != "test/hello" || ev.ExitCode != 137 || ev.Time.IsZero() {
		t.Errorf("kill event = %+v, want app test/hello, exit 137", ev)
	}
	units, err = d.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 || units[0].Running || units[0].ExitCode != 137 || units[0].Addr != "" {
		t.Errorf("Units after kill = %+v, want one stopped unit with exit 137", units)
	}
	if err := d.Stop(ctx, u.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, u.ID, time.Second); err != nil {
		t.Errorf("Stop of a removed unit = %v, want nil", err)
	}

	// Start again under the same (app, release, index): the name is free
	// again, and a graceful Stop lets the app's SIGTERM handler exit 0.
	u2, err := d.Start(ctx, UnitSpec{App: "test/hello", Snapshot: "s1", Release: "r1", Index: 0, Image: ref, Port: 3000})
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, u2.Addr, "hello v1")
	if err := d.Stop(ctx, u2.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, evs, u2.ID); ev.ExitCode != 0 {
		t.Errorf("graceful stop event = %+v, want exit 0", ev)
	}
	if units, err := d.Units(ctx); err != nil || len(units) != 0 {
		t.Errorf("Units after Stop = %+v, %v; want none", units, err)
	}

	if err := d.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveImage(ctx, ref); err != nil {
		t.Errorf("RemoveImage of a missing image = %v, want nil", err)
	}
	if ok, _ := d.ImageExists(ctx, ref); ok {
		t.Error("image still exists after RemoveImage")
	}
}

// waitHTTP polls addr until it answers want, for a bounded time.
func waitHTTP(t *testing.T, addr, want string) string {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + addr + "/any/path")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == want {
				return string(b)
			}
			last = fmt.Sprintf("status %d body %q", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("unit at %s did not answer %q within 30s; last: %s", addr, want, last)
	return ""
}

func checkHardening(t *testing.T, ctx context.Context, d *Docker, id string) {
	t.Helper()
	info, err := dockerClient(t, d).ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	hc, cfg := info.HostConfig, info.Config
	if len(hc.CapDrop) != 1 || !strings.EqualFold(hc.CapDrop[0], "ALL") {
		t.Errorf("CapDrop = %v, want [ALL]", hc.CapDrop)
	}
	if !hc.ReadonlyRootfs {
		t.Error("rootfs is writable")
	}
	if cfg.User != "1000:1000" {
		t.Errorf("User = %q, want 1000:1000", cfg.User)
	}
	if !contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("SecurityOpt = %v, want no-new-privileges:true", hc.SecurityOpt)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != DefaultPids {
		t.Errorf("PidsLimit = %v, want %d", hc.PidsLimit, DefaultPids)
	}
	if hc.Memory != DefaultMemoryBytes || hc.MemorySwap != DefaultMemoryBytes {
		t.Errorf("Memory/MemorySwap = %d/%d, want %d", hc.Memory, hc.MemorySwap, DefaultMemoryBytes)
	}
	if hc.NanoCPUs != DefaultNanoCPUs {
		t.Errorf("NanoCPUs = %d, want %d", hc.NanoCPUs, DefaultNanoCPUs)
	}
	if !strings.Contains(hc.Tmpfs["/tmp"], "size=") {
		t.Errorf("Tmpfs = %v, want a size-limited /tmp", hc.Tmpfs)
	}
	if hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("RestartPolicy = %q, want none", hc.RestartPolicy.Name)
	}
	if !contains(cfg.Env, "PORT=8080") || contains(cfg.Env, "PORT=1") || !contains(cfg.Env, "GREETING=hi") {
		t.Errorf("Env = %v, want GREETING=hi and PORT=8080 only", cfg.Env)
	}
	for k, v := range map[string]string{LabelPlatform: "1", LabelApp: "test/hello", LabelSnapshot: "s1", LabelRelease: "r1", LabelUnit: "0"} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	if _, ok := info.NetworkSettings.Networks[d.cfg.Network]; !ok || len(info.NetworkSettings.Ports) != 0 {
		t.Errorf("networks %v, ports %v: want only the platform network, nothing published", info.NetworkSettings.Networks, info.NetworkSettings.Ports)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDockerCrashingUnit(t *testing.T) {
	d := testDocker(t)
	base := ensureHostBase(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	evs, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot id exercises the quoting of the generated LABEL line.
	const snap = `s1 "$HOME" \`
	ref, err := d.Build(ctx, BuildSpec{App: "test/crash", Snapshot: snap, BaseImage: base,
		Files: os.DirFS("../testdata/apps/crash"), Cmd: []string{"node", "server.js"}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if images, err := d.Images(ctx); err != nil || len(images) != 1 || images[0] != (Image{Ref: ref, App: "test/crash", Snapshot: snap}) {
		t.Fatalf("Images = %+v, %v; want %s with snapshot %q", images, err, ref, snap)
	}
	u, err := d.Start(ctx, UnitSpec{App: "test/crash", Snapshot: snap, Release: "r1", Index: 2, Image: ref, Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, evs, u.ID)
	if ev.ExitCode != 1 || ev.OOM || ev.App != "test/crash" {
		t.Errorf("crash event = %+v, want exit 1, not OOM, app test/crash", ev)
	}
	// The unit has stopped, so Logs returns after replaying its output.
	var stderr []string
	for _, l := range collectLogs(t, ctx, d, u.ID) {
		if l.Stream == "stderr" {
			stderr = append(stderr, l.Text)
		}
	}
	if !contains(stderr, "crashing") {
		t.Errorf("stderr = %q, want a line \"crashing\"", stderr)
	}
	units, err := d.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 || units[0].Running || units[0].ExitCode != 1 || units[0].Index != 2 {
		t.Errorf("Units = %+v, want the crashed unit with exit code 1", units)
	}
	// A stopped unit keeps its name until Stop removes it; starting the same
	// unit again replaces the leftover instead of failing on the name.
	u2, err := d.Start(ctx, UnitSpec{App: "test/crash", Snapshot: snap, Release: "r1", Index: 2, Image: ref})
	if err != nil {
		t.Fatalf("restart of a crashed unit: %v", err)
	}
	waitEvent(t, evs, u2.ID)
	if err := d.Stop(ctx, u2.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Logs(ctx, u2.ID, time.Time{}, func(LogLine) {}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Logs of a removed unit = %v, want ErrNotFound", err)
	}
}

func TestDockerBuild(t *testing.T) {
	d := testDocker(t)
	base := ensureHostBase(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Install runs npm inside the build (offline: the app has no
	// dependencies), proving the base image's npm works.
	ref := buildApp(t, ctx, d, base, "hello2", "../testdata/apps/hello-v2", true)
	u, err := d.Start(ctx, UnitSpec{App: "test/hello2", Snapshot: "s1", Release: "r1", Image: ref, Port: 5000,
		Limits: Limits{MemoryBytes: 128 << 20, NanoCPUs: 250_000_000, Pids: 64}})
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, u.Addr, "hello v2")
	info, err := dockerClient(t, d).ContainerInspect(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hc := info.HostConfig; hc.Memory != 128<<20 || hc.NanoCPUs != 250_000_000 || hc.PidsLimit == nil || *hc.PidsLimit != 64 {
		t.Errorf("limits = %d/%d/%v, want the UnitSpec's", hc.Memory, hc.NanoCPUs, hc.PidsLimit)
	}
	if err := d.Stop(ctx, u.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	_, err = d.Build(ctx, BuildSpec{
		App: "test/bogus", Snapshot: "s1", BaseImage: base, Install: true, Cmd: []string{"node", "server.js"},
		Files: fstest.MapFS{
			"package.json": {Data: []byte(`{ "name": "bogus", "dependencies": `)},
			"server.js":    {Data: []byte(`console.log("never")`)},
		},
	}, &log)
	if err == nil {
		t.Fatalf("Build with a broken package.json succeeded; log:\n%s", log.String())
	}
	if !strings.Contains(err.Error(), "builder:") {
		t.Errorf("build error %q does not carry the builder's message", err)
	}
	t.Logf("build error: %v", err)
	if ok, _ := d.ImageExists(ctx, d.ImageRef("test/bogus", "s1")); ok {
		t.Error("a failed build left its tag behind")
	}

	_, err = d.Build(ctx, BuildSpec{
		App: "test/nobase", Snapshot: "s1", BaseImage: "paastest-missing-base:none", Cmd: []string{"node", "server.js"},
		Files: os.DirFS("../testdata/apps/hello-v1"),
	}, io.Discard)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "paastest-missing-base:none") {
		t.Errorf("Build from a missing base = %v, want ErrNotFound naming the base", err)
	}

	if err := d.EnsureImage(ctx, base, io.Discard); err != nil {
		t.Errorf("EnsureImage of a local image = %v", err)
	}
	// Nothing listens on port 1: the pull fails fast without any registry.
	missing := "localhost:1/paastest/missing:latest"
	if err := d.EnsureImage(ctx, missing, io.Discard); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("EnsureImage(%s) = %v, want an error naming it", missing, err)
	}
}

// TestDockerUnitCannotReachHostLoopback checks that a unit cannot reach a
// service bound to the host's 127.0.0.1 through the bridge gateway, which is
// what keeps the platform's own loopback-only listeners private.
func TestDockerUnitCannotReachHostLoopback(t *testing.T) {
	d := testDocker(t)
	base := ensureHostBase(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	nw, err := dockerClient(t, d).NetworkInspect(ctx, d.cfg.Network, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var gateway string
	for _, c := range nw.IPAM.Config {
		if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
			gateway = c.Gateway
		}
	}
	if gateway == "" {
		t.Fatalf("network %s has no IPv4 gateway: %+v", d.cfg.Network, nw.IPAM.Config)
	}

	const probe = `
const net = require('net');
const s = net.connect({ host: process.env.TARGET_HOST, port: Number(process.env.TARGET_PORT) });
s.setTimeout(5000);
s.on('connect', () => { console.log('probe: connected'); process.exit(0); });
s.on('timeout', () => { console.log('probe: connect-failed TIMEOUT'); process.exit(3); });
s.on('error', (e) => { console.log('probe: connect-failed ' + e.code); process.exit(3); });
`
	var log bytes.Buffer
	ref, err := d.Build(ctx, BuildSpec{
		App: "test/probe", Snapshot: "s1", BaseImage: base, Cmd: []string{"node", "probe.js"},
		Files: fstest.MapFS{"probe.js": {Data: []byte(probe)}},
	}, &log)
	if err != nil {
		t.Fatalf("build probe: %v\n%s", err, log.String())
	}
	evs, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Start(ctx, UnitSpec{App: "test/probe", Snapshot: "s1", Release: "r1", Image: ref,
		Env: map[string]string{"TARGET_HOST": gateway, "TARGET_PORT": fmt.Sprint(port)}})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, evs, u.ID)
	var out []string
	for _, l := range collectLogs(t, ctx, d, u.ID) {
		out = append(out, l.Text)
	}
	t.Logf("probe of %s:%d exited %d: %q", gateway, port, ev.ExitCode, out)
	select {
	case <-accepted:
		t.Fatalf("the host's 127.0.0.1:%d listener accepted a connection from the unit", port)
	default:
	}
	if ev.ExitCode != 3 || len(out) == 0 || !strings.Contains(strings.Join(out, "\n"), "connect-failed") {
		t.Fatalf("probe exited %d with %q, want a failed connection", ev.ExitCode, out)
	}
}

// eventsAPI is a dockerAPI whose event stream fails once, then delivers an
// oom and a die for the same container.
type eventsAPI struct {
	dockerAPI // nil: any other call panics, which the test would report
	mu        sync.Mutex
	calls     []events.ListOptions
}

func (f *eventsAPI) Events(ctx context.Context, opts events.ListOptions) (<-chan events.Message, <-chan error) {
	f.mu.Lock()
	f.calls = append(f.calls, opts)
	n := len(f.calls)
	f.mu.Unlock()
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	if n == 1 {
		errs <- errors.New("connection reset")
		return msgs, errs
	}
	go func() {
		now := time.Now()
		attrs := map[string]string{LabelApp: "o/a", "exitCode": "137"}
		for _, m := range []events.Message{
			{Type: events.ContainerEventType, Action: events.ActionOOM, Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: now.UnixNano()},
			{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: now.UnixNano() + 1},
		} {
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errs
}

func TestEventsReconnectAndFoldOOM(t *testing.T) {
	api := &eventsAPI{}
	d := &Docker{api: api, cfg: DockerConfig{}.withDefaults()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.UnitID != "c1" || ev.App != "o/a" || ev.ExitCode != 137 || !ev.OOM {
			t.Errorf("event = %+v, want c1/o/a exit 137 OOM", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after a reconnect within 10s")
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("unexpected second event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.calls) < 2 || api.calls[0].Since != "" || api.calls[1].Since == "" {
		t.Errorf("Events calls = %+v, want a reconnect replaying from a since time", api.calls)
	}
	f := api.calls[0].Filters
	if !contains(f.Get("label"), LabelPlatform+"=1") || !contains(f.Get("event"), "die") || !contains(f.Get("event"), "oom") || !contains(f.Get("type"), "container") {
		t.Errorf("filters = label %v, event %v, type %v; want platform containers' die and oom", f.Get("label"), f.Get("event"), f.Get("type"))
	}
}
