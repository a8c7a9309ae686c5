package jitsu_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/events"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// receiver is a webhook that records the events it got, failing the first
// failFirst requests.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	requests  int
	events    []map[string]any
	badSig    int
}

func newReceiver(t *testing.T, failFirst int, secret string) *receiver {
	rc := &receiver{failFirst: failFirst}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		if rc.requests <= rc.failFirst {
			http.Error(w, "down for now", http.StatusServiceUnavailable)
			return
		}
		if secret != "" {
			m := hmac.New(sha256.New, []byte(secret))
			m.Write(body)
			if r.Header.Get(events.SignatureHeader) != "sha256="+hex.EncodeToString(m.Sum(nil)) {
				rc.badSig++
			}
		}
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rc.events = append(rc.events, batch...)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.events...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
	}
}

func mustPost(t *testing.T, tp *paastest.Platform, c paastest.Cred, path, body string) {
	t.Helper()
	if r := tp.Do(t, "POST", path, c, body); r.Status != 200 {
		t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
}

func ingest(t *testing.T, tp *paastest.Platform, key, path, body string) paastest.Response {
	t.Helper()
	return tp.Do(t, "POST", path, func(r *http.Request) { r.Header.Set("X-Write-Key", key) }, body)
}

// TestIngestFunctionFile: an ingest stream's events, through a function
// that enriches them and drops some, reach a file destination as exactly
// the expected NDJSON, in order.
func TestIngestFunctionFile(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	c := alice.Basic()
	const key = "wk1:write-key-secret-0123456789"
	mustPost(t, tp, c, "/api/alice/config/stream", `{"id":"site","name":"site","publicKeys":[{"id":"wk1","plaintext":"write-key-secret-0123456789"}]}`)
	mustPost(t, tp, c, "/api/alice/config/destination", `{"id":"out","name":"out","destinationType":"file","path":"out.ndjson"}`)
	mustPost(t, tp, c, "/api/alice/config/function", `{"id":"enrich","name":"enrich","code":"export default function (e, ctx) {\n  if (e.type === 'noise') return;\n  return {n: e.n, type: e.type, doubled: e.n * 2};\n}"}`)
	mustPost(t, tp, c, "/api/alice/config/link", `{"id":"l","fromId":"site","toId":"out","data":{"functions":[{"functionId":"udf.enrich"}]}}`)

	if r := ingest(t, tp, key, "/api/s/track", `[{"n":1},{"n":2,"type":"noise"},{"n":3}]`); r.Status != 200 || !strings.Contains(string(r.Body), `"received":3`) {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	if r := ingest(t, tp, key, "/api/s/s2s/page", `{"n":4}`); r.Status != 200 {
		t.Fatalf("ingest s2s: %d %s", r.Status, r.Body)
	}
	path := filepath.Join(tp.Dir, "events", "alice", "out.ndjson")
	want := `{"doubled":2,"n":1,"type":"track"}` + "\n" + `{"doubled":6,"n":3,"type":"track"}` + "\n" + `{"doubled":8,"n":4,"type":"page"}` + "\n"
	waitUntil(t, "the file", func() bool { b, _ := os.ReadFile(path); return string(b) == want })
	// The state is saved right after the file is written.
	waitUntil(t, "the link's status", func() bool {
		r := tp.Do(t, "GET", "/api/alice/config/link/l", c, nil)
		var link struct{ Status map[string]any }
		json.Unmarshal(r.Body, &link)
		return link.Status["delivered"] == float64(3) && link.Status["pending"] == float64(0)
	})

	for _, tc := range []struct {
		key, body string
		status    int
	}{
		{"", `{"n":1}`, 401},
		{"wk1:wrong", `{"n":1}`, 401},
		{key, `"text"`, 400},
		{key, `[1]`, 400},
		{key, `{"big":"` + strings.Repeat("x", 300<<10) + `"}`, 413},
		{key, `{"huge":"` + strings.Repeat("x", 2<<20) + `"}`, 413},
	} {
		if r := ingest(t, tp, tc.key, "/api/s/track", tc.body); r.Status != tc.status {
			t.Errorf("ingest %.40q with key %q: %d, want %d: %s", tc.body, tc.key, r.Status, tc.status, r.Body)
		}
	}
	// A function that does not compile is refused, with its line.
	if r := tp.Do(t, "PUT", "/api/alice/config/function/enrich", c, `{"code":"export default function (e) {\n  return e +\n}"}`); r.Status != 400 || !strings.Contains(string(r.Body), "line 3") {
		t.Errorf("a function that does not compile: %d %s", r.Status, r.Body)
	}
}

// TestWebhookRecovers: a webhook that fails for a while gets every event,
// in order and signed, once it recovers; the link's status shows the
// failures meanwhile. The events survive a restart of the platform.
func TestWebhookRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fake := runtime.NewFake()
	tp := paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake})
	alice := tp.NewUser(t, "alice")
	c := alice.Basic()
	rc := newReceiver(t, 1<<30, "hook-secret") // down until told otherwise
	mustPost(t, tp, c, "/api/alice/config/stream", `{"id":"s","name":"s","privateKeys":[{"id":"k","plaintext":"server-key-0123456789abc"}]}`)
	mustPost(t, tp, c, "/api/alice/config/destination", `{"id":"hook","name":"hook","destinationType":"webhook","url":"`+rc.URL+`","secret":"hook-secret","headers":["X-Team: acme"]}`)
	mustPost(t, tp, c, "/api/alice/config/link", `{"id":"l","fromId":"s","toId":"hook","data":{"batchSize":2}}`)
	for i := 0; i < 5; i++ {
		if r := ingest(t, tp, "k:server-key-0123456789abc", "/api/s/event", `{"i":`+string(rune('0'+i))+`}`); r.Status != 200 {
			t.Fatalf("ingest: %d %s", r.Status, r.Body)
		}
	}
	waitUntil(t, "failed attempts", func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.requests >= 3 })
	r := tp.Do(t, "GET", "/api/alice/config/link/l", c, nil)
	if !strings.Contains(string(r.Body), "503") || !strings.Contains(string(r.Body), `"pending":5`) {
		t.Errorf("status while down: %s", r.Body)
	}

	// The platform restarts with the events pending; then the hook recovers.
	if err := tp.Shutdown(); err != nil {
		t.Fatal(err)
	}
	tp = paastest.NewPlatform(t, paastest.Config{Dir: dir, Fake: fake})
	rc.mu.Lock()
	rc.failFirst = 0
	rc.mu.Unlock()
	waitUntil(t, "delivery after recovery", func() bool { return len(rc.got()) >= 5 })
	got := rc.got()
	for i, e := range got[:5] {
		if e["i"] != float64(i) {
			t.Errorf("event %d = %v, want i=%d (in order)", i, e, i)
		}
	}
	if len(got) != 5 || rc.badSig != 0 {
		t.Errorf("%d events, %d bad signatures", len(got), rc.badSig)
	}
}

