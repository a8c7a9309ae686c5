package paastest

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchClients multiplies GOMAXPROCS to get the number of concurrent
// clients; latency-bound loopback requests need more than one per core to
// keep the CPUs busy.
const benchClients = 4

// Load issues b.N GETs from parallel clients and reports throughput and
// per-request latency percentiles.
func Load(b *testing.B, url, host string) {
	LoadWith(b, &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true}, url, host)
}

// LoadWith is Load through tr (TLS settings, no keep-alive: one handshake
// per request).
func LoadWith(b *testing.B, tr *http.Transport, url, host string) {
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(benchClients)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Host = host
		for pb.Next() {
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat = append(lat, time.Since(t0))
			if err != nil || res.StatusCode != http.StatusOK {
				b.Errorf("status %d, body err %v", res.StatusCode, err)
				return
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()

	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
}
