package runtime_test

// Tests of the Swarm runtime against the real engine, on a single-node
// swarm that swarmtest makes when the engine is in none and leaves after.

import (
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/versions"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
	"github.com/selfhost/paas/runtime/swarmtest"
)

// swarmEngine returns a test-scoped Swarm runtime, the host base image, a
// context that ends after timeout or with the test, and its Events.
func swarmEngine(t *testing.T, timeout time.Duration) (*runtime.Swarm, string, context.Context, <-chan runtime.Event) {
	t.Helper()
	base := swarmtest.HostBase(t)
	s := swarmtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	evs, err := s.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, base, ctx, evs
}

// prepare makes the code of a test app ready.
func prepare(t *testing.T, ctx context.Context, s *runtime.Swarm, base, app, dir string) runtime.Prepared {
	t.Helper()
	code, err := s.Prepare(ctx, runtime.CodeSpec{App: app, Snapshot: "s1", BaseImage: base, Files: os.DirFS(dir)}, io.Discard)
	if err != nil {
		t.Fatalf("prepare %s: %v", dir, err)
	}
	return code
}

// untilUnit polls Units until one satisfies ok.
func untilUnit(t *testing.T, ctx context.Context, s *runtime.Swarm, what string, ok func(runtime.Unit) bool) runtime.Unit {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last []runtime.Unit
	for time.Now().Before(deadline) {
		units, err := s.Units(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range units {
			if ok(u) {
				return u
			}
		}
		last = units
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no unit %s within 60s; units: %+v", what, last)
	return runtime.Unit{}
}

// followUntil follows the logs of a running unit until a line contains
// text, then checks that cancelling ends Logs without an error.
func followUntil(t *testing.T, ctx context.Context, s *runtime.Swarm, id, text string) runtime.LogLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var found runtime.LogLine
	err := s.Logs(ctx, id, time.Time{}, func(l runtime.LogLine) {
		if found.Text == "" && strings.Contains(l.Text, text) {
			found = l
			cancel()
		}
	})
	switch {
	case err != nil:
		t.Fatalf("Logs: %v", err)
	case found.Text == "":
		t.Fatalf("Logs did not deliver %q within 30s", text)
	}
	return found
}

func TestSwarmUnitLifecycle(t *testing.T) {
	s, base, ctx, evs := swarmEngine(t, 5*time.Minute)
	code := prepare(t, ctx, s, base, "test/hello", "../testdata/apps/hello-v1")
	spec := runtime.UnitSpec{App: "test/hello", Snapshot: "s1", Release: "r1", Index: 0, Image: base,
		Code: code.Code, Cmd: []string{"node", "server.js"},
		Env: map[string]string{"GREETING": "hi", "PORT": "1"}} // PORT is the runtime's
	u, err := s.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Running || !strings.HasSuffix(u.Addr, ":8080") || u.App != "test/hello" || u.Release != "r1" {
		t.Fatalf("Start = %+v, want a running unit on port 8080", u)
	}
	// The ingress is a process of this host: the address must answer it.
	waitHTTP(t, u.Addr, "hello v1")

	if l := followUntil(t, ctx, s, u.ID, "hello v1 listening on 8080"); l.Stream != "stdout" || l.Time.IsZero() || l.UnitID != u.ID {
		t.Errorf("start line = %+v", l)
	}

	units, err := s.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 || units[0].ID != u.ID || !units[0].Running || units[0].Snapshot != "s1" || units[0].Index != 0 ||
		units[0].Image != base || units[0].Addr != u.Addr || units[0].Started.IsZero() {
		t.Fatalf("Units = %+v, want just %+v", units, u)
	}
	checkSwarmHardening(t, ctx, s, u.ID)
	var out bytes.Buffer
	if code, err := s.Exec(ctx, u.ID, []string{"node", "-e", "console.log(process.getuid())"}, &out); err != nil || code != 0 || strings.TrimSpace(out.String()) != "1000" {
		t.Errorf("Exec = %d, %v, output %q; want 1000 from the unit's user", code, err, out.String())
	}

	// A crash: Swarm restarts the unit as a new task, and the exit is an Event.
	task, _, err := dockertest.Client(t).TaskInspectWithRaw(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	dockertest.Kill(t, task.Status.ContainerStatus.ContainerID)
	ev := waitEvent(t, evs, u.ID)
	if ev.App != "test/hello" || ev.ExitCode != 137 || ev.Time.IsZero() {
		t.Errorf("kill event = %+v, want app test/hello, exit 137", ev)
	}
	again := untilUnit(t, ctx, s, "restarted by Swarm", func(x runtime.Unit) bool { return x.Running && x.ID != u.ID })
	if again.Index != 0 || again.Release != "r1" {
		t.Errorf("restarted unit = %+v, want unit 0 of r1", again)
	}
	waitHTTP(t, again.Addr, "hello v1")
	dead := untilUnit(t, ctx, s, "dead", func(x runtime.Unit) bool { return x.ID == u.ID })
	if dead.Running || dead.ExitCode != 137 || dead.Addr != "" {
		t.Errorf("the killed unit in Units = %+v, want stopped with exit 137", dead)
	}

	// A graceful Stop lets the app's SIGTERM handler exit 0, and leaves nothing.
	if err := s.Stop(ctx, again.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, evs, again.ID); ev.ExitCode != 0 {
		t.Errorf("graceful stop event = %+v, want exit 0", ev)
	}
	if err := s.Stop(ctx, again.ID, time.Second); err != nil {
		t.Errorf("Stop of a removed unit = %v, want nil", err)
	}
	if units, err := s.Units(ctx); err != nil || len(units) != 0 {
		t.Errorf("Units after Stop = %+v, %v; want none", units, err)
	}
	cli := dockertest.Client(t)
	prefix := filters.NewArgs(filters.Arg("label", "paas.prefix="+s.Config().Prefix))
	if svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: prefix}); err != nil || len(svcs) != 0 {
		t.Errorf("services after Stop: %d, %v", len(svcs), err)
	}
	if nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: prefix}); err != nil || len(nets) != 0 {
		t.Errorf("networks after the owner's last unit stopped: %+v, %v", nets, err)
	}
	if err := s.Logs(ctx, again.ID, time.Time{}, func(runtime.LogLine) {}); err == nil {
		t.Error("Logs of a removed unit succeeded")
	}
}