// TestAppStream: an app stream carries its app's platform events (deploy
// steps, the platform's lines) to a webhook.
func TestAppStream(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	c := alice.Basic()
	rc := newReceiver(t, 0, "")
	if r := tp.Do(t, "POST", "/api/alice/config/stream", c, `{"id":"web-events","name":"web","kind":"app","app":"web"}`); r.Status != 400 {
		t.Errorf("an app stream of a missing app: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "POST", "/apps/alice/web", c, `{"name":"web"}`); r.Status != 201 {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	mustPost(t, tp, c, "/api/alice/config/stream", `{"id":"web-events","name":"web","kind":"app","app":"web"}`)
	mustPost(t, tp, c, "/api/alice/config/destination", `{"id":"hook","name":"hook","destinationType":"webhook","url":"`+rc.URL+`"}`)
	mustPost(t, tp, c, "/api/alice/config/link", `{"id":"l","fromId":"web-events","toId":"hook","data":{"eventTypes":["deploy","platform"]}}`)
	tgz := paastest.TarGz(t, map[string]string{"package.json": `{"name":"web","scripts":{"start":"node server.js"}}`, "server.js": "//"})
	if r := tp.Do(t, "POST", "/apps/alice/web/snapshots/v1", c, tgz); r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "POST", "/apps/alice/web/start", c, "{}"); r.Status != 200 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	waitUntil(t, "the deploy's events", func() bool {
		for _, e := range rc.got() {
			if e["type"] == "deploy" && strings.Contains(e["text"].(string), "switched") {
				return true
			}
		}
		return false
	})
	for _, e := range rc.got() {
		if e["app"] != "web" || (e["type"] != "deploy" && e["type"] != "platform") || e["timestamp"] == "" {
			t.Errorf("event %v", e)
		}
	}
	// An ingest key does not open an app stream: it has none.
	if r := ingest(t, tp, "x:y", "/api/s/track", `{}`); r.Status != 401 {
		t.Errorf("ingest without a stream key: %d", r.Status)
	}
}
