package nodejitsu_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
)

const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI test@example"

// fixture is a harness with two users: alice (the owner whose resources the
// tests act on) and bob (another user).
type fixture struct {
	h    *harness
	a, b account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := newHarness(t)
	f := &fixture{h: h, a: h.newUser(t, "alice"), b: h.newUser(t, "bob")}
	h.ownerResources(t, f.a)
	h.ownerResources(t, f.b)
	return f
}

// ownerResources gives o an app "app1" with snapshot 0.0.1 (stopped), a
// database db1, an SSH key k1, a third-party token tp1 and two log lines.
func (h *harness) ownerResources(t *testing.T, o account) {
	t.Helper()
	h.createApp(t, o.name, "app1")
	h.uploadSnapshot(t, o.name, "app1", "0.0.1")
	if _, err := h.store.CreateDatabase(paas.Database{Owner: o.name, Name: "db1", Type: "redis", Status: paas.DatabaseStatusPending}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.PutSSHKey(o.name, paas.SSHKey{ID: "k1", Key: testSSHKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.PutThirdParty(o.name, paas.ThirdPartyToken{ID: "tp1", Provider: "github", Token: "ghp_fixture_" + o.name + "_0123456789"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := h.store.AppendLogs(o.name+"/app1", []paas.LogEntry{
		{Time: now.Add(-2 * time.Minute), Source: "app", Stream: "stdout", Text: "first"},
		{Time: now.Add(-time.Minute), Source: "app", Stream: "stderr", Text: "second"},
	}); err != nil {
		t.Fatal(err)
	}
}

// digest is everything the store and the engine hold for owner, so a test can
// tell that a forbidden call changed nothing.
func (h *harness) digest(t *testing.T, owner string) string {
	t.Helper()
	var b strings.Builder
	add := func(label string, v any, err error) {
		if err != nil && !paas.IsNotFound(err) {
			t.Fatalf("digest %s: %v", label, err)
		}
		data, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s: %s\n", label, data)
	}
	u, err := h.store.User(owner)
	add("user", u, err)
	apps, err := h.store.Apps(owner)
	add("apps", apps, err)
	for _, a := range apps {
		add("env "+a.Name, a.Env, nil)
		snaps, err := h.store.Snapshots(owner, a.Name)
		add("snapshots "+a.Name, snaps, err)
	}
	toks, err := h.store.Tokens(owner)
	add("tokens", toks, err)
	tps, err := h.store.ThirdParty(owner)
	add("thirdparty", tps, err)
	for _, tp := range tps {
		add("thirdparty secret "+tp.ID, tp.Token, nil)
	}
	keys, err := h.store.SSHKeys(owner)
	add("keys", keys, err)
	dbs, err := h.store.Databases(owner)
	add("databases", dbs, err)
	logs, err := h.store.Logs(owner+"/app1", time.Unix(0, 0), time.Now().Add(time.Hour), 10000)
	add("logs app1", logs, err)
	// The engine's objects of owner's apps (other owners' may change meanwhile).
	units, err := h.fake.Units(t.Context())
	for _, u := range units {
		if strings.HasPrefix(u.App, owner+"/") {
			add("unit", u, err)
		}
	}
	images, err := h.fake.Images(t.Context())
	for _, im := range images {
		if strings.HasPrefix(im.App, owner+"/") {
			add("image", im, err)
		}
	}
	return b.String()
}

// routeClass says who may call a route.
type routeClass int

const (
	public   routeClass = iota // anyone, no credentials needed
	authed                     // any authenticated caller (GET /auth)
	account_                   // the owner by password, or an admin; API tokens get 403
	owned                      // the owner (password or token), or an admin
)

type routeCase struct {
	method, pattern string
	class           routeClass
	want            int
	// freshOwner: the call destroys its owner, so each call gets a new one.
	freshOwner bool
	// req gives the concrete path and body for owner o; tag is unique per call.
	req func(t *testing.T, h *harness, o account, tag string) (string, any)
	// check looks at a successful response (optional).
	check func(t *testing.T, h *harness, o account, tag string, r resp)
}

func fixed(path string, body any) func(*testing.T, *harness, account, string) (string, any) {
	return func(_ *testing.T, _ *harness, o account, _ string) (string, any) {
		return strings.ReplaceAll(path, ":u", o.name), body
	}
}

func hasKey(t *testing.T, r resp, keys ...string) map[string]any {
	t.Helper()
	m := r.obj(t)
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("response has no %q: %s", k, r.body)
		}
	}
	return m
}

func isList(t *testing.T, r resp, key string) []any {
	t.Helper()
	m := r.obj(t)
	l, ok := m[key].([]any)
	if !ok {
		t.Fatalf("response %q is not a list: %s", key, r.body)
	}
	return l
}

// routeCases covers every route of routes.go (TestRouteTableIsComplete checks it).
func routeCases() []routeCase {
	appView := func(t *testing.T, _ *harness, _ account, _ string, r resp) {
		t.Helper()
		m := hasKey(t, r, "app")
		for _, k := range []string{"name", "state", "subdomain", "drones", "maxDrones", "snapshot", "snapshots", "running", "config"} {
			if _, ok := m["app"].(map[string]any)[k]; !ok {
				t.Errorf("app has no %q: %s", k, r.body)
			}
		}
		if _, ok := get(m, "app", "config", "cloud").([]any); !ok {
			t.Errorf("app.config.cloud is not a list: %s", r.body)
		}
	}
	logData := func(t *testing.T, _ *harness, _ account, _ string, r resp) {
		t.Helper()
		isList(t, r, "data")
	}
	cloud := func(t *testing.T, _ *harness, _ account, _ string, r resp) {
		t.Helper()
		l := r.arr(t)
		if len(l) != 1 || get(l[0], "drones") == nil || get(l[0], "provider") == nil || get(l[0], "datacenter") == nil {
			t.Errorf("cloud = %s", r.body)
		}
	}
	startable := func(t *testing.T, h *harness, o account, tag string) string {
		t.Helper()
		name := "s-" + tag
		h.createApp(t, o.name, name)
		h.uploadSnapshot(t, o.name, name, "1.0.0")
		return name
	}
	started := func(t *testing.T, h *harness, o account, tag string, r resp) {
		t.Helper()
		m := r.obj(t)
		if get(m, "app", "state") != "started" {
			t.Errorf("state = %v, want started", get(m, "app", "state"))
		}
		if got := h.p.Deployer.Backends(o.name + "/s-" + tag); len(got) != 1 {
			t.Errorf("backends = %v, want 1", got)
		}
	}
	return []routeCase{
		// Service routes.
		{method: "GET", pattern: "/auth", class: authed, want: 200, req: fixed("/auth", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) { hasKey(t, r, "user", "admin", "token") }},
		{method: "GET", pattern: "/endpoints", class: public, want: 200, req: fixed("/endpoints", nil),
			check: func(t *testing.T, h *harness, _ account, _ string, r resp) {
				if got := get(r.obj(t), "endpoints", "selfhost", "local"); got != h.srv.URL {
					t.Errorf("endpoint = %v, want %s", got, h.srv.URL)
				}
			}},

		// Users: public routes.
		{method: "POST", pattern: "/users/:user", class: public, want: 201,
			req: func(_ *testing.T, _ *harness, _ account, tag string) (string, any) {
				return "/users/n" + tag, map[string]string{"email": "n" + tag + "@example.com", "password": "longenough1"}
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if get(r.obj(t), "user", "username") != "n"+tag || get(r.obj(t), "user", "status") != "pending" {
					t.Errorf("signup answer %s", r.body)
				}
			}},
		{method: "GET", pattern: "/users/:user/available", class: public, want: 200, req: fixed("/users/:u/available", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if r.obj(t)["available"] != false {
					t.Errorf("existing user is available: %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/taken", class: public, want: 200,
			req: func(_ *testing.T, _ *harness, o account, _ string) (string, any) {
				return "/users/email/taken", map[string]string{"email": o.email()}
			},
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if r.obj(t)["taken"] != true {
					t.Errorf("owner email not taken: %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/confirm", class: public, want: 200,
			req: func(t *testing.T, h *harness, _ account, tag string) (string, any) {
				name := "c" + tag
				if _, err := h.p.SignUp(name, name+"@example.com", ""); err != nil {
					t.Fatal(err)
				}
				return "/users/" + name + "/confirm", map[string]string{"inviteCode": h.mail.lastCode(t, name+"@example.com"), "password": "longenough1"}
			},
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "user", "status") != "active" {
					t.Errorf("confirm answer %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/forgot", class: public, want: 200, req: fixed("/users/:u/forgot", map[string]string{})},

		// Users: account routes.
		{method: "GET", pattern: "/users/:user", class: account_, want: 200, req: fixed("/users/:u", nil),
			check: func(t *testing.T, _ *harness, o account, _ string, r resp) {
				m := r.obj(t)
				if get(m, "user", "username") != o.name || get(m, "user", "email") != o.email() {
					t.Errorf("user = %s", r.body)
				}
				if strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "hash") {
					t.Errorf("user view leaks secrets: %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/users/:user", class: account_, want: 200,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name, map[string]string{"email": o.name + "+" + tag + "@example.com"}
			},
			check: func(t *testing.T, h *harness, o account, tag string, _ resp) {
				if u, _ := h.store.User(o.name); u.Email != o.name+"+"+tag+"@example.com" {
					t.Errorf("email = %q", u.Email)
				}
			}},
		{method: "DELETE", pattern: "/users/:user", class: account_, want: 200, freshOwner: true, req: fixed("/users/:u", nil),
			check: func(t *testing.T, h *harness, o account, _ string, _ resp) {
				if _, err := h.store.User(o.name); !paas.IsNotFound(err) {
					t.Errorf("user still there: %v", err)
				}
			}},
		{method: "GET", pattern: "/users/:user/tokens", class: account_, want: 200, req: fixed("/users/:u/tokens", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "apiTokens", "tok", "id") != "tok" {
					t.Errorf("tokens = %s", r.body)
				}
				if strings.Contains(string(r.body), "paas_") {
					t.Errorf("token list shows secrets: %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/tokens", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/tokens", map[string]string{"id": "t-" + tag}
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				m := r.obj(t)
				if s, _ := m["t-"+tag].(string); m["operation"] != "insert" || !strings.HasPrefix(s, "paas_") || len(m) != 2 {
					t.Errorf("token answer %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/users/:user/tokens", class: account_, want: 201, req: fixed("/users/:u/tokens", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if m := r.obj(t); m["operation"] != "insert" || len(m) != 2 {
					t.Errorf("token answer %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/users/:user/tokens/:token", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/tokens/p-" + tag, nil
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if s, _ := r.obj(t)["p-"+tag].(string); !strings.HasPrefix(s, "paas_") {
					t.Errorf("token answer %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/tokens/:token", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/tokens/q-" + tag, "{}"
			}},
		{method: "DELETE", pattern: "/users/:user/tokens/:token", class: account_, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				if _, _, err := h.store.CreateToken(o.name, "d-"+tag, false); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.name + "/tokens/d-" + tag, nil
			}},
		{method: "GET", pattern: "/users/:user/thirdparty", class: account_, want: 200, req: fixed("/users/:u/thirdparty", nil),
			check: func(t *testing.T, _ *harness, o account, _ string, r resp) {
				l := isList(t, r, "thirdparty")
				if len(l) == 0 || get(l[0], "provider") != "github" {
					t.Errorf("thirdparty = %s", r.body)
				}
				if strings.Contains(string(r.body), "ghp_fixture_"+o.name+"_0123456789") {
					t.Errorf("third-party token shown in full: %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/thirdparty", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/thirdparty", map[string]string{"token": "SEVMTE8gWUVTIEkgQU0gRE9HCg" + tag, "provider": "github", "id": "tp-" + tag}
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if get(r.obj(t), "thirdparty", "id") != "tp-"+tag || strings.Contains(string(r.body), "SEVMTE8gWUVTIEkgQU0gRE9HCg") {
					t.Errorf("thirdparty answer %s", r.body)
				}
			}},
		{method: "DELETE", pattern: "/users/:user/thirdparty/:id", class: account_, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				if _, err := h.store.PutThirdParty(o.name, paas.ThirdPartyToken{ID: "dt-" + tag, Provider: "npm", Token: "npm_" + tag}); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.name + "/thirdparty/dt-" + tag, nil
			}},
		{method: "GET", pattern: "/users/:user/keys", class: account_, want: 200, req: fixed("/users/:u/keys", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if l := isList(t, r, "keys"); len(l) == 0 {
					t.Errorf("keys = %s", r.body)
				}
			}},
		{method: "POST", pattern: "/users/:user/keys", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/keys", map[string]string{"id": "kp-" + tag, "key": testSSHKey}
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if get(r.obj(t), "key", "id") != "kp-"+tag {
					t.Errorf("key answer %s", r.body)
				}
			}},
		{method: "GET", pattern: "/users/:user/keys/:id", class: account_, want: 200, req: fixed("/users/:u/keys/k1", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "key", "key") != testSSHKey {
					t.Errorf("key = %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/users/:user/keys/:id", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/keys/ku-" + tag, map[string]string{"key": testSSHKey}
			}},
		{method: "POST", pattern: "/users/:user/keys/:id", class: account_, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/users/" + o.name + "/keys/kq-" + tag, map[string]string{"key": testSSHKey}
			}},
		{method: "DELETE", pattern: "/users/:user/keys/:id", class: account_, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				if _, err := h.store.PutSSHKey(o.name, paas.SSHKey{ID: "kd-" + tag, Key: testSSHKey}); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.name + "/keys/kd-" + tag, nil
			}},

		// Apps.
		{method: "GET", pattern: "/apps/:user", class: owned, want: 200, req: fixed("/apps/:u", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if l := isList(t, r, "apps"); len(l) == 0 || get(l[0], "name") == nil {
					t.Errorf("apps = %s", r.body)
				}
			}},
		{method: "POST", pattern: "/apps/:user", class: owned, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name, map[string]any{"name": "c-" + tag, "subdomain": "c-" + tag}
			},
			check: func(t *testing.T, h *harness, o account, tag string, r resp) {
				appView(t, h, o, tag, r)
				if get(r.obj(t), "app", "name") != "c-"+tag || get(r.obj(t), "app", "state") != "stopped" {
					t.Errorf("created app %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/apps/:user", class: owned, want: 200,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name, map[string]any{"name": "app1", "description": "d-" + tag}
			},
			check: func(t *testing.T, h *harness, o account, tag string, r resp) {
				appView(t, h, o, tag, r)
				if get(r.obj(t), "app", "description") != "d-"+tag {
					t.Errorf("updated app %s", r.body)
				}
			}},
		{method: "GET", pattern: "/apps/:user/:app", class: owned, want: 200, req: fixed("/apps/:u/app1", nil), check: appView},
		{method: "POST", pattern: "/apps/:user/:app", class: owned, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/p-" + tag, map[string]any{"name": "p-" + tag, "subdomain": "p-" + tag}
			},
			check: appView},
		{method: "PUT", pattern: "/apps/:user/:app", class: owned, want: 200,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/app1", map[string]any{"env": map[string]string{"TAG": tag}}
			},
			check: func(t *testing.T, h *harness, o account, tag string, r resp) {
				appView(t, h, o, tag, r)
				if get(r.obj(t), "app", "env", "TAG") != tag {
					t.Errorf("env not updated: %s", r.body)
				}
			}},
		{method: "DELETE", pattern: "/apps/:user/:app", class: owned, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				h.createApp(t, o.name, "d-"+tag)
				return "/apps/" + o.name + "/d-" + tag, nil
			},
			check: func(t *testing.T, h *harness, o account, tag string, _ resp) {
				if _, err := h.store.App(o.name, "d-"+tag); !paas.IsNotFound(err) {
					t.Errorf("app still there: %v", err)
				}
			}},
		{method: "POST", pattern: "/apps/:user/:app/available", class: owned, want: 200, req: fixed("/apps/:u/app1/available", "{}"),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if r.obj(t)["available"] != false {
					t.Errorf("existing app available: %s", r.body)
				}
			}},
		{method: "POST", pattern: "/apps/:user/:app/start", class: owned, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/" + startable(t, h, o, tag) + "/start", "{}"
			},
			check: started},
		{method: "POST", pattern: "/apps/:user/:app/stop", class: owned, want: 200, req: fixed("/apps/:u/app1/stop", "{}"),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "app", "state") != "stopped" {
					t.Errorf("stop answer %s", r.body)
				}
			}},
		{method: "POST", pattern: "/apps/:user/:app/restart", class: owned, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/" + startable(t, h, o, tag) + "/restart", "{}"
			},
			check: started},
		{method: "GET", pattern: "/apps/:user/:app/cloud", class: owned, want: 200, req: fixed("/apps/:u/app1/cloud", nil), check: cloud},
		{method: "POST", pattern: "/apps/:user/:app/cloud", class: owned, want: 200,
			req: fixed("/apps/:u/app1/cloud", []map[string]any{{"drones": 1, "provider": "selfhost", "datacenter": "local"}}), check: cloud},
		{method: "GET", pattern: "/apps/:user/:app/logs", class: owned, want: 200, req: fixed("/apps/:u/app1/logs?rows=2", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if lines := strings.Split(strings.TrimSpace(string(r.body)), "\n"); len(lines) != 2 {
					t.Errorf("log stream = %q", r.body)
				}
			}},

		// Snapshots.
		{method: "GET", pattern: "/apps/:user/:app/snapshots", class: owned, want: 200, req: fixed("/apps/:u/app1/snapshots", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if l := isList(t, r, "snapshots"); len(l) == 0 || get(l[0], "id") != "0.0.1" {
					t.Errorf("snapshots = %s", r.body)
				}
			}},
		{method: "GET", pattern: "/apps/:user/:app/snapshots/:id", class: owned, want: 200, req: fixed("/apps/:u/app1/snapshots/0.0.1", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "snapshot", "id") != "0.0.1" {
					t.Errorf("snapshot = %s", r.body)
				}
			}},
		{method: "POST", pattern: "/apps/:user/:app/snapshots/:id", class: owned, want: 201,
			req: func(t *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/app1/snapshots/v-" + tag, appTgz(t, helloFiles("app1", tag))
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if get(r.obj(t), "snapshot", "filename") != "app1-v-"+tag+".tgz" {
					t.Errorf("upload answer %s", r.body)
				}
			}},
		{method: "PUT", pattern: "/apps/:user/:app/snapshots/:id", class: owned, want: 201,
			req: func(t *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/apps/" + o.name + "/app1/snapshots/w-" + tag, appTgz(t, helloFiles("app1", tag))
			}},
		{method: "DELETE", pattern: "/apps/:user/:app/snapshots/:id", class: owned, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				h.uploadSnapshot(t, o.name, "app1", "d-"+tag)
				return "/apps/" + o.name + "/app1/snapshots/d-" + tag, nil
			},
			check: func(t *testing.T, h *harness, o account, tag string, _ resp) {
				if _, err := h.store.Snapshot(o.name, "app1", "d-"+tag); !paas.IsNotFound(err) {
					t.Errorf("snapshot still there: %v", err)
				}
			}},
		{method: "POST", pattern: "/apps/:user/:app/snapshots/:id/activate", class: owned, want: 200,
			req: fixed("/apps/:u/app1/snapshots/0.0.1/activate", "{}"),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "app", "snapshot") != "0.0.1" {
					t.Errorf("activate answer %s", r.body)
				}
			}},

		// Databases.
		{method: "GET", pattern: "/databases/:user", class: owned, want: 200, req: fixed("/databases/:u", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if l := isList(t, r, "databases"); len(l) == 0 {
					t.Errorf("databases = %s", r.body)
				}
			}},
		{method: "GET", pattern: "/databases/:user/:db", class: owned, want: 200, req: fixed("/databases/:u/db1", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if get(r.obj(t), "database", "name") != "db1" || get(r.obj(t), "database", "type") != "redis" {
					t.Errorf("database = %s", r.body)
				}
			}},
		{method: "POST", pattern: "/databases/:user/:db", class: owned, want: 201,
			req: func(_ *testing.T, _ *harness, o account, tag string) (string, any) {
				return "/databases/" + o.name + "/db-" + tag, map[string]string{"type": "mongo"}
			},
			check: func(t *testing.T, _ *harness, _ account, tag string, r resp) {
				if get(r.obj(t), "database", "name") != "db-"+tag || get(r.obj(t), "database", "type") != "mongo" {
					t.Errorf("database = %s", r.body)
				}
			}},
		{method: "DELETE", pattern: "/databases/:user/:db", class: owned, want: 200,
			req: func(t *testing.T, h *harness, o account, tag string) (string, any) {
				if _, err := h.store.CreateDatabase(paas.Database{Owner: o.name, Name: "dd-" + tag, Type: "couch"}); err != nil {
					t.Fatal(err)
				}
				return "/databases/" + o.name + "/dd-" + tag, nil
			}},

		// Logs.
		{method: "POST", pattern: "/logs/:user", class: owned, want: 200, req: fixed("/logs/:u", map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 15}),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if _, ok := get(r.obj(t), "app1", "data").([]any); !ok {
					t.Errorf("user logs = %s", r.body)
				}
			}},
		{method: "GET", pattern: "/logs/:user", class: owned, want: 200, req: fixed("/logs/:u", nil),
			check: func(t *testing.T, _ *harness, _ account, _ string, r resp) {
				if _, ok := get(r.obj(t), "app1", "data").([]any); !ok {
					t.Errorf("user logs = %s", r.body)
				}
			}},
		{method: "POST", pattern: "/logs/:user/:app", class: owned, want: 200, req: fixed("/logs/:u/app1", map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 15}), check: logData},
		{method: "GET", pattern: "/logs/:user/:app", class: owned, want: 200, req: fixed("/logs/:u/app1", nil), check: logData},
		{method: "GET", pattern: "/logs/:user/:app/:amount", class: owned, want: 200, req: fixed("/logs/:u/app1/5", nil), check: logData},
	}
}

var routeRE = regexp.MustCompile(`r\.(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\("([^"]+)"`)

// TestRouteTableIsComplete keeps routeCases in step with routes.go.
func TestRouteTableIsComplete(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, m := range routeRE.FindAllStringSubmatch(string(src), -1) {
		registered[m[1]+" "+m[2]] = true
	}
	if len(registered) < 50 {
		t.Fatalf("found only %d routes in routes.go; has the file's style changed?", len(registered))
	}
	covered := map[string]bool{}
	for _, c := range routeCases() {
		k := c.method + " " + c.pattern
		if covered[k] {
			t.Errorf("route %s is listed twice", k)
		}
		covered[k] = true
		if !registered[k] {
			t.Errorf("route %s is tested but not registered", k)
		}
	}
	var missing []string
	for k := range registered {
		if !covered[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("route %s has no test case", k)
	}
}

// TestRoutes calls every route as its owner (or anonymously, for public
// routes) and checks the status and the shape of the answer.
func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	for _, c := range routeCases() {
		t.Run(c.method+" "+c.pattern, func(t *testing.T) {
			o := f.a
			if c.freshOwner {
				o = h.newUser(t, "fresh"+h.tag())
			}
			tag := h.tag()
			path, body := c.req(t, h, o, tag)
			var cr cred
			if c.class != public {
				cr = o.basic()
			}
			r := h.do(t, c.method, path, cr, body)
			if r.status != c.want {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, path, r.status, c.want, r.body)
			}
			if c.check != nil {
				c.check(t, h, o, tag, r)
			}
		})
	}
}

type callerKind int

const (
	anonymous callerKind = iota
	ownerPassword
	ownerToken
	otherUser
	adminUser
)

// TestAuthorizationMatrix calls every route on alice's resources as every kind
// of caller and checks the status; a refused call must change nothing.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	callers := []struct {
		name string
		kind callerKind
		cred func(o account) cred
	}{
		{"anonymous", anonymous, func(account) cred { return nil }},
		{"owner-password", ownerPassword, func(o account) cred { return o.basic() }},
		{"owner-token-basic", ownerToken, func(o account) cred { return o.tokenBasic() }},
		{"owner-token-bearer", ownerToken, func(o account) cred { return o.bearer() }},
		{"other-user", otherUser, func(account) cred { return f.b.basic() }},
		{"admin", adminUser, func(account) cred { return h.admin.basic() }},
	}
	expect := func(c routeCase, k callerKind) int {
		switch {
		case c.class == public:
			return c.want
		case k == anonymous:
			return http.StatusUnauthorized
		case c.class == authed:
			return c.want
		case k == otherUser:
			return http.StatusForbidden
		case k == ownerToken && c.class == account_:
			return http.StatusForbidden
		}
		return c.want
	}
	for _, c := range routeCases() {
		for _, caller := range callers {
			t.Run(c.method+" "+c.pattern+" as "+caller.name, func(t *testing.T) {
				o := f.a
				if c.freshOwner {
					o = h.newUser(t, "fresh"+h.tag())
					h.createApp(t, o.name, "app1")
				}
				tag := h.tag()
				path, body := c.req(t, h, o, tag)
				before := h.digest(t, o.name)
				otherBefore := h.digest(t, f.b.name)
				r := h.do(t, c.method, path, caller.cred(o), body)
				wantStatus := expect(c, caller.kind)
				if r.status != wantStatus {
					t.Fatalf("%s %s as %s: status %d, want %d: %s", c.method, path, caller.name, r.status, wantStatus, r.body)
				}
				if r.status >= 400 {
					if after := h.digest(t, o.name); after != before {
						t.Errorf("refused call changed %s's data:\nbefore:\n%s\nafter:\n%s", o.name, before, after)
					}
				} else if c.check != nil {
					c.check(t, h, o, tag, r)
				}
				if c.class != public && caller.kind != otherUser {
					if after := h.digest(t, f.b.name); after != otherBefore {
						t.Errorf("a call on %s's resources changed %s's data", o.name, f.b.name)
					}
				}
			})
		}
	}
}

