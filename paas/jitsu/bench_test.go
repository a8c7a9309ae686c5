package jitsu_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
)

// BenchmarkIngest is ingest throughput with durability on (each answer
// waits for its event's commit; concurrent ingests share a commit), side by
// side with the same requests to a route that stores nothing:
//
//	go test ./paas/jitsu -run '^$' -bench Ingest -benchtime 3s
func BenchmarkIngest(b *testing.B) {
	tp := paastest.NewPlatform(b, paastest.Config{Dir: b.TempDir()})
	alice := tp.NewUser(b, "alice")
	const secret = "bench-write-key-0123456789"
	if r := tp.Do(b, "POST", "/api/alice/config/stream", alice.Basic(), `{"id":"s","name":"s","publicKeys":[{"id":"k","plaintext":"`+secret+`"}]}`); r.Status != 200 {
		b.Fatalf("stream: %d %s", r.Status, r.Body)
	}
	client := tp.Server.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	post := func(b *testing.B, path string) {
		req, _ := http.NewRequest("POST", tp.Server.URL+path, bytes.NewReader([]byte(`{"type":"page","url":"/home","n":1}`)))
		req.Header.Set("X-Write-Key", "k:"+secret)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", path, res.StatusCode)
		}
	}
	for _, c := range []struct{ name, method, path string }{
		{"baseline-schema", "GET", "/api/schema/stream"},
		{"ingest", "POST", "/api/s/track"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(8) // 16 clients on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if c.method == "GET" {
						res, err := client.Get(tp.Server.URL + c.path)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						continue
					}
					post(b, c.path)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkIngestToWebhook is the end-to-end latency of one event, from
// its ingest request to its delivery at a webhook on loopback, p50 and p99:
//
//	go test ./paas/jitsu -run '^$' -bench IngestToWebhook -benchtime 500x
func BenchmarkIngestToWebhook(b *testing.B) {
	tp := paastest.NewPlatform(b, paastest.Config{Dir: b.TempDir()})
	alice := tp.NewUser(b, "alice")
	c := alice.Basic()
	var mu sync.Mutex
	arrived := map[int]time.Time{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []struct{ N int }
		json.NewDecoder(r.Body).Decode(&batch)
		now := time.Now()
		mu.Lock()
		for _, e := range batch {
			arrived[e.N] = now
		}
		mu.Unlock()
	}))
	defer hook.Close()
	const secret = "bench-write-key-0123456789"
	for _, o := range []struct{ typ, body string }{
		{"stream", `{"id":"s","name":"s","publicKeys":[{"id":"k","plaintext":"` + secret + `"}]}`},
		{"destination", `{"id":"h","name":"h","destinationType":"webhook","url":"` + hook.URL + `"}`},
		{"link", `{"id":"l","fromId":"s","toId":"h"}`},
	} {
		if r := tp.Do(b, "POST", "/api/alice/config/"+o.typ, c, o.body); r.Status != 200 {
			b.Fatalf("%s: %d %s", o.typ, r.Status, r.Body)
		}
	}
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		req, _ := http.NewRequest("POST", tp.Server.URL+"/api/s/track", bytes.NewReader([]byte(`{"n":`+strconv.Itoa(i)+`}`)))
		req.Header.Set("X-Write-Key", "k:"+secret)
		res, err := tp.Server.Client().Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("ingest: %v %v", res, err)
		}
		res.Body.Close()
		for {
			mu.Lock()
			at, ok := arrived[i]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(start))
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
