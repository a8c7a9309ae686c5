package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/store"
)

// TestProcessLifecycle runs the real binary: it prints the admin password
// once, a second instance on the same data fails fast with a clear message,
// and SIGTERM ends it promptly even with a live log stream open, leaving a
// store that opens again.
func TestProcessLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "paas")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := filepath.Join(dir, "data")
	api, httpAddr, dnsAddr := freePort(t), freePort(t), freePort(t)
	args := []string{"--data", dataDir, "--api", api, "--http", httpAddr, "--dns", dnsAddr, "--https", "127.0.0.1:0"}

	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent.sock", "PAAS_ADMIN_PASSWORD=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	passwords := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "password:" {
				passwords <- f[1]
			}
		}
	}()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "platform serving") {
				once = true
				close(serving)
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-serving:
	case err := <-exited:
		t.Fatalf("server exited at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}

	var password string
	select {
	case password = <-passwords:
	case <-time.After(10 * time.Second):
		t.Fatal("no admin password printed")
	}

	second := exec.Command(bin, args...)
	second.Env = cmd.Env
	start := time.Now()
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("second instance: err %v, output %q", err, out)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second instance took %s to fail", time.Since(start))
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+api+"/apps/admin/web", strings.NewReader(`{"name":"web"}`))
	req.SetBasicAuth("admin", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create app: %v %v", err, resp)
	}
	resp.Body.Close()
	streamReq, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+api+"/apps/admin/web/logs?follow=1", nil)
	streamReq.SetBasicAuth("admin", password)
	stream, err := http.DefaultClient.Do(streamReq)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	go io.Copy(io.Discard, stream.Body)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit within 10s of SIGTERM with a log stream open")
	}
	st, err := store.Open(dataDir)
	if err != nil {
		t.Fatalf("store after shutdown: %v", err)
	}
	defer st.Close()
	if _, err := st.App("admin", "web"); err != nil {
		t.Errorf("app lost across shutdown: %v", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