// TestRouterFallbacks checks the router-level answers: unknown paths and wrong
// methods get the error shape and the header too.
func TestRouterFallbacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	cases := []struct {
		method, path string
		cr           cred
		want         int
	}{
		{"GET", "/nope", nil, 404},
		{"GET", "/apps", f.a.basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/0.0.1/extra/deep", f.a.basic(), 404},
		{"PATCH", "/apps/alice", f.a.basic(), 405},
		{"DELETE", "/auth", nil, 405},
		{"POST", "/endpoints", nil, 405},
		{"PUT", "/logs/alice/app1", f.a.basic(), 405},
		{"POST", "/users/alice/taken", nil, 404}, // only /users/email/taken exists
		{"GET", "/apps/alice/nosuchapp", f.a.basic(), 404},
		{"GET", "/apps/nosuchuser", h.admin.basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/9.9.9", f.a.basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/9.9.9.tgz", f.a.basic(), 404},
		{"GET", "/databases/alice/nodb", f.a.basic(), 404},
		{"DELETE", "/users/alice/tokens/notoken", f.a.basic(), 404},
		{"DELETE", "/users/alice/thirdparty/none", f.a.basic(), 404},
		{"GET", "/users/alice/keys/none", f.a.basic(), 404},
		{"GET", "/auth", basicCred("alice", "wrong-password"), 401},
		{"GET", "/auth", bearerCred("paas_not-a-token"), 401},
		{"GET", "/auth", func(r *http.Request) { r.Header.Set("Authorization", "Digest abc") }, 401},
		{"GET", "/auth", basicCred("bob", f.a.token), 401}, // alice's token under bob's name
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := h.do(t, c.method, c.path, c.cr, nil)
			want(t, r, c.want)
		})
	}
}

// TestRouterRedirectsCarryHeader: with httprouter's defaults (as in
// server.NewHandler), a wrongly-cased static path is answered by the router
// itself with a redirect; that answer must carry X-Powered-By too.
func TestRouterRedirectsCarryHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path string }{{"GET", "/Auth"}, {"GET", "/ENDPOINTS"}, {"OPTIONS", "/auth"}} {
		req, _ := http.NewRequest(c.method, h.srv.URL+c.path, bytes.NewReader(nil))
		f.a.basic()(req)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("X-Powered-By") != "Nodejitsu" {
			t.Errorf("%s %s → %d without X-Powered-By", c.method, c.path, res.StatusCode)
		}
	}
}
