package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// Benchmarks against the real engine. Run them with
//
//	go test ./paas/server -run '^$' -bench . -benchtime 5x
//
// (the deploy benchmarks are seconds per op, so a handful of iterations is enough).

// BenchmarkDeployToServing measures activating a new snapshot of the test
// app on a started app until the proxy answers with it: build, start,
// health check and route switch. "cold" builds a new image each time; "rollback"
// re-activates snapshots whose images exist.
func BenchmarkDeployToServing(b *testing.B) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	s := startBenchServer(b, d, base)
	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello"}`), nil)
	v1 := paastest.TarGzDir(b, "../../testdata/apps/hello-v1")
	v2 := paastest.TarGzDir(b, "../../testdata/apps/hello-v2")
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", v1, nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v2", v2, nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil) // newest snapshot: v2
	s.waitFor("hello.localhost", "hello v2", time.Minute)

	b.Run("cold", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			id := fmt.Sprintf("cold-%d-%d", time.Now().UnixNano(), i)
			want, archive := "hello v1", v1
			if i%2 == 1 {
				want, archive = "hello v2", v2
			}
			// Same files, new snapshot id: a new image tag, so a real build (the layer cache still helps, as in production).
			s.must(201, "POST", "/apps/admin/hello/snapshots/"+id, archive, nil)
			b.StartTimer()
			s.must(200, "POST", "/apps/admin/hello/snapshots/"+id+"/activate", nil, nil)
			s.waitFor("hello.localhost", want, time.Minute)
		}
	})
	b.Run("rollback", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			id, want := "v1", "hello v1"
			if i%2 == 1 {
				id, want = "v2", "hello v2"
			}
			s.must(200, "POST", "/apps/admin/hello/snapshots/"+id+"/activate", nil, nil)
			s.waitFor("hello.localhost", want, time.Minute)
		}
	})
}

// BenchmarkBareDockerRun is the baseline for BenchmarkDeployToServing: start
// a container of the same (already built) image through the runtime and wait
// for its first HTTP answer, with no platform around it.
func BenchmarkBareDockerRun(b *testing.B) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	ctx := context.Background()
	files := paastest.DirFS(b, "../../testdata/apps/hello-v1")
	ref, err := d.Build(ctx, runtime.BuildSpec{App: "bench/hello", Snapshot: "v1", BaseImage: base, Files: files,
		Cmd: []string{"node", "server.js"}}, nopWriter{})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	for i := 0; b.Loop(); i++ {
		u, err := d.Start(ctx, runtime.UnitSpec{App: "bench/hello", Snapshot: "v1", Release: fmt.Sprintf("r%d", i), Image: ref, Port: 8080})
		if err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := client.Get("http://" + u.Addr + "/")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no answer from %s: %v", u.Addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		if err := d.Stop(ctx, u.ID, time.Second); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkServeApp compares requests to a running test-app container
// through the ingress proxy with requests straight to the container.
func BenchmarkServeApp(b *testing.B) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	s := startBenchServer(b, d, base)
	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello"}`), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", paastest.TarGzDir(b, "../../testdata/apps/hello-v1"), nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil)
	s.waitFor("hello.localhost", "hello v1", time.Minute)
	units, err := d.Units(context.Background())
	if err != nil || len(units) != 1 {
		b.Fatalf("want one unit, have %d (%v)", len(units), err)
	}
	b.Run("direct", func(b *testing.B) { paastest.Load(b, "http://"+units[0].Addr+"/", "") })
	b.Run("proxy", func(b *testing.B) { paastest.Load(b, "http://"+s.ingress+"/", "hello.localhost") })
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
