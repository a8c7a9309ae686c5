package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// childArgs, in the environment, makes the test binary run the platform
// with those arguments instead of the tests: a server TestKill9 can kill.
const childArgs = "PAAS_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgs); args != "" {
		if err := run(strings.Fields(args)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKill9 kills the server (SIGKILL: no shutdown) while a link's events
// wait for a webhook that is down, starts it again on the same data, and
// then brings the webhook up: every event acknowledged by an ingest is
// delivered (at least once), none lost.
func TestKill9(t *testing.T) {
	dataDir := t.TempDir()
	apiAddr := freePort(t)
	args := fmt.Sprintf("serve --data %s --api %s --http %s --https= --dns= --events-allow-private", dataDir, apiAddr, freePort(t))
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// No engine: a killed server could not remove its network, and
		// events need none.
		cmd.Env = append(os.Environ(), childArgs+"="+args, "PAAS_ADMIN_PASSWORD=kill-9-admin-password", "DOCKER_HOST=unix:///nonexistent.sock")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if res, err := http.Get("http://" + apiAddr + "/api/schema"); err == nil {
				res.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("the server did not start")
			}
		}
	}
	call := func(method, path, key, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+apiAddr+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("X-Write-Key", key)
		} else {
			req.SetBasicAuth("admin", "kill-9-admin-password")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	var mu sync.Mutex
	up, got := false, map[int]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var batch []struct{ N int }
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, e := range batch {
			got[e.N]++
		}
	}))
	defer hook.Close()

	cmd := start()
	const secret = "kill-9-write-key-0123456789"
	for _, o := range []struct{ typ, body string }{
		{"stream", `{"id":"s","name":"s","publicKeys":[{"id":"k","plaintext":"` + secret + `"}]}`},
		{"destination", `{"id":"h","name":"h","destinationType":"webhook","url":"` + hook.URL + `"}`},
		{"link", `{"id":"l","fromId":"s","toId":"h","data":{"batchSize":7}}`},
	} {
		if code := call("POST", "/api/admin/config/"+o.typ, "", o.body); code != 200 {
			t.Fatalf("create %s: %d", o.typ, code)
		}
	}
	const n = 50
	for i := range n {
		if code := call("POST", "/api/s/track", "k:"+secret, fmt.Sprintf(`{"n":%d}`, i)); code != 200 {
			t.Fatalf("ingest %d: %d", i, code)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	start()
	mu.Lock()
	up = true
	mu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		count := len(got)
		mu.Unlock()
		if count == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d of %d events delivered", count, n)
		}
	}
}
