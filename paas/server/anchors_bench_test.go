package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIngressAnchors is issue 16's table: the hello app's unit (given
// 2 CPUs, so the app is not the bottleneck) loaded by wrk (16 connections,
// 2 threads) straight, through this platform's ingress, and, where they
// are installed, through nginx (upstream keepalive) and Caddy's
// reverse_proxy, in one run, each round in turn. wrk is the load
// generator because a Go client costs as much CPU as the proxy it
// measures. Without wrk the benchmark is skipped; without nginx or caddy
// only their rows are.
//
//	go test ./paas/server -run '^$' -bench IngressAnchors -benchtime 1x
func BenchmarkIngressAnchors(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk)")
	}
	s, unit := startHelloUnit(b, `{"name":"hello","cpus":2}`)

	type path struct{ name, url, host string }
	paths := []path{
		{"direct", "http://" + unit + "/", ""},
		{"ingress", "http://" + s.ingress + "/", "hello.localhost"},
	}
	if addr, ok := startNginx(b, unit); ok {
		paths = append(paths, path{"nginx", "http://" + addr + "/", "hello.localhost"})
	}
	if addr, ok := startCaddy(b, unit); ok {
		paths = append(paths, path{"caddy", "http://" + addr + "/", "hello.localhost"})
	}
	for _, p := range paths {
		// Every path must serve the app, not some default page.
		checkServes(b, p.url, p.host, "hello v1")
	}
	const rounds = 3
	best := map[string]wrkResult{}
	for range b.N {
		for r := 0; r < rounds; r++ {
			for _, p := range paths {
				res := runWrk(b, wrk, p.url, p.host)
				if res.rps > best[p.name].rps {
					best[p.name] = res
				}
			}
		}
	}
	direct := best["direct"].rps
	for _, p := range paths {
		res := best[p.name]
		b.Logf("%-8s %8.0f req/s  %5.1f%% of direct  p50 %6.2f ms  p99 %6.2f ms", p.name, res.rps, 100*res.rps/direct, res.p50, res.p99)
		b.ReportMetric(res.rps, p.name+"-req/s")
		b.ReportMetric(res.p99, p.name+"-p99-ms")
	}
	b.ReportMetric(100*best["ingress"].rps/direct, "ingress-%direct")
	if n, ok := best["nginx"]; ok {
		b.ReportMetric(best["ingress"].p99/n.p99, "ingress-p99/nginx")
	}
}

type wrkResult struct{ rps, p50, p99 float64 }

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

func runWrk(b *testing.B, wrk, url, host string) wrkResult {
	b.Helper()
	args := []string{"-t2", "-c16", "-d4s", "--latency"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	if m := wrkErrors.Find(out); m != nil {
		b.Fatalf("wrk %s: %s\n%s", url, m, out)
	}
	var res wrkResult
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, l := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		switch string(l[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(l[1]) == "50" {
			res.p50 = v
		} else {
			res.p99 = v
		}
	}
	return res
}

// freeLoopbackPort is a port that was free a moment ago, for servers that
// take their address from a config file.
func freeLoopbackPort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNginx runs nginx as a reverse proxy to unit with upstream keepalive,
// the configuration its documentation recommends for proxying.
func startNginx(b *testing.B, unit string) (string, bool) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		b.Log("nginx is not installed: its row is skipped")
		return "", false
	}
	dir := b.TempDir()
	addr := freeLoopbackPort(b)
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  upstream app { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`, dir, unit, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	startAnchor(b, "nginx", addr, exec.Command(bin, "-c", path, "-p", dir))
	return addr, true
}

// startCaddy runs Caddy's reverse_proxy to unit (found on PATH or in
// GOPATH/bin, where `go install github.com/caddyserver/caddy/v2/cmd/caddy`
// puts it).
func startCaddy(b *testing.B, unit string) (string, bool) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "caddy")
		if _, err := os.Stat(bin); err != nil {
			b.Log("caddy is not installed: its row is skipped")
			return "", false
		}
	}
	dir := b.TempDir()
	addr := freeLoopbackPort(b)
	_, port, _ := net.SplitHostPort(addr)
	// Any Host: a site named by address would match only that Host and
	// answer every other one with an empty 200.
	conf := fmt.Sprintf("{\n  admin off\n  auto_https off\n  persist_config off\n}\nhttp://:%s {\n  reverse_proxy %s\n}\n", port, unit)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startAnchor(b, "caddy", addr, cmd)
	return addr, true
}

// startAnchor starts cmd, stops it when the benchmark ends, and waits
// until addr accepts connections.
func startAnchor(b *testing.B, name, addr string, cmd *exec.Cmd) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// nginx's workers outlive a killed master and hold its output open:
	// the whole process group goes, and Wait gives up on the pipes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	b.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				b.Log(name + ": " + sc.Text())
			}
			b.Fatalf("%s did not listen on %s", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkServes(b *testing.B, url, host, want string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != want {
		b.Fatalf("%s (Host %s): %d %q, want %q", url, host, res.StatusCode, body, want)
	}
}
