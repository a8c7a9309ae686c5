package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"golang.org/x/crypto/bcrypt"
)

// testServer is a running platform on loopback ports.
type testServer struct {
	t        testing.TB
	api      string // host:port
	ingress  string // host:port
	dns      string // host:port (UDP and TCP), when DNS is enabled
	password string
	cancel   context.CancelFunc // ends the run; stop also waits for it
	run      *runResult
	stop     func()
}

// runResult is what Run returned, once finished is closed.
type runResult struct {
	finished chan struct{}
	err      error
}

// startServer runs Run with rt on dataDir until stop (or the test's end);
// opts adjust the configuration.
func startServer(t testing.TB, dataDir string, rt runtime.Runtime, baseImage string, opts ...func(*server.Config)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := server.Defaults
	cfg.DataDir, cfg.APIAddr, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.DNSAddr = dataDir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AdminPassword, cfg.Runtime, cfg.BaseImage = "admin-password-1", rt, baseImage
	cfg.PasswordCost = bcrypt.MinCost // the admin's hash would cost seconds under -race
	cfg.ACMECA = ""                   // tests talk to loopback only: the ACME tests give Pebble's
	dnsReady := make(chan string, 1)
	cfg.Ready = func(api, http string) { ready <- [2]string{api, http} }
	cfg.DNSReady = func(addr string) { dnsReady <- addr }
	for _, o := range opts {
		o(&cfg)
	}
	run := &runResult{finished: make(chan struct{})}
	go func() {
		run.err = server.Run(ctx, cfg, log)
		close(run.finished)
	}()
	s := &testServer{t: t, password: cfg.AdminPassword, cancel: cancel, run: run}
	for s.api == "" || (cfg.DNSAddr != "" && s.dns == "") {
		select {
		case addrs := <-ready:
			s.api, s.ingress = loopback(addrs[0]), loopback(addrs[1])
		case s.dns = <-dnsReady:
		case <-run.finished:
			cancel()
			t.Fatalf("server did not start: %v", run.err)
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
		case <-run.finished:
			if run.err != nil {
				t.Errorf("server stopped with error: %v", run.err)
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

// get fetches http://<host>/ (or http://<host/path>) through the ingress.
func (s *testServer) get(host string) (int, string, error) {
	host, path, _ := strings.Cut(host, "/")
	req, err := http.NewRequest(http.MethodGet, "http://"+s.ingress+"/"+path, nil)
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

// waitForFast is waitFor polling every pollEvery: the deploy benchmark
// polls as often as its bare baseline does.
func (s *testServer) waitForFast(host, want string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if code, body, err := s.get(host); err == nil && code == 200 && body == want {
			return
		}
		time.Sleep(pollEvery)
	}
	s.t.Fatalf("%s did not answer %q within %s", host, want, within)
}

// waitStatus polls the ingress until host answers with status code, or
// fails: routes follow the store on their own goroutine, so a change made
// through the API reaches the proxy moments after the call returns.
func (s *testServer) waitStatus(host string, code int, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		got, body, err := s.get(host)
		if err == nil && got == code {
			return
		}
		last = fmt.Sprintf("%d %q", got, body)
		if err != nil {
			last = err.Error()
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("%s did not answer %d within %s (last: %s)", host, code, within, last)
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
