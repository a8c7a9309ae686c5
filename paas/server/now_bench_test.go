package server_test

import (
	"testing"
	"time"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime/dockertest"
)

// BenchmarkNowWake is the scale-to-zero budget, side by side in one run:
//   - warm: a request to a READY deployment through the ingress;
//   - wake: the first request to a FROZEN one, held by the ingress while
//     the platform starts its unit again, until its answer.
//
// Compare wake with BenchmarkBareDockerRun (a container of a prebuilt image
// to its first answer) and BenchmarkDeploySideBySide:
//
//	go test ./paas/server -run '^$' -bench 'NowWake|BareDockerRun' -benchtime 5x
func BenchmarkNowWake(b *testing.B) {
	d := dockertest.New(b)
	base := dockertest.HostBase(b, d)
	s := startServer(b, b.TempDir(), d, base, func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond })
	var dep nowDeployment
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(b, "wake", "awake"), &dep)
	s.waitFor(dep.Host, "awake", time.Minute)

	get := func(b *testing.B) {
		if code, body, err := s.get(dep.Host); err != nil || code != 200 || body != "awake" {
			b.Fatalf("GET %s: %d %q %v", dep.Host, code, body, err)
		}
	}
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			get(b)
		}
	})
	b.Run("wake", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			waitState(b, s, dep.UID, "FROZEN", time.Minute)
			for unitsOf(b, d, dep.UID) != 0 {
				time.Sleep(10 * time.Millisecond)
			}
			b.StartTimer()
			get(b)
		}
	})
}
