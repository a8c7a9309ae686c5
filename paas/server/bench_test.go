package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// BenchmarkDeploySideBySide is the deploy-speed goal, measured in one run
// on one engine, side by side (run it with -benchtime 1x):
//   - bare: a bare `docker run` of a prebuilt image of the hello app (the
//     runtime's Start of an image built with Docker.Build) until its first
//     HTTP answer;
//   - deploy: from the start of a new snapshot's upload (POST snapshot, then
//     activate) until the proxy answers with the new version;
//   - rollback: activating an earlier snapshot until the proxy answers with it;
//
// five rounds of each, interleaved, reported as medians and ratios to
// bare; then 20 consecutive deploys under a constant client load through
// the proxy, reporting the failed requests (anything but a 200 from the
// old or the new version).
func BenchmarkDeploySideBySide(b *testing.B) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	ctx := context.Background()
	s := startBenchServer(b, d, base)
	// Built after the server started: its collection at start removes
	// platform images, which deploys no longer use.
	files := paastest.DirFS(b, "../../testdata/apps/hello-v1")
	image, err := d.Build(ctx, runtime.BuildSpec{App: "bench/bare", Snapshot: "v1", BaseImage: base, Files: files,
		Cmd: []string{"node", "server.js"}}, nopWriter{})
	if err != nil {
		b.Fatal(err)
	}
	const host = "hello.localhost"
	v1 := paastest.TarGzDir(b, "../../testdata/apps/hello-v1")
	v2 := paastest.TarGzDir(b, "../../testdata/apps/hello-v2")
	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello"}`), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", v1, nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v2", v2, nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil) // newest snapshot: v2
	s.waitFor(host, "hello v2", time.Minute)
	seq := 0
	deployNew := func(i int) {
		seq++
		want, archive := "hello v1", v1
		if i%2 == 1 {
			want, archive = "hello v2", v2
		}
		id := fmt.Sprintf("new-%d", seq)
		s.must(201, "POST", "/apps/admin/hello/snapshots/"+id, archive, nil)
		s.must(200, "POST", "/apps/admin/hello/snapshots/"+id+"/activate", nil, nil)
		s.waitForFast(host, want, time.Minute)
	}

	for b.Loop() {
		const rounds = 5
		var bare, deploy, rollback []time.Duration
		// Each measurement starts on a quiet engine: the previous deploy's
		// old release has drained (in the background, after its answer).
		idle := func() {
			deadline := time.Now().Add(time.Minute)
			for len(appUnits(b, d, "admin/hello")) != 1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		for i := range rounds {
			idle()
			start := time.Now()
			u := bareRun(b, d, image, fmt.Sprintf("r%d-%d", seq, i))
			bare = append(bare, time.Since(start))
			if err := d.Stop(ctx, u.ID, time.Second); err != nil {
				b.Fatal(err)
			}

			idle()
			start = time.Now()
			deployNew(i)
			deploy = append(deploy, time.Since(start))

			idle()
			start = time.Now()
			id, want := "v2", "hello v2"
			if i%2 == 1 {
				id, want = "v1", "hello v1"
			}
			s.must(200, "POST", "/apps/admin/hello/snapshots/"+id+"/activate", nil, nil)
			s.waitForFast(host, want, time.Minute)
			rollback = append(rollback, time.Since(start))
		}
		mb, md, mr := median(bare), median(deploy), median(rollback)
		b.ReportMetric(ms(mb), "bare-ms")
		b.ReportMetric(ms(md), "deploy-ms")
		b.ReportMetric(ms(mr), "rollback-ms")
		b.ReportMetric(float64(md)/float64(mb), "deploy/bare")
		b.ReportMetric(float64(mr)/float64(mb), "rollback/bare")
		b.Logf("bare %v; deploy (upload to serving) %v; rollback %v", bare, deploy, rollback)
		if os.Getenv("BENCH_DEBUG") != "" {
			var logs struct {
				Data []struct{ Timestamp, Text string }
			}
			s.must(200, "POST", "/logs/admin/hello", []byte(`{"from":"NOW-1DAY","until":"NOW","rows":60}`), &logs)
			for _, l := range logs.Data {
				b.Log(l.Timestamp, l.Text)
			}
		}

		ok, failed := underLoad(b, s, host, func() {
			for i := range 20 {
				deployNew(i)
			}
		})
		b.ReportMetric(float64(failed), "failed-requests")
		b.ReportMetric(float64(ok), "requests")
	}
}

// bareRun starts a unit of image and waits for its first HTTP answer.
func bareRun(b *testing.B, d *runtime.Docker, image, release string) runtime.Unit {
	u, err := d.Start(context.Background(), runtime.UnitSpec{App: "bench/bare", Snapshot: "v1", Release: release, Image: image, Port: 8080})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get("http://" + u.Addr + "/")
		if err == nil {
			resp.Body.Close()
			return u
		}
		if time.Now().After(deadline) {
			b.Fatalf("no answer from %s: %v", u.Addr, err)
		}
		time.Sleep(pollEvery)
	}
}

// pollEvery is how often both sides of the comparison look for an answer.
const pollEvery = 5 * time.Millisecond

// underLoad runs fn while 4 clients send requests through the proxy
// without pause, and counts the answers: ok (200) and failed (anything else).
func underLoad(b *testing.B, s *testServer, host string, fn func()) (ok, failed int64) {
	var okN, failedN atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+s.ingress+"/", nil)
				req.Host = host
				resp, err := client.Do(req)
				if err != nil {
					failedN.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.HasPrefix(string(body), "hello v") {
					okN.Add(1)
				} else {
					failedN.Add(1)
				}
			}
		}()
	}
	fn()
	close(stop)
	wg.Wait()
	return okN.Load(), failedN.Load()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
	s, unit := startHelloUnit(b, `{"name":"hello"}`)
	b.Run("direct", func(b *testing.B) { paastest.Load(b, "http://"+unit+"/", "") })
	b.Run("proxy", func(b *testing.B) { paastest.Load(b, "http://"+s.ingress+"/", "hello.localhost") })
}

// startHelloUnit runs a server on Docker with the hello app, created from
// the Nodejitsu body app, serving from one unit, and returns the server
// and that unit's address.
func startHelloUnit(b *testing.B, app string) (*testServer, string) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	s := startBenchServer(b, d, base)
	s.must(201, "POST", "/apps/admin/hello", []byte(app), nil)
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", paastest.TarGzDir(b, "../../testdata/apps/hello-v1"), nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil)
	s.waitFor("hello.localhost", "hello v1", time.Minute)
	units, err := d.Units(context.Background())
	if err != nil || len(units) != 1 {
		b.Fatalf("want one unit, have %d (%v)", len(units), err)
	}
	return s, units[0].Addr
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
