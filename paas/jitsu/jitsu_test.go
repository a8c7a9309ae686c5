package jitsu_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func keyCred(key string) paastest.Cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
}

// raw is a body sent as jitsu-cli sends it: JSON as text/plain.
func raw(s string) paastest.Raw {
	return paastest.Raw{Type: "text/plain;charset=UTF-8", Data: []byte(s)}
}

// TestJitsuCLIFlow: what jitsu-cli 1.10 does. A key is made (POST of the
// whole list), then used as Bearer keyId:secret: whoami, the workspaces,
// the profile builders and functions of one, and a function deployed
// twice, first created, then updated, with bodies sent as text/plain and
// a base URL ending in a slash (//api/…).
func TestJitsuCLIFlow(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	const secret = "k3y-s3cret-value-0123456789"
	r := tp.Do(t, "POST", "/api/user/keys", alice.Basic(), []map[string]string{{"id": "cli", "plaintext": secret}})
	if r.Status != 200 || strings.Contains(string(r.Body), secret) {
		t.Fatalf("POST keys: %d %s", r.Status, r.Body)
	}
	key := keyCred("cli:" + secret)

	if r := tp.Do(t, "GET", "//api/me", key, nil); r.Status != 200 || decode(t, r)["auth"] != true ||
		!strings.Contains(string(r.Body), `"email":"alice@example.com"`) {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/me", nil, nil); r.Status != 200 || string(r.Body) != `{"auth":false}`+"\n" && string(r.Body) != `{"auth":false}` {
		t.Errorf("me without a key: %d %q", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/me", keyCred("cli:wrong-secret-000000"), nil); r.Status != 401 {
		t.Errorf("me with a wrong key: %d", r.Status)
	}
	r = tp.Do(t, "GET", "//api/workspace", key, nil)
	ws := paas.WorkspaceOf("alice")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"id":"`+ws.ID+`"`) || !strings.Contains(string(r.Body), `"slug":"alice"`) {
		t.Fatalf("workspaces: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "//api/"+ws.ID+"/config/profile-builder", key, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"profileBuilders":[]`) {
		t.Errorf("profile builders: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "//api/"+ws.ID+"/config/function", key, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"objects":[]`) {
		t.Errorf("functions: %d %s", r.Status, r.Body)
	}
	fn := `{"id":"fn1","workspaceId":"` + ws.ID + `","type":"function","origin":"jitsu-cli","slug":"enrich","description":"v1","version":"1.0.0","name":"enrich","code":"export default function(e) { return e }"}`
	if r := tp.Do(t, "POST", "//api/"+ws.ID+"/config/function", key, raw(fn)); r.Status != 200 || decode(t, r)["id"] != "fn1" {
		t.Fatalf("create function: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "POST", "/api/"+ws.ID+"/config/function", key, raw(fn)); r.Status != 409 {
		t.Errorf("create again: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "PUT", "//api/alice/config/function/fn1", key, raw(`{"code":"export default function(e) { e.v = 2; return e }","version":"1.0.1"}`)); r.Status != 200 {
		t.Fatalf("update function: %d %s", r.Status, r.Body)
	}
	b := decode(t, tp.Do(t, "GET", "/api/"+ws.ID+"/config/function/fn1", key, nil))
	if b["version"] != "1.0.1" || !strings.Contains(b["code"].(string), "e.v = 2") || b["description"] != "v1" || b["origin"] != "jitsu-cli" {
		t.Errorf("the function after its update: %v", b)
	}
	if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}

	// The complete list again, without the key: it is revoked.
	if r := tp.Do(t, "POST", "/api/user/keys", alice.Basic(), []any{}); r.Status != 200 {
		t.Fatalf("POST no keys: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/workspace", key, nil); r.Status != 401 {
		t.Errorf("a revoked key: %d", r.Status)
	}
}

// TestAPIKeys: a key posted without a secret gets one, shown once; listed
// keys show a hint, never the secret or its hash; a key posted again by id
// alone is kept.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	r := tp.Do(t, "POST", "/api/user/keys", alice.Basic(), map[string]any{"keys": []map[string]string{{"id": "gen"}}})
	var made []paas.APIKey
	if r.Status != 200 || json.Unmarshal(r.Body, &made) != nil || len(made) != 1 || made[0].Plaintext == "" {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	key := keyCred("gen:" + made[0].Plaintext)
	if r := tp.Do(t, "GET", "/api/workspace", key, nil); r.Status != 200 {
		t.Fatalf("the generated key: %d %s", r.Status, r.Body)
	}
	r = tp.Do(t, "GET", "/api/user/keys", key, nil)
	if r.Status != 200 || strings.Contains(string(r.Body), made[0].Plaintext) || strings.Contains(string(r.Body), "hash") || !strings.Contains(string(r.Body), `"hint"`) {
		t.Errorf("GET keys: %s", r.Body)
	}
	r = tp.Do(t, "POST", "/api/user/keys", key, []map[string]string{{"id": "gen"}, {"id": "two", "plaintext": "short"}})
	if r.Status != 400 {
		t.Errorf("a short secret: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "POST", "/api/user/keys", key, []map[string]string{{"id": "gen"}}); r.Status != 200 || strings.Contains(string(r.Body), made[0].Plaintext) {
		t.Errorf("kept by id: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/workspace", key, nil); r.Status != 200 {
		t.Errorf("the kept key: %d", r.Status)
	}
}

// TestConfigValidation: objects are checked against the schemas served;
// the error names the failing field; stream keys are kept as hashes.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	c := alice.Basic()
	for _, tc := range []struct {
		typ, body, field string
	}{
		{"destination", `{"id":"d1","name":"x","destinationType":"webhook"}`, "/url"},
		{"destination", `{"id":"d1","name":"x","destinationType":"webhook","url":"ftp://x"}`, "/url"},
		{"destination", `{"id":"d1","name":"x","destinationType":"kafka"}`, "/destinationType"},
		{"destination", `{"id":"d1","name":"x","destinationType":"file","path":"../etc"}`, "/path"},
		{"link", `{"id":"l1","fromId":"a"}`, "/toId"},
		{"link", `{"id":"l1","fromId":"a","toId":"b","data":{"batchSize":0}}`, "/data/batchSize"},
		{"function", `{"id":"f1","name":"x"}`, "/code"},
		{"stream", `{"id":"bad id","name":"x"}`, "/id"},
		{"stream", `{"id":"s1","name":"x","kind":"other"}`, "/kind"},
		{"stream", `{"id":"s1","name":"x","publicKeys":[{"id":"k","plaintext":"short"}]}`, "/publicKeys/0/plaintext"},
	} {
		r := tp.Do(t, "POST", "/api/alice/config/"+tc.typ, c, tc.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), tc.field) {
			t.Errorf("%s %s: %d %s, want 400 naming %s", tc.typ, tc.body, r.Status, r.Body, tc.field)
		}
	}
	if r := tp.Do(t, "POST", "/api/alice/config/gadget", c, `{"id":"g"}`); r.Status != 404 {
		t.Errorf("unknown type: %d", r.Status)
	}
	const plain = "write-key-secret-0123456789"
	r := tp.Do(t, "POST", "/api/alice/config/stream", c, `{"id":"s1","name":"site","publicKeys":[{"id":"k1","plaintext":"`+plain+`"}]}`)
	if r.Status != 200 || strings.Contains(string(r.Body), plain) || strings.Contains(string(r.Body), "hash") {
		t.Fatalf("stream with a key: %d %s", r.Status, r.Body)
	}
	raw, err := tp.Store.Config("alice", "stream", "s1")
	if err != nil || strings.Contains(string(raw), plain) || !strings.Contains(string(raw), paas.SHA256Hex("k1:"+plain)) {
		t.Errorf("stored stream: %s %v", raw, err)
	}
	// Renamed by a partial PUT: the key's hash stays.
	if r := tp.Do(t, "PUT", "/api/alice/config/stream/s1", c, `{"name":"renamed","publicKeys":[{"id":"k1"}]}`); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	if raw, _ := tp.Store.Config("alice", "stream", "s1"); !strings.Contains(string(raw), paas.SHA256Hex("k1:"+plain)) {
		t.Errorf("the key's hash after a PUT: %s", raw)
	}
}

// TestDeleteRules: seed 002's strict and cascade.
func TestDeleteRules(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	c := alice.Basic()
	post := func(typ, body string) {
		t.Helper()
		if r := tp.Do(t, "POST", "/api/alice/config/"+typ, c, body); r.Status != 200 {
			t.Fatalf("POST %s: %d %s", typ, r.Status, r.Body)
		}
	}
	post("stream", `{"id":"s","name":"s"}`)
	post("destination", `{"id":"d","name":"d","destinationType":"file","path":"x"}`)
	post("function", `{"id":"f","name":"f","code":"export default e => e"}`)
	post("link", `{"id":"l1","fromId":"s","toId":"d","data":{"functions":[{"functionId":"udf.f"}]}}`)
	if r := tp.Do(t, "DELETE", "/api/alice/config/function/f?strict=true", c, nil); r.Status != 409 {
		t.Errorf("strict delete of a used function: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "DELETE", "/api/alice/config/destination/d", c, nil); r.Status != 200 || decode(t, r)["links"] != float64(0) {
		t.Errorf("plain delete: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/alice/config/link/l1", c, nil); r.Status != 200 {
		t.Errorf("the link after a plain delete of its destination: %d (it stays)", r.Status)
	}
	if r := tp.Do(t, "DELETE", "/api/alice/config/stream/s?cascade=true", c, nil); r.Status != 200 || decode(t, r)["links"] != float64(1) {
		t.Errorf("cascade: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "GET", "/api/alice/config/link/l1", c, nil); r.Status != 404 {
		t.Errorf("the link after a cascade: %d", r.Status)
	}
	if r := tp.Do(t, "DELETE", "/api/alice/config/link?id=nope", c, nil); r.Status != 404 {
		t.Errorf("deleting a missing link: %d", r.Status)
	}
	if r := tp.Do(t, "DELETE", "/api/alice/config/link", c, nil); r.Status != 400 {
		t.Errorf("deleting links with no query: %d", r.Status)
	}
}