// checkSwarmHardening checks the unit's service and its container.
func checkSwarmHardening(t *testing.T, ctx context.Context, s *runtime.Swarm, id string) {
	t.Helper()
	cli := dockertest.Client(t)
	task, _, err := cli.TaskInspectWithRaw(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := cli.ServiceInspectWithRaw(ctx, task.ServiceID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{runtime.LabelPlatform: "1", "paas.prefix": s.Config().Prefix, runtime.LabelApp: "test/hello",
		runtime.LabelSnapshot: "s1", runtime.LabelRelease: "r1", runtime.LabelUnit: "0", "paas.port": "8080"}
	info, err := cli.ContainerInspect(ctx, task.Status.ContainerStatus.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if svc.Spec.Labels[k] != v || info.Config.Labels[k] != v {
			t.Errorf("label %s = %q on the service, %q on the container; want %q", k, svc.Spec.Labels[k], info.Config.Labels[k], v)
		}
	}
	if rp := svc.Spec.TaskTemplate.RestartPolicy; rp == nil || rp.Condition != swarm.RestartPolicyConditionOnFailure ||
		rp.MaxAttempts == nil || *rp.MaxAttempts == 0 || rp.Delay == nil || *rp.Delay == 0 {
		t.Errorf("restart policy = %+v, want on-failure with a delay and bounded attempts", rp)
	}
	hc, cfg := info.HostConfig, info.Config
	for _, c := range []struct {
		want string
		ok   bool
		have any
	}{
		{"capabilities: all dropped", len(hc.CapDrop) == 1 && strings.EqualFold(hc.CapDrop[0], "ALL"), hc.CapDrop},
		{"a read-only root", hc.ReadonlyRootfs, hc.ReadonlyRootfs},
		{"an init process", hc.Init != nil && *hc.Init, hc.Init},
		{"user 1000:1000", cfg.User == "1000:1000", cfg.User},
		{"the default pids limit", hc.PidsLimit != nil && *hc.PidsLimit == runtime.DefaultPids, hc.PidsLimit},
		{"memory = memory+swap = the default", hc.Memory == runtime.DefaultMemoryBytes && hc.MemorySwap == hc.Memory, [2]int64{hc.Memory, hc.MemorySwap}},
		{"the default CPUs", hc.NanoCPUs == runtime.DefaultNanoCPUs, hc.NanoCPUs},
		{"env GREETING=hi and PORT=8080 only", slices.Contains(cfg.Env, "PORT=8080") && !slices.Contains(cfg.Env, "PORT=1") && slices.Contains(cfg.Env, "GREETING=hi"), cfg.Env},
	} {
		if !c.ok {
			t.Errorf("want %s, have %v", c.want, c.have)
		}
	}
	if len(svc.Endpoint.Ports) != 0 || len(info.NetworkSettings.Ports) != 0 {
		t.Errorf("ports %v, %v: want nothing published", svc.Endpoint.Ports, info.NetworkSettings.Ports)
	}
	var tmp, code bool
	for _, m := range hc.Mounts {
		switch m.Target {
		case "/tmp":
			tmp = m.TmpfsOptions != nil && m.TmpfsOptions.SizeBytes > 0
		case "/app":
			code = m.ReadOnly
		}
	}
	if !tmp || !code {
		t.Errorf("mounts %+v: want a size-limited /tmp tmpfs and the code read-only at /app", hc.Mounts)
	}
	// Engines before API 1.44 (Docker 25) drop the service's
	// no-new-privileges unless their daemon sets it for every container.
	if slices.Contains(hc.SecurityOpt, "no-new-privileges:true") || slices.Contains(hc.SecurityOpt, "no-new-privileges") {
		return
	}
	sys, err := cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sys.SecurityOptions, "name=no-new-privileges") {
		return
	}
	if versions.LessThan(cli.ClientVersion(), "1.44") {
		t.Logf("engine %s (API %s) cannot set no-new-privileges on services: the unit runs without it", sys.ServerVersion, cli.ClientVersion())
		return
	}
	t.Errorf("SecurityOpt = %v, want no-new-privileges:true", hc.SecurityOpt)
}

func TestSwarmCrashingUnit(t *testing.T) {
	s, base, ctx, evs := swarmEngine(t, 3*time.Minute)
	code := prepare(t, ctx, s, base, "test/crash", "../testdata/apps/crash")
	u, err := s.Start(ctx, runtime.UnitSpec{App: "test/crash", Snapshot: "s1", Release: "r1", Index: 2, Image: base,
		Code: code.Code, Cmd: []string{"node", "server.js"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, evs, u.ID)
	if ev.ExitCode != 1 || ev.OOM || ev.App != "test/crash" {
		t.Errorf("crash event = %+v, want exit 1, not OOM, app test/crash", ev)
	}
	// Swarm's restart is a new task, whose exit is an event of its own.
	next := untilUnit(t, ctx, s, "restarted after the crash", func(x runtime.Unit) bool { return x.ID != u.ID && x.Index == 2 })
	if ev := waitEvent(t, evs, next.ID); ev.ExitCode != 1 {
		t.Errorf("second crash event = %+v, want exit 1", ev)
	}
	// The task has stopped, so Logs returns after replaying its output.
	var stderr []string
	logCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Logs(logCtx, u.ID, time.Time{}, func(l runtime.LogLine) {
		if l.Stream == "stderr" {
			stderr = append(stderr, l.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if logCtx.Err() != nil {
		t.Error("Logs of a stopped unit did not return on its own")
	}
	if !slices.Contains(stderr, "crashing") {
		t.Errorf("stderr = %q, want a line \"crashing\"", stderr)
	}
	// Starting the unit again replaces the service the crash left.
	u2, err := s.Start(ctx, runtime.UnitSpec{App: "test/crash", Snapshot: "s1", Release: "r1", Index: 2, Image: base,
		Code: code.Code, Cmd: []string{"node", "server.js"}})
	if err != nil {
		t.Fatalf("start over a crashed unit: %v", err)
	}
	if err := s.Stop(ctx, u2.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if units, err := s.Units(ctx); err != nil || len(units) != 0 {
		t.Errorf("Units after Stop = %+v, %v; want none", units, err)
	}
}

func TestSwarmStartErrors(t *testing.T) {
	s, _, ctx, _ := swarmEngine(t, 2*time.Minute)
	_, err := s.Start(ctx, runtime.UnitSpec{App: "test/nobase", Snapshot: "s1", Release: "r1", Image: "paasswarm-missing-base:none"})
	if err == nil {
		t.Fatal("Start of a missing image succeeded")
	}
	t.Logf("start of a missing image: %v", err)
	if units, err := s.Units(ctx); err != nil || len(units) != 0 {
		t.Errorf("a failed Start left units: %+v, %v", units, err)
	}
}

// TestSwarmOwnersIsolated: a unit cannot reach another owner's unit, by
// its overlay address or by the docker_gwbridge address the ingress dials.
func TestSwarmOwnersIsolated(t *testing.T) {
	s, base, ctx, evs := swarmEngine(t, 3*time.Minute)
	code := prepare(t, ctx, s, base, "bob/hello", "../testdata/apps/hello-v1")
	b, err := s.Start(ctx, runtime.UnitSpec{App: "bob/hello", Snapshot: "s1", Release: "r1", Image: base, Code: code.Code, Cmd: []string{"node", "server.js"}})
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, b.Addr, "hello v1")
	cli := dockertest.Client(t)
	task, _, err := cli.TaskInspectWithRaw(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cli.ContainerInspect(ctx, task.Status.ContainerStatus.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	var overlayIP string
	for _, ep := range info.NetworkSettings.Networks {
		overlayIP = ep.IPAddress
	}
	// An answer, not a connection, is what counts: a connection may be
	// accepted by whatever the host routes unknown addresses to.
	const probe = `
const targets = process.env.TARGETS.split(',');
let left = targets.length;
const done = (t, what) => { console.log(t + ' ' + what); if (--left === 0) process.exit(0); };
for (const t of targets) {
  const [host, port] = t.split(':');
  const req = require('http').get({ host, port: Number(port), timeout: 3000 }, (res) => {
    let body = '';
    res.on('data', (d) => body += d);
    res.on('end', () => done(t, 'answered ' + body));
  });
  req.on('timeout', () => { req.destroy(); done(t, 'timeout'); });
  req.on('error', (e) => done(t, e.code));
}
`
	pcode, err := s.Prepare(ctx, runtime.CodeSpec{App: "alice/probe", Snapshot: "s1", BaseImage: base, Files: fstest.MapFS{"probe.js": {Data: []byte(probe)}}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Start(ctx, runtime.UnitSpec{App: "alice/probe", Snapshot: "s1", Release: "r1", Image: base, Code: pcode.Code, Cmd: []string{"node", "probe.js"},
		Env: map[string]string{"TARGETS": overlayIP + ":8080," + b.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs, a.ID)
	var lines []string
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Logs(lctx, a.ID, time.Time{}, func(l runtime.LogLine) { lines = append(lines, l.Text) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("probe: %q", lines)
	for _, l := range lines {
		if strings.HasSuffix(l, "answered hello v1") {
			t.Errorf("alice's unit reached bob's: %s", l)
		}
	}
}
