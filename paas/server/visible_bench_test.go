package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/selfhost/paas/runtime"
)

// BenchmarkChangeVisible is the flat-cost goal's propagation side: on a
// platform with 1,000 apps, how long a new app takes to be routed by the
// ingress (a stopped app's 503 instead of 404) and to resolve in the DNS,
// from the answer to its creation; p50 and p99 (the goal: under 50 ms).
//
//	go test ./paas/server -run '^$' -bench ChangeVisible -benchtime 50x
func BenchmarkChangeVisible(b *testing.B) {
	s := startServer(b, b.TempDir(), runtime.NewFake(), "base")
	for i := range 1000 {
		s.must(201, "POST", fmt.Sprintf("/apps/admin/seed%d", i), []byte(fmt.Sprintf(`{"name":"seed%d"}`, i)), nil)
	}
	c := &mdns.Client{Timeout: time.Second}
	var ingress, dnsLat []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("new%d", i)
		s.must(201, "POST", "/apps/admin/"+name, []byte(`{"name":"`+name+`"}`), nil)
		t0 := time.Now()
		routed, resolved := false, false
		for !routed || !resolved {
			if !routed {
				if code, _, err := s.get(name + ".localhost"); err == nil && code == 503 {
					routed = true
					ingress = append(ingress, time.Since(t0))
				}
			}
			if !resolved {
				m := new(mdns.Msg)
				m.SetQuestion(name+".localhost.", mdns.TypeA)
				if r, _, err := c.Exchange(m, s.dns); err == nil && len(r.Answer) > 0 {
					resolved = true
					dnsLat = append(dnsLat, time.Since(t0))
				}
			}
			if time.Since(t0) > 5*time.Second {
				b.Fatalf("%s not visible within 5s (routed %v, resolved %v)", name, routed, resolved)
			}
		}
	}
	q := func(l []time.Duration, p float64) float64 {
		slices.Sort(l)
		return float64(l[int(float64(len(l)-1)*p)]) / 1e6
	}
	b.ReportMetric(q(ingress, 0.5), "ingress-p50-ms")
	b.ReportMetric(q(ingress, 0.99), "ingress-p99-ms")
	b.ReportMetric(q(dnsLat, 0.5), "dns-p50-ms")
	b.ReportMetric(q(dnsLat, 0.99), "dns-p99-ms")
}
