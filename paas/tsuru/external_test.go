package tsuru_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/selfhost/paas/paas/paastest"
)

// serviceAPI is an external service's endpoint speaking the Tsuru service
// API, recording what it was asked.
type serviceAPI struct {
	mu    sync.Mutex
	calls []string
	down  bool
}

func (s *serviceAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "ext_api" || p != "ext-secret" {
		http.Error(w, "bad credentials", http.StatusUnauthorized)
		return
	}
	r.ParseForm()
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path+" "+r.Form.Get("name")+r.Form.Get("team")+r.Form.Get("app-name"))
	down := s.down
	s.mu.Unlock()
	switch {
	case r.Method == "POST" && r.URL.Path == "/resources":
		w.WriteHeader(http.StatusCreated)
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/bind-app"):
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"EXT_URL":"ext://` + r.Form.Get("app-host") + `","EXT_TOKEN":"t0k"}`))
	case r.Method == "DELETE":
		w.WriteHeader(http.StatusOK)
	case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/status"):
		if down {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (s *serviceAPI) saw(call string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if strings.HasPrefix(c, call) {
			return true
		}
	}
	return false
}

// TestExternalService: a service registered with a YAML manifest is used
// through the Tsuru service API: instances are created, bound (the
// endpoint's variables reach the app), probed, unbound and removed at its
// endpoint with the manifest's credentials; the service cannot be removed
// while it has instances; bad manifests are 400; only admins may register
// endpoints on private networks.
func TestExternalService(t *testing.T) {
	t.Parallel()
	tp := newPlatform(t)
	ctx := context.Background()
	api := &serviceAPI{}
	ep := httptest.NewServer(api)
	t.Cleanup(ep.Close)
	alice := tp.NewUser(t, "alice")
	tp.NewTeam(t, "crew", alice)
	tp.NewTeam(t, "ops", tp.Admin)
	newApp(t, tp, alice, "site")
	admin := tp.Admin.Basic()
	do := func(want int, c paastest.Cred, method, path string, body any) string {
		t.Helper()
		r := tp.Do(t, method, path, c, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
		}
		return string(r.Body)
	}
	manifest := "id: ext\nusername: ext_api\npassword: ext-secret\nendpoint:\n  production: " + ep.URL + "\n"
	yaml := func(s string) paastest.Raw { return paastest.Raw{Type: "application/x-yaml", Data: []byte(s)} }
	for _, bad := range []string{"id: [unclosed", "id: ext\npassword: x\n", "password: x\nendpoint:\n  production: http://x\n", "id: ext\nendpoint:\n  production: http://x\n"} {
		if out := do(400, admin, "POST", "/tsuru/services", yaml(bad)); !strings.Contains(out, "manifest") {
			t.Errorf("bad manifest %q: %s", bad, out)
		}
	}
	do(403, alice.Bearer(), "POST", "/tsuru/services", yaml(manifest)) // a loopback endpoint: admins only
	do(200, admin, "POST", "/tsuru/services", yaml(manifest))
	do(409, admin, "POST", "/tsuru/services", yaml(manifest))
	do(404, alice.Bearer(), "GET", "/tsuru/services/ext", nil) // not granted yet
	do(200, admin, "PUT", "/tsuru/services/ext/crew", nil)
	do(200, alice.Bearer(), "PUT", "/tsuru/services/ext/doc", "Use EXT_URL.")
	if doc := do(200, alice.Bearer(), "GET", "/tsuru/services/ext/doc", nil); doc != "Use EXT_URL." {
		t.Errorf("doc: %q", doc)
	}

	do(201, alice.Bearer(), "POST", "/tsuru/services/instances", map[string]string{"name": "e1", "service_name": "ext"})
	if !api.saw("POST /resources ") {
		t.Errorf("the endpoint was not asked to create: %v", api.calls)
	}
	do(200, alice.Bearer(), "GET", "/tsuru/services/instances/e1/status", nil)
	do(200, alice.Bearer(), "PUT", "/tsuru/services/instances/e1/site", nil)
	if a, _ := tp.Store.App("alice", "site"); a.Env["EXT_URL"] != "ext://site.paas.test" || a.Env["EXT_TOKEN"] != "t0k" {
		t.Errorf("the endpoint's variables did not reach the app: %v", a.Env)
	}
	if out := do(200, alice.Bearer(), "GET", "/tsuru/services/ext", nil); !strings.Contains(out, `"Apps":["site"]`) {
		t.Errorf("service info: %s", out)
	}
	api.mu.Lock()
	api.down = true
	api.mu.Unlock()
	do(502, alice.Bearer(), "GET", "/tsuru/services/instances/e1/status", nil)
	do(403, admin, "DELETE", "/tsuru/services/ext", nil) // it has an instance
	do(409, alice.Bearer(), "DELETE", "/tsuru/services/instances/e1", nil)
	do(200, alice.Bearer(), "DELETE", "/tsuru/services/instances/e1/site", nil)
	if a, _ := tp.Store.App("alice", "site"); a.Env["EXT_URL"] != "" || !api.saw("DELETE /resources/") {
		t.Errorf("after unbind: env %v, calls %v", a.Env, api.calls)
	}
	do(200, alice.Bearer(), "DELETE", "/tsuru/services/instances/e1", nil)
	if dbs, _ := tp.Store.Databases("alice"); len(dbs) != 0 {
		t.Errorf("instances left: %v", dbs)
	}
	do(409, admin, "PUT", "/tsuru/services/ext/crew", nil)    // granted already
	do(200, admin, "DELETE", "/tsuru/services/ext/crew", nil) // ops keeps it
	do(409, admin, "DELETE", "/tsuru/services/ext/ops", nil)  // the last team
	do(204, admin, "DELETE", "/tsuru/services/ext", nil)
	_ = ctx
}
