package runtime_test

// Tests of the Docker runtime against a real engine. They run on a runtime of
// their own from dockertest (skipped without an engine, failing under CI=true)
// that removes what they create.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// engine returns a test-scoped Docker runtime, the host base image and a
// context that ends after timeout or with the test.
func engine(t *testing.T, timeout time.Duration) (*runtime.Docker, string, context.Context) {
	t.Helper()
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return d, base, ctx
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func buildApp(t *testing.T, ctx context.Context, d *runtime.Docker, base, app, dir string, install bool) string {
	t.Helper()
	var log bytes.Buffer
	ref, err := d.Build(ctx, runtime.BuildSpec{
		App: "test/" + app, Snapshot: "s1", BaseImage: base,
		Files: os.DirFS(dir), Cmd: []string{"node", "server.js"}, Install: install,
	}, &log)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", app, err, log.String())
	}
	return ref
}

// waitEvent returns the first event of unit id, failing after a bounded wait.
func waitEvent(t *testing.T, ch <-chan runtime.Event, id string) runtime.Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed before the exit of %s", short(id))
			}
			if ev.UnitID == id {
				return ev
			}
		case <-timeout:
			t.Fatalf("no exit event for unit %s within 60s", short(id))
		}
	}
}

// collectLogs returns everything a (finished) unit wrote.
func collectLogs(t *testing.T, ctx context.Context, d *runtime.Docker, id string) []runtime.LogLine {
	t.Helper()
	var lines []runtime.LogLine
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.Logs(ctx, id, time.Time{}, func(l runtime.LogLine) { lines = append(lines, l) }); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return lines
}

