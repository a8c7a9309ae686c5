package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
	"github.com/selfhost/paas/runtime/swarmtest"
)

// TestSwarmLifecycle runs the deploy flow on a single-node swarm: deploy,
// a zero-downtime switch under load, rollback, a crashed unit replaced
// with its exit recorded, and a deletion that leaves nothing behind.
func TestSwarmLifecycle(t *testing.T) {
	base := swarmtest.HostBase(t)
	sw := swarmtest.New(t)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, sw, base)
	const host = "hello.localhost"
	running := func() []runtime.Unit {
		return slices.DeleteFunc(appUnits(t, sw, "admin/hello"), func(u runtime.Unit) bool { return !u.Running })
	}
	// theTask is the task of the app's one running unit.
	theTask := func() swarm.Task {
		t.Helper()
		units := running()
		if len(units) != 1 {
			t.Fatalf("want 1 running unit, have %+v", units)
		}
		task, _, err := dockertest.Client(t).TaskInspectWithRaw(context.Background(), units[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return task
	}

	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello","env":{"GREETING":"hi"},"memory":128,"cpus":0.25}`), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", paastest.TarGzDir(t, "../../testdata/apps/hello-v1"), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v2", paastest.TarGzDir(t, "../../testdata/apps/hello-v2"), nil)
	s.must(200, "POST", "/apps/admin/hello/snapshots/v1/activate", nil, nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil)
	s.waitFor(host, "hello v1", 60*time.Second)

	t.Log("step: per-app limits reach the service")
	if l := theTask().Spec.Resources.Limits; l == nil || l.MemoryBytes != 128<<20 || l.NanoCPUs != 250_000_000 {
		t.Errorf("task limits %+v, want 128 MiB and 0.25 CPU", l)
	}

	t.Log("step: zero-downtime switch under load")
	load := hammer(s, host)
	s.must(200, "POST", "/apps/admin/hello/snapshots/v2/activate", nil, nil)
	s.waitFor(host, "hello v2", 30*time.Second)
	time.Sleep(2 * time.Second) // keep asking while the old release drains
	requests, failures, bodies := load()
	t.Logf("%d requests during the switch, %d failed", requests, failures)
	if failures != 0 {
		t.Fatalf("%d of %d requests failed during the switch", failures, requests)
	}
	if !bodies["hello v1"] || !bodies["hello v2"] {
		t.Errorf("answers during the switch: %v, want both hello v1 and hello v2", bodies)
	}

	t.Log("step: rollback")
	s.must(200, "POST", "/apps/admin/hello/snapshots/v1/activate", nil, nil)
	s.waitFor(host, "hello v1", 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for len(appUnits(t, sw, "admin/hello")) != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // the old release drains after the answer
	}
	if us := appUnits(t, sw, "admin/hello"); len(us) != 1 {
		t.Fatalf("after the rollback's drain: %d units, want 1", len(us))
	}

	t.Log("step: a crashed unit comes back and its exit is recorded")
	func() {
		before := theTask()
		dockertest.Kill(t, before.Status.ContainerStatus.ContainerID)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if us := running(); len(us) == 1 && us[0].ID != before.ID {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		s.waitFor(host, "hello v1", 30*time.Second)
		if after := theTask(); after.ID == before.ID {
			t.Fatalf("the killed unit %s was not replaced", before.ID)
		}
		deadline = time.Now().Add(10 * time.Second)
		for countLogLines(s, "crashed (exit code 137)") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the platform's log does not record the unit's exit 137")
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()

	t.Log("step: a server restart adopts the running unit")
	func() {
		before := theTask()
		s.stop()
		s = startServer(t, dataDir, sw, base)
		s.waitFor(host, "hello v1", 30*time.Second)
		if after := theTask(); after.ID != before.ID {
			t.Errorf("the unit changed across the restart: %s, then %s", before.ID, after.ID)
		}
	}()

	t.Log("step: delete leaves nothing")
	s.must(200, "DELETE", "/apps/admin/hello", nil, nil)
	s.waitStatus(host, http.StatusNotFound, 5*time.Second)
	ctx := context.Background()
	cli := dockertest.Client(t)
	prefix := filters.NewArgs(filters.Arg("label", "paas.prefix="+sw.Config().Prefix))
	if svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: prefix}); err != nil || len(svcs) != 0 {
		t.Errorf("services left after delete: %d, %v", len(svcs), err)
	}
	if cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: prefix}); err != nil || len(cs) != 0 {
		t.Errorf("containers left after delete: %d, %v", len(cs), err)
	}
	if vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: prefix}); err != nil || len(vs.Volumes) != 0 {
		t.Errorf("volumes left after delete: %d, %v", len(vs.Volumes), err)
	}
	if ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: prefix}); err != nil || len(ns) != 0 {
		t.Errorf("networks left after delete: %d, %v", len(ns), err)
	}
}

// TestSwarmServices runs the services flow on a single-node swarm: redis
// and postgresql servers as Swarm services, bound to an app whose units
// reach them over the instances' overlay networks.
func TestSwarmServices(t *testing.T) {
	base := swarmtest.HostBase(t)
	testServices(t, swarmtest.New(t), base, runtime.KindRedis, runtime.KindPostgreSQL)
}

// hammer asks host for its page until the returned function is called,
// which reports how many requests were sent, how many failed and the
// answers seen.
func hammer(s *testServer, host string) func() (requests, failures int, bodies map[string]bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	bodies := map[string]bool{}
	var requests, failures int
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			code, body, err := s.get(host)
			requests++
			if err == nil && code == http.StatusOK {
				bodies[body] = true
				continue
			}
			failures++
			s.t.Logf("request failed during the switch: code %d err %v body %q", code, err, body)
		}
	}()
	return func() (int, int, map[string]bool) {
		cancel()
		<-done
		return requests, failures, bodies
	}
}

// TestEngineSetting: an engine the platform does not know is refused at start.
func TestEngineSetting(t *testing.T) {
	cfg := server.Defaults
	cfg.DataDir, cfg.Engine = t.TempDir(), "kubernetes"
	err := server.Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), `engine setting: "kubernetes"`) {
		t.Fatalf("Run with engine kubernetes = %v, want an engine setting error", err)
	}
}
