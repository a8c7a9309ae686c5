package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/runtime"
)

// testServer is a running platform on loopback ports.
type testServer struct {
	t        testing.TB
	api      string // host:port
	ingress  string // host:port
	dns      string // host:port (UDP and TCP), when DNS is enabled
	password string
	stop     func()
}

// startServer runs Run with rt on dataDir until stop (or the test's end);
// opts adjust the configuration.
func startServer(t testing.TB, dataDir string, rt runtime.Runtime, baseImage string, opts ...func(*Config)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := Defaults
	cfg.DataDir, cfg.APIAddr, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.DNSAddr = dataDir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminPassword, cfg.Runtime, cfg.BaseImage = "admin-password-1", rt, baseImage
	dnsReady := make(chan string, 1)
	cfg.Ready = func(api, http string) { ready <- [2]string{api, http} }
	cfg.DNSReady = func(addr string) { dnsReady <- addr }
	for _, o := range opts {
		o(&cfg)
	}
	go func() { done <- Run(ctx, cfg, log) }()
	s := &testServer{t: t, password: cfg.AdminPassword}
	for s.api == "" || (cfg.DNSAddr != "" && s.dns == "") {
		select {
		case addrs := <-ready:
			s.api, s.ingress = loopback(addrs[0]), loopback(addrs[1])
		case s.dns = <-dnsReady:
		case err := <-done:
			cancel()
			t.Fatalf("server did not start: %v", err)
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("server did not start within 60s")
		}
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with error: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("server did not stop within 60s")
		}
	}
	t.Cleanup(s.stop)
	return s
}

// on returns s bound to another test (a subtest), for failures.
func (s *testServer) on(t testing.TB) *testServer {
	c := *s
	c.t = t
	return &c
}

// mustJSON sends body as JSON and fails the test unless the answer is 2xx.
func (s *testServer) mustJSON(method, path string, body any) {
	s.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	var raw json.RawMessage
	if got := s.call(method, path, data, &raw); got/100 != 2 {
		s.t.Fatalf("%s %s: status %d: %s", method, path, got, raw)
	}
}

// call makes an admin API request and decodes a JSON answer into out (if not nil).
func (s *testServer) call(method, path string, body []byte, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.api+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth("admin", s.password)
	if len(body) > 0 && body[0] != '{' && body[0] != '[' {
		req.Header.Set("Content-Type", "application/octet-stream")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	if resp.StatusCode >= 300 && testing.Verbose() {
		s.t.Logf("%s %s → %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp.StatusCode
}

// must is call that fails the test unless the status is want.
func (s *testServer) must(want int, method, path string, body []byte, out any) {
	s.t.Helper()
	var raw json.RawMessage
	if got := s.call(method, path, body, &raw); got != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

var ingressClient = &http.Client{Timeout: 10 * time.Second}

// get fetches http://<host>/ through the ingress.
func (s *testServer) get(host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.ingress+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := ingressClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}

// waitFor polls the ingress until host answers 200 with want, or fails.
func (s *testServer) waitFor(host, want string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		code, body, err := s.get(host)
		if err == nil && code == 200 && body == want {
			return
		}
		last = body
		if err != nil {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s did not answer %q within %s (last: %q)", host, want, within, last)
}

// startBenchServer runs a quiet platform for a benchmark.
func startBenchServer(b *testing.B, rt runtime.Runtime, baseImage string) *testServer {
	return startServer(b, b.TempDir(), rt, baseImage)
}

// loopback turns a wildcard listen address into one a client can dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "::" && host != "0.0.0.0") {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}