func TestDockerUnitLifecycle(t *testing.T) {
	d, base, ctx := engine(t, 5*time.Minute)

	evs, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ref := buildApp(t, ctx, d, base, "hello", "../testdata/apps/hello-v1", false)
	var log bytes.Buffer
	again, err := d.Build(ctx, runtime.BuildSpec{App: "test/hello", Snapshot: "s1", BaseImage: base, Files: os.DirFS("../testdata/apps/hello-v1"), Cmd: []string{"node", "server.js"}}, &log)
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
	if len(images) != 1 || images[0] != (runtime.Image{Ref: ref, App: "test/hello", Snapshot: "s1"}) {
		t.Fatalf("Images = %+v, want just %s", images, ref)
	}

	u, err := d.Start(ctx, runtime.UnitSpec{
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
	startLine := make(chan runtime.LogLine, 1)
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- d.Logs(logCtx, u.ID, time.Time{}, func(l runtime.LogLine) {
			if strings.Contains(l.Text, "hello v1 listening on 8080") {
				select {
				case startLine <- l:
				default:
				}
			}
		})
	}()

	body := waitHTTP(t, u.Addr, "hello v1")
	t.Logf("unit %s at %s answered %q", short(u.ID), u.Addr, body)

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

	// An exit the platform did not ask for must surface as an runtime.Event.
	dockertest.Kill(t, u.ID)
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
	u2, err := d.Start(ctx, runtime.UnitSpec{App: "test/hello", Snapshot: "s1", Release: "r1", Index: 0, Image: ref, Port: 3000})
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

func checkHardening(t *testing.T, ctx context.Context, d *runtime.Docker, id string) {
	t.Helper()
	info, err := dockertest.Client(t).ContainerInspect(ctx, id)
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
	if hc.Init == nil || !*hc.Init {
		t.Error("the unit runs without an init process (SIGTERM would not reach node as PID 1)")
	}
	if cfg.User != "1000:1000" {
		t.Errorf("User = %q, want 1000:1000", cfg.User)
	}
	if !slices.Contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("SecurityOpt = %v, want no-new-privileges:true", hc.SecurityOpt)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != runtime.DefaultPids {
		t.Errorf("PidsLimit = %v, want %d", hc.PidsLimit, runtime.DefaultPids)
	}
	if hc.Memory != runtime.DefaultMemoryBytes || hc.MemorySwap != runtime.DefaultMemoryBytes {
		t.Errorf("Memory/MemorySwap = %d/%d, want %d", hc.Memory, hc.MemorySwap, runtime.DefaultMemoryBytes)
	}
	if hc.NanoCPUs != runtime.DefaultNanoCPUs {
		t.Errorf("NanoCPUs = %d, want %d", hc.NanoCPUs, runtime.DefaultNanoCPUs)
	}
	if !strings.Contains(hc.Tmpfs["/tmp"], "size=") {
		t.Errorf("Tmpfs = %v, want a size-limited /tmp", hc.Tmpfs)
	}
	if hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("RestartPolicy = %q, want none", hc.RestartPolicy.Name)
	}
	if !slices.Contains(cfg.Env, "PORT=8080") || slices.Contains(cfg.Env, "PORT=1") || !slices.Contains(cfg.Env, "GREETING=hi") {
		t.Errorf("Env = %v, want GREETING=hi and PORT=8080 only", cfg.Env)
	}
	for k, v := range map[string]string{runtime.LabelPlatform: "1", runtime.LabelApp: "test/hello", runtime.LabelSnapshot: "s1", runtime.LabelRelease: "r1", runtime.LabelUnit: "0"} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	if _, ok := info.NetworkSettings.Networks[d.Config().Network]; !ok || len(info.NetworkSettings.Ports) != 0 {
		t.Errorf("networks %v, ports %v: want only the platform network, nothing published", info.NetworkSettings.Networks, info.NetworkSettings.Ports)
	}
}

func TestDockerCrashingUnit(t *testing.T) {
	d, base, ctx := engine(t, 3*time.Minute)
	evs, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot id exercises the quoting of the generated LABEL line.
	const snap = `s1 "$HOME" \`
	ref, err := d.Build(ctx, runtime.BuildSpec{App: "test/crash", Snapshot: snap, BaseImage: base,
		Files: os.DirFS("../testdata/apps/crash"), Cmd: []string{"node", "server.js"}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if images, err := d.Images(ctx); err != nil || len(images) != 1 || images[0] != (runtime.Image{Ref: ref, App: "test/crash", Snapshot: snap}) {
		t.Fatalf("Images = %+v, %v; want %s with snapshot %q", images, err, ref, snap)
	}
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/crash", Snapshot: snap, Release: "r1", Index: 2, Image: ref, Port: 8080})
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
	if !slices.Contains(stderr, "crashing") {
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
	u2, err := d.Start(ctx, runtime.UnitSpec{App: "test/crash", Snapshot: snap, Release: "r1", Index: 2, Image: ref})
	if err != nil {
		t.Fatalf("restart of a crashed unit: %v", err)
	}
	waitEvent(t, evs, u2.ID)
	if err := d.Stop(ctx, u2.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Logs(ctx, u2.ID, time.Time{}, func(runtime.LogLine) {}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs of a removed unit = %v, want runtime.ErrNotFound", err)
	}
}

func TestDockerBuild(t *testing.T) {
	d, base, ctx := engine(t, 3*time.Minute)

	// Install runs npm inside the build (offline: the app has no
	// dependencies), proving the base image's npm works.
	ref := buildApp(t, ctx, d, base, "hello2", "../testdata/apps/hello-v2", true)
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/hello2", Snapshot: "s1", Release: "r1", Image: ref, Port: 5000,
		Limits: runtime.Limits{MemoryBytes: 128 << 20, NanoCPUs: 250_000_000, Pids: 64}})
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, u.Addr, "hello v2")
	info, err := dockertest.Client(t).ContainerInspect(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hc := info.HostConfig; hc.Memory != 128<<20 || hc.NanoCPUs != 250_000_000 || hc.PidsLimit == nil || *hc.PidsLimit != 64 {
		t.Errorf("limits = %d/%d/%v, want the runtime.UnitSpec's", hc.Memory, hc.NanoCPUs, hc.PidsLimit)
	}
	if err := d.Stop(ctx, u.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	_, err = d.Build(ctx, runtime.BuildSpec{
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

	_, err = d.Build(ctx, runtime.BuildSpec{
		App: "test/nobase", Snapshot: "s1", BaseImage: "paastest-missing-base:none", Cmd: []string{"node", "server.js"},
		Files: os.DirFS("../testdata/apps/hello-v1"),
	}, io.Discard)
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "paastest-missing-base:none") {
		t.Errorf("Build from a missing base = %v, want runtime.ErrNotFound naming the base", err)
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
	d, base, ctx := engine(t, 3*time.Minute)

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

	if err := d.EnsureNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	nw, err := dockertest.Client(t).NetworkInspect(ctx, d.Config().Network, network.InspectOptions{})
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
		t.Fatalf("network %s has no IPv4 gateway: %+v", d.Config().Network, nw.IPAM.Config)
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
	ref, err := d.Build(ctx, runtime.BuildSpec{
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
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/probe", Snapshot: "s1", Release: "r1", Image: ref,
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
