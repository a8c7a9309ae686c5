package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// TestDockerEventsToServices: a link's destination can be one of the
// workspace's own database instances: events ingested into a stream end
// up, in order, in a redis stream and in a postgresql table of real
// servers.
func TestDockerEventsToServices(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	redisImage, pgImage := serviceImageFor(t, d, runtime.KindRedis), serviceImageFor(t, d, runtime.KindPostgreSQL)
	t.Cleanup(func() {
		svcs, _ := d.Services(context.Background())
		for _, s := range svcs {
			_ = d.RemoveService(context.Background(), s.ID)
		}
	})
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.RedisImage, c.PostgreSQLImage = redisImage, pgImage })
	var cache, pg struct {
		Database struct{ Metadata map[string]any }
	}
	s.must(201, "POST", "/databases/admin/cache", []byte(`{"type":"redis"}`), nil)
	s.must(201, "POST", "/databases/admin/pg", []byte(`{"type":"postgresql"}`), nil)
	s.must(200, "GET", "/databases/admin/cache", nil, &cache)
	s.must(200, "GET", "/databases/admin/pg", nil, &pg)

	const secret = "events-to-services-0123456789"
	for _, o := range []struct{ typ, body string }{
		{"stream", `{"id":"s","name":"s","publicKeys":[{"id":"k","plaintext":"` + secret + `"}]}`},
		{"destination", `{"id":"r","name":"r","destinationType":"service","instance":"cache","stream":"evts"}`},
		{"destination", `{"id":"p","name":"p","destinationType":"service","instance":"pg","table":"evts"}`},
		{"link", `{"id":"to-redis","fromId":"s","toId":"r"}`},
		{"link", `{"id":"to-pg","fromId":"s","toId":"p"}`},
	} {
		s.must(200, "POST", "/api/admin/config/"+o.typ, []byte(o.body), nil)
	}
	if code, out := rawCall(t, s, "POST", "/api/admin/config/destination", `{"id":"x","name":"x","destinationType":"service","instance":"nope"}`); code != 400 {
		t.Errorf("a destination of a missing instance: %d %s", code, out)
	}
	for i := range 3 {
		if code := ingestKey(t, s, "k:"+secret, fmt.Sprintf(`{"n":%d,"note":"it's %d"}`, i, i)); code != 200 {
			t.Fatalf("ingest: %d", code)
		}
	}
	svcs, err := d.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]runtime.Service{}
	for _, sv := range svcs {
		byKind[sv.Kind] = sv
	}

	// redis: XRANGE evts - + from the host.
	ip, port, err := d.ServiceAddr(context.Background(), byKind[runtime.KindRedis].ID)
	if err != nil {
		t.Fatal(err)
	}
	pw := cache.Database.Metadata["password"].(string)
	var entries string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		entries = redisRaw(t, net.JoinHostPort(ip, fmt.Sprint(port)), pw, "XRANGE", "evts", "-", "+")
		if strings.Count(entries, `"n":`) == 3 {
			break
		}
	}
	if !strings.Contains(entries, `"n":0`) || strings.Index(entries, `"n":0`) > strings.Index(entries, `"n":2`) || strings.Count(entries, `"n":`) != 3 {
		t.Errorf("the redis stream: %q", entries)
	}

	// postgresql: the rows, in order, through psql in the server's container.
	pgpw := pg.Database.Metadata["password"].(string)
	var rows string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("docker", "exec", "-e", "PGPASSWORD="+pgpw, byKind[runtime.KindPostgreSQL].Container,
			"psql", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-tAc", "SELECT string_agg(event->>'note', '|' ORDER BY id) FROM evts").CombinedOutput()
		rows = strings.TrimSpace(string(out))
		if rows == "it's 0|it's 1|it's 2" {
			break
		}
	}
	if rows != "it's 0|it's 1|it's 2" {
		t.Errorf("the postgresql table: %q", rows)
	}
	var link struct{ Status struct{ Delivered int } }
	s.must(200, "GET", "/api/admin/config/link/to-pg", nil, &link)
	if link.Status.Delivered != 3 {
		t.Errorf("to-pg status: %+v", link)
	}
}

func ingestKey(t *testing.T, s *testServer, key, body string) int {
	t.Helper()
	code, _ := rawCallHeaders(t, s, "POST", "/api/s/track", body, map[string]string{"X-Write-Key": key})
	return code
}

// redisRaw sends one authenticated command and returns the raw reply.
func redisRaw(t *testing.T, addr, password string, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	wire := func(args ...string) string {
		s := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
		}
		return s
	}
	fmt.Fprint(conn, wire("AUTH", password)+wire(args...))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("AUTH: %q %v", line, err)
	}
	var b strings.Builder
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestDockerAppStream: an app stream linked to a webhook receives, from a
// real unit, the app's own log lines and the platform's deploy events.
func TestDockerAppStream(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.EventsAllowPrivate = true })
	got := make(chan map[string]any, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, e := range batch {
			select {
			case got <- e:
			default:
			}
		}
	}))
	defer hook.Close()
	s.must(201, "POST", "/apps/admin/hello", []byte(`{"name":"hello"}`), nil)
	for _, o := range []struct{ typ, body string }{
		{"stream", `{"id":"hello-events","name":"hello","kind":"app","app":"hello"}`},
		{"destination", `{"id":"hook","name":"hook","destinationType":"webhook","url":"` + hook.URL + `"}`},
		{"link", `{"id":"l","fromId":"hello-events","toId":"hook"}`},
	} {
		s.must(200, "POST", "/api/admin/config/"+o.typ, []byte(o.body), nil)
	}
	s.must(201, "POST", "/apps/admin/hello/snapshots/v1", paastest.TarGzDir(t, "../../testdata/apps/hello-v1"), nil)
	s.must(200, "POST", "/apps/admin/hello/start", nil, nil)
	seen := map[string]bool{}
	for deadline := time.After(60 * time.Second); !seen["log"] || !seen["deploy"]; {
		select {
		case e := <-got:
			text, _ := e["text"].(string)
			switch {
			case e["type"] == "log" && strings.Contains(text, "hello v1 listening"):
				seen["log"] = true
			case e["type"] == "deploy" && strings.Contains(text, "switched"):
				seen["deploy"] = true
			}
			if e["app"] != "hello" {
				t.Errorf("event of another app: %v", e)
			}
		case <-deadline:
			t.Fatalf("after a minute, seen %v", seen)
		}
	}
	s.must(200, "DELETE", "/apps/admin/hello", nil, nil)
}
