package nodejitsu_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// fixture is a harness with two users: alice (the owner whose objects the
// tests act on) and bob (another user), each with their userObjects.
type fixture struct {
	h    *harness
	a, b paastest.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := newHarness(t)
	f := &fixture{h: h, a: h.NewUser(t, "alice"), b: h.NewUser(t, "bob")}
	h.userObjects(t, f.a.Name)
	h.userObjects(t, f.b.Name)
	return f
}

// ownerPath is a Case.Req for a fixed path where ":u" stands for the
// owner's name and ":a" for the name of its app (appOf).
func ownerPath(path string, body any) func(*testing.T, paastest.Account, string) (string, any) {
	return func(_ *testing.T, o paastest.Account, _ string) (string, any) {
		return strings.NewReplacer(":u", o.Name, ":a", appOf(o.Name)).Replace(path), body
	}
}

// checked turns a check of the decoded answer into a Case.Check.
func checked(check func(t *testing.T, o paastest.Account, tag string, r resp)) func(*testing.T, paastest.Account, string, paastest.Response) {
	return func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
		t.Helper()
		check(t, o, tag, resp(r))
	}
}

// routeCases covers every route of the face (TestRouteTableIsComplete
// checks it) on h's objects of the owner a case is called for.
func routeCases(h *harness) []paastest.Case {
	appView := func(t *testing.T, _ paastest.Account, _ string, r resp) {
		t.Helper()
		m := hasKey(t, r, "app")
		for _, k := range []string{"name", "state", "subdomain", "drones", "maxDrones", "snapshot", "snapshots", "running", "config"} {
			if _, ok := m["app"].(map[string]any)[k]; !ok {
				t.Errorf("app has no %q: %s", k, r.Body)
			}
		}
		if _, ok := get(m, "app", "config", "cloud").([]any); !ok {
			t.Errorf("app.config.cloud is not a list: %s", r.Body)
		}
	}
	logData := func(t *testing.T, _ paastest.Account, _ string, r resp) {
		t.Helper()
		isList(t, r, "data")
	}
	logLines := func(t *testing.T, _ paastest.Account, _ string, r resp) {
		t.Helper()
		r.arr(t) // an array (jitsu 0.15 reverses it)
	}
	cloud := func(t *testing.T, _ paastest.Account, _ string, r resp) {
		t.Helper()
		l := r.arr(t)
		if len(l) != 1 || get(l[0], "drones") == nil || get(l[0], "provider") == nil || get(l[0], "datacenter") == nil {
			t.Errorf("cloud = %s", r.Body)
		}
	}
	startable := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		name := "s-" + tag
		h.createApp(t, o.Name, name)
		h.uploadSnapshot(t, o.Name, name, "1.0.0")
		// Its units log as they please (log capture is asynchronous),
		// which would show in the owner's digest during later calls: the
		// app goes once the call is checked (late lines of a deleted app
		// are dropped).
		t.Cleanup(func() {
			if _, err := h.DeleteApp(context.Background(), h.asAdmin, o.Name, name); err != nil {
				t.Errorf("remove %s/%s: %v", o.Name, name, err)
			}
		})
		return name
	}
	started := func(t *testing.T, o paastest.Account, tag string, r resp) {
		t.Helper()
		m := r.obj(t)
		if get(m, "app", "state") != "started" {
			t.Errorf("state = %v, want started", get(m, "app", "state"))
		}
		if got := h.Deployer.Backends(o.Name + "/s-" + tag); len(got) != 1 {
			t.Errorf("backends = %v, want 1", got)
		}
	}
	return []paastest.Case{
		// Service routes.
		{Method: "GET", Pattern: "/auth", Class: paastest.Authed, Want: 200, Req: ownerPath("/auth", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) { hasKey(t, r, "user", "admin", "token") })},
		{Method: "GET", Pattern: "/endpoints", Class: paastest.Public, Want: 200, Req: ownerPath("/endpoints", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if got := get(r.obj(t), "endpoints", "selfhost", "local"); got != h.Server.URL {
					t.Errorf("endpoint = %v, want %s", got, h.Server.URL)
				}
			})},

		// Users: public routes.
		{Method: "POST", Pattern: "/users/:user", Class: paastest.Public, Want: 201,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/users/n" + tag, map[string]string{"email": "n" + tag + "@example.com", "password": "longenough1"}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				if get(r.obj(t), "user", "username") != "n"+tag || get(r.obj(t), "user", "status") != "pending" {
					t.Errorf("signup answer %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/users/:user/available", Class: paastest.Public, Want: 200, Req: ownerPath("/users/:u/available", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if r.obj(t)["available"] != false {
					t.Errorf("existing user is available: %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/email/taken", Class: paastest.Public, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, _ string) (string, any) {
				return "/users/email/taken", map[string]string{"email": o.Email()}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if r.obj(t)["taken"] != true {
					t.Errorf("owner email not taken: %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/confirm", Class: paastest.Public, Want: 200,
			Req: func(t *testing.T, _ paastest.Account, tag string) (string, any) {
				name := "c" + tag
				if _, err := h.SignUp(t.Context(), name, name+"@example.com", ""); err != nil {
					t.Fatal(err)
				}
				return "/users/" + name + "/confirm", map[string]string{"inviteCode": h.Mail.LastCode(t, name+"@example.com"), "password": "longenough1"}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "user", "status") != "active" {
					t.Errorf("confirm answer %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/forgot", Class: paastest.Public, Want: 200, Req: ownerPath("/users/:u/forgot", map[string]string{})},

		// Users: account routes.
		{Method: "GET", Pattern: "/users/:user", Class: paastest.Account_, Want: 200, Req: ownerPath("/users/:u", nil),
			Check: checked(func(t *testing.T, o paastest.Account, _ string, r resp) {
				m := r.obj(t)
				if get(m, "user", "username") != o.Name || get(m, "user", "email") != o.Email() {
					t.Errorf("user = %s", r.Body)
				}
				if strings.Contains(string(r.Body), "password") || strings.Contains(string(r.Body), "hash") {
					t.Errorf("user view leaks secrets: %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/users/:user", Class: paastest.Account_, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name, map[string]string{"email": o.Name + "+" + tag + "@example.com"}
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, _ resp) {
				if u, _ := h.Store.User(o.Name); u.Email != o.Name+"+"+tag+"@example.com" {
					t.Errorf("email = %q", u.Email)
				}
			})},
		{Method: "DELETE", Pattern: "/users/:user", Class: paastest.Account_, Want: 200, Fresh: true, Req: ownerPath("/users/:u", nil),
			Check: checked(func(t *testing.T, o paastest.Account, _ string, _ resp) {
				if _, err := h.Store.User(o.Name); !paas.IsNotFound(err) {
					t.Errorf("user still there: %v", err)
				}
			})},
		{Method: "GET", Pattern: "/users/:user/tokens", Class: paastest.Account_, Want: 200, Req: ownerPath("/users/:u/tokens", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "apiTokens", "tok", "id") != "tok" {
					t.Errorf("tokens = %s", r.Body)
				}
				if strings.Contains(string(r.Body), "paas_") {
					t.Errorf("token list shows secrets: %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/tokens", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/tokens", map[string]string{"id": "t-" + tag}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				m := r.obj(t)
				if s, _ := m["t-"+tag].(string); m["operation"] != "insert" || !strings.HasPrefix(s, "paas_") || len(m) != 2 {
					t.Errorf("token answer %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/users/:user/tokens", Class: paastest.Account_, Want: 201, Req: ownerPath("/users/:u/tokens", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if m := r.obj(t); m["operation"] != "insert" || len(m) != 2 {
					t.Errorf("token answer %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/users/:user/tokens/:token", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/tokens/p-" + tag, nil
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				if s, _ := r.obj(t)["p-"+tag].(string); !strings.HasPrefix(s, "paas_") {
					t.Errorf("token answer %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/tokens/:token", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/tokens/q-" + tag, "{}"
			}},
		{Method: "DELETE", Pattern: "/users/:user/tokens/:token", Class: paastest.Account_, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if _, _, err := h.Store.CreateToken(o.Name, "d-"+tag, false); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.Name + "/tokens/d-" + tag, nil
			}},
		{Method: "GET", Pattern: "/users/:user/thirdparty", Class: paastest.Account_, Want: 200, Req: ownerPath("/users/:u/thirdparty", nil),
			Check: checked(func(t *testing.T, o paastest.Account, _ string, r resp) {
				l := isList(t, r, "thirdparty")
				if len(l) == 0 || get(l[0], "provider") != "github" {
					t.Errorf("thirdparty = %s", r.Body)
				}
				if strings.Contains(string(r.Body), "ghp_fixture_"+o.Name+"_0123456789") {
					t.Errorf("third-party token shown in full: %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/thirdparty", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/thirdparty", map[string]string{"token": "SEVMTE8gWUVTIEkgQU0gRE9HCg" + tag, "provider": "github", "id": "tp-" + tag}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				if get(r.obj(t), "thirdparty", "id") != "tp-"+tag || strings.Contains(string(r.Body), "SEVMTE8gWUVTIEkgQU0gRE9HCg") {
					t.Errorf("thirdparty answer %s", r.Body)
				}
			})},
		{Method: "DELETE", Pattern: "/users/:user/thirdparty/:id", Class: paastest.Account_, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if _, err := h.Store.PutThirdParty(o.Name, paas.ThirdPartyToken{ID: "dt-" + tag, Provider: "npm", Token: "npm_" + tag}); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.Name + "/thirdparty/dt-" + tag, nil
			}},
		{Method: "GET", Pattern: "/users/:user/keys", Class: paastest.Account_, Want: 200, Req: ownerPath("/users/:u/keys", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if l := isList(t, r, "keys"); len(l) == 0 {
					t.Errorf("keys = %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/users/:user/keys", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/keys", map[string]string{"id": "kp-" + tag, "key": testSSHKey}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				if get(r.obj(t), "key", "id") != "kp-"+tag {
					t.Errorf("key answer %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/users/:user/keys/:id", Class: paastest.Account_, Want: 200, Req: ownerPath("/users/:u/keys/k1", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "key", "key") != testSSHKey {
					t.Errorf("key = %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/users/:user/keys/:id", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/keys/ku-" + tag, map[string]string{"key": testSSHKey}
			}},
		{Method: "POST", Pattern: "/users/:user/keys/:id", Class: paastest.Account_, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/users/" + o.Name + "/keys/kq-" + tag, map[string]string{"key": testSSHKey}
			}},
		{Method: "DELETE", Pattern: "/users/:user/keys/:id", Class: paastest.Account_, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if _, err := h.Store.PutSSHKey(o.Name, paas.SSHKey{ID: "kd-" + tag, Key: testSSHKey}); err != nil {
					t.Fatal(err)
				}
				return "/users/" + o.Name + "/keys/kd-" + tag, nil
			}},

		// Apps.
		{Method: "GET", Pattern: "/apps/:user", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if l := isList(t, r, "apps"); len(l) == 0 || get(l[0], "name") == nil {
					t.Errorf("apps = %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user", Class: paastest.Owned, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name, map[string]any{"name": "c-" + tag, "subdomain": "c-" + tag}
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, r resp) {
				appView(t, o, tag, r)
				if get(r.obj(t), "app", "name") != "c-"+tag || get(r.obj(t), "app", "state") != "stopped" {
					t.Errorf("created app %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/apps/:user", Class: paastest.Owned, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name, map[string]any{"name": appOf(o.Name), "description": "d-" + tag}
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, r resp) {
				appView(t, o, tag, r)
				if get(r.obj(t), "app", "description") != "d-"+tag {
					t.Errorf("updated app %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/apps/:user/:app", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a", nil), Check: checked(appView)},
		{Method: "POST", Pattern: "/apps/:user/:app", Class: paastest.Owned, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/p-" + tag, map[string]any{"name": "p-" + tag, "subdomain": "p-" + tag}
			},
			Check: checked(appView)},
		{Method: "PUT", Pattern: "/apps/:user/:app", Class: paastest.Owned, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/" + appOf(o.Name), map[string]any{"env": map[string]string{"TAG": tag}}
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, r resp) {
				appView(t, o, tag, r)
				if get(r.obj(t), "app", "env", "TAG") != tag {
					t.Errorf("env not updated: %s", r.Body)
				}
			})},
		{Method: "DELETE", Pattern: "/apps/:user/:app", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				h.createApp(t, o.Name, "d-"+tag)
				return "/apps/" + o.Name + "/d-" + tag, nil
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, _ resp) {
				if _, err := h.Store.App(o.Name, "d-"+tag); !paas.IsNotFound(err) {
					t.Errorf("app still there: %v", err)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user/:app/available", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/available", "{}"),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if r.obj(t)["available"] != false {
					t.Errorf("existing app available: %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user/:app/start", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/" + startable(t, o, tag) + "/start", "{}"
			},
			Check: checked(started)},
		{Method: "POST", Pattern: "/apps/:user/:app/stop", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/stop", "{}"),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "app", "state") != "stopped" {
					t.Errorf("stop answer %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user/:app/restart", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/" + startable(t, o, tag) + "/restart", "{}"
			},
			Check: checked(started)},
		{Method: "GET", Pattern: "/apps/:user/:app/cloud", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/cloud", nil), Check: checked(cloud)},
		{Method: "POST", Pattern: "/apps/:user/:app/cloud", Class: paastest.Owned, Want: 200,
			Req: ownerPath("/apps/:u/:a/cloud", []map[string]any{{"drones": 1, "provider": "selfhost", "datacenter": "local"}}), Check: checked(cloud)},
		{Method: "GET", Pattern: "/apps/:user/:app/logs", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/logs?rows=2", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n"); len(lines) != 2 {
					t.Errorf("log stream = %q", r.Body)
				}
			})},

		// Snapshots.
		{Method: "GET", Pattern: "/apps/:user/:app/snapshots", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/snapshots", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if l := isList(t, r, "snapshots"); len(l) == 0 || get(l[0], "id") != "0.0.1" {
					t.Errorf("snapshots = %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/apps/:user/:app/snapshots/:id", Class: paastest.Owned, Want: 200, Req: ownerPath("/apps/:u/:a/snapshots/0.0.1", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "snapshot", "id") != "0.0.1" {
					t.Errorf("snapshot = %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user/:app/snapshots/:id", Class: paastest.Owned, Want: 201,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/" + appOf(o.Name) + "/snapshots/v-" + tag, appTgz(t, helloFiles(appOf(o.Name), tag))
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, r resp) {
				if get(r.obj(t), "snapshot", "filename") != appOf(o.Name)+"-v-"+tag+".tgz" {
					t.Errorf("upload answer %s", r.Body)
				}
			})},
		{Method: "PUT", Pattern: "/apps/:user/:app/snapshots/:id", Class: paastest.Owned, Want: 201,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/apps/" + o.Name + "/" + appOf(o.Name) + "/snapshots/w-" + tag, appTgz(t, helloFiles(appOf(o.Name), tag))
			}},
		{Method: "DELETE", Pattern: "/apps/:user/:app/snapshots/:id", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				h.uploadSnapshot(t, o.Name, appOf(o.Name), "d-"+tag)
				return "/apps/" + o.Name + "/" + appOf(o.Name) + "/snapshots/d-" + tag, nil
			},
			Check: checked(func(t *testing.T, o paastest.Account, tag string, _ resp) {
				if _, err := h.Store.Snapshot(o.Name, appOf(o.Name), "d-"+tag); !paas.IsNotFound(err) {
					t.Errorf("snapshot still there: %v", err)
				}
			})},
		{Method: "POST", Pattern: "/apps/:user/:app/snapshots/:id/activate", Class: paastest.Owned, Want: 200,
			Req: ownerPath("/apps/:u/:a/snapshots/0.0.1/activate", "{}"),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "app", "snapshot") != "0.0.1" {
					t.Errorf("activate answer %s", r.Body)
				}
			})},

		// Databases.
		{Method: "GET", Pattern: "/databases/:user", Class: paastest.Owned, Want: 200, Req: ownerPath("/databases/:u", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if l := isList(t, r, "databases"); len(l) == 0 {
					t.Errorf("databases = %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/databases/:user/:db", Class: paastest.Owned, Want: 200, Req: ownerPath("/databases/:u/db1", nil),
			Check: checked(func(t *testing.T, _ paastest.Account, _ string, r resp) {
				if get(r.obj(t), "database", "name") != "db1" || get(r.obj(t), "database", "type") != "redis" {
					t.Errorf("database = %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/databases/:user/:db", Class: paastest.Owned, Want: 201,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return "/databases/" + o.Name + "/db-" + tag, map[string]string{"type": "mongo"}
			},
			Check: checked(func(t *testing.T, _ paastest.Account, tag string, r resp) {
				if get(r.obj(t), "database", "name") != "db-"+tag || get(r.obj(t), "database", "type") != "mongo" {
					t.Errorf("database = %s", r.Body)
				}
			})},
		{Method: "DELETE", Pattern: "/databases/:user/:db", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if _, err := h.Store.CreateDatabase(paas.Database{Owner: o.Name, Name: "dd-" + tag, Type: "couch"}); err != nil {
					t.Fatal(err)
				}
				return "/databases/" + o.Name + "/dd-" + tag, nil
			}},

		// Logs.
		{Method: "POST", Pattern: "/logs/:user", Class: paastest.Owned, Want: 200, Req: ownerPath("/logs/:u", map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 15}),
			Check: checked(func(t *testing.T, o paastest.Account, _ string, r resp) {
				if _, ok := get(r.obj(t), appOf(o.Name), "data").([]any); !ok {
					t.Errorf("user logs = %s", r.Body)
				}
			})},
		{Method: "GET", Pattern: "/logs/:user", Class: paastest.Owned, Want: 200, Req: ownerPath("/logs/:u", nil),
			Check: checked(func(t *testing.T, o paastest.Account, _ string, r resp) {
				if _, ok := get(r.obj(t), appOf(o.Name), "data").([]any); !ok {
					t.Errorf("user logs = %s", r.Body)
				}
			})},
		{Method: "POST", Pattern: "/logs/:user/:app", Class: paastest.Owned, Want: 200, Req: ownerPath("/logs/:u/:a", map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 15}), Check: checked(logData)},
		{Method: "GET", Pattern: "/logs/:user/:app", Class: paastest.Owned, Want: 200, Req: ownerPath("/logs/:u/:a", nil), Check: checked(logLines)},
		{Method: "GET", Pattern: "/logs/:user/:app/:amount", Class: paastest.Owned, Want: 200, Req: ownerPath("/logs/:u/:a/5", nil), Check: checked(logLines)},
		// A plain GET is no websocket: once the caller may see the app, the
		// upgrade is asked for (TestPrimusLiveTail speaks the socket).
		{Method: "GET", Pattern: "/primus", Class: paastest.Owned, Want: http.StatusUpgradeRequired,
			Req: func(_ *testing.T, o paastest.Account, _ string) (string, any) {
				return "/primus?subscribe=logs/" + o.Name + "/" + appOf(o.Name), nil
			}},
	}
}

// TestRouteTableIsComplete keeps routeCases in step with the face's route table.
func TestRouteTableIsComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	routes := h.Faces.Nodejitsu.Routes()
	if len(routes) < 50 {
		t.Fatalf("the face lists only %d routes", len(routes))
	}
	paastest.CheckCoverage(t, routes, routeCases(h))
}

// TestRoutesReachHandlers: through the production handler (the faces'
// dispatcher, then the face's route groups), every route of the table
// reaches its own handler, POST /users/email/taken (a group of its own)
// and every /users/:user/… route included.
func TestRoutesReachHandlers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	paastest.CheckRoutesReachHandlers(t, h.Faces.Handler(), h.Faces.Nodejitsu.Routes())
}

// TestRoutes calls every route as its owner (or anonymously, for public
// routes) and checks the status and the shape of the answer.
func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	for _, c := range routeCases(h) {
		t.Run(c.Method+" "+c.Pattern, func(t *testing.T) {
			o := f.a
			if c.Fresh {
				o = h.NewUser(t, "fresh"+h.tag())
				h.userObjects(t, o.Name)
			}
			tag := h.tag()
			path, body := c.Req(t, o, tag)
			var cr paastest.Cred
			if c.Class != paastest.Public {
				cr = o.Basic()
			}
			r := h.do(t, c.Method, path, cr, body)
			if r.Status != c.Want {
				t.Fatalf("%s %s: status %d, want %d: %s", c.Method, path, r.Status, c.Want, r.Body)
			}
			if c.Check != nil {
				c.Check(t, o, tag, paastest.Response(r))
			}
		})
	}
}

// TestAuthorizationMatrix calls every route on alice's objects as every kind
// of caller and checks the status the Nodejitsu document gives each; a
// refused call must change nothing, and no call may change bob's data.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	paastest.Matrix{
		TP:             h.Platform,
		Owner:          f.a,
		Other:          f.b,
		Cases:          routeCases(h),
		Setup:          func(t *testing.T, o paastest.Account) { h.userObjects(t, o.Name) },
		Anonymous:      http.StatusUnauthorized,
		Stranger:       http.StatusForbidden,
		TokenOnAccount: http.StatusForbidden,
		Check:          checkCommon,
	}.Run(t)
}

// TestRouterFallbacks checks the router-level answers: unknown paths and wrong
// methods get the error shape and the header too.
func TestRouterFallbacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	cases := []struct {
		method, path string
		cr           paastest.Cred
		want         int
	}{
		{"GET", "/nope", nil, 404},
		{"GET", "/apps", f.a.Basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/0.0.1/extra/deep", f.a.Basic(), 404},
		{"PATCH", "/apps/alice", f.a.Basic(), 405},
		{"DELETE", "/auth", nil, 405},
		{"POST", "/endpoints", nil, 405},
		{"PUT", "/logs/alice/app1", f.a.Basic(), 405},
		{"POST", "/users/alice/taken", nil, 404}, // only /users/email/taken exists
		{"GET", "/users/email/taken", nil, 405},  // the path is known, with POST
		{"GET", "/apps/alice/nosuchapp", f.a.Basic(), 404},
		{"GET", "/apps/alice/app2", f.a.Basic(), 404}, // bob's app, under alice
		{"GET", "/apps/nosuchuser", h.Admin.Basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/9.9.9", f.a.Basic(), 404},
		{"GET", "/apps/alice/app1/snapshots/9.9.9.tgz", f.a.Basic(), 404},
		{"GET", "/databases/alice/nodb", f.a.Basic(), 404},
		{"DELETE", "/users/alice/tokens/notoken", f.a.Basic(), 404},
		{"DELETE", "/users/alice/thirdparty/none", f.a.Basic(), 404},
		{"GET", "/users/alice/keys/none", f.a.Basic(), 404},
		{"GET", "/auth", paastest.BasicCred("alice", "wrong-password"), 401},
		{"GET", "/auth", paastest.BearerCred("paas_not-a-token"), 401},
		{"GET", "/auth", func(r *http.Request) { r.Header.Set("Authorization", "Digest abc") }, 401},
		{"GET", "/auth", paastest.BasicCred("bob", f.a.Token), 401}, // alice's token under bob's name
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := h.do(t, c.method, c.path, c.cr, nil)
			want(t, r, c.want)
		})
	}
}

// TestRouterRedirectsCarryHeader: the router never redirects (a redirect
// would turn POST /logs/:user/ into a GET): a wrongly-cased path is a 404,
// OPTIONS a 405, a trailing slash is served as without it, and every one
// of these answers carries X-Powered-By and, when an error, the error shape.
func TestRouterRedirectsCarryHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.h
	client := *h.Server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/Auth", 404},
		{"GET", "/ENDPOINTS", 404},
		{"GET", "/APPS/alice", 404},
		{"OPTIONS", "/auth", 405},
		{"GET", "/auth/", 200},
		{"GET", "/apps/alice/", 200},
		{"POST", "/logs/alice/", 200},
		{"POST", "/logs/alice/app1/", 200},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, err := http.NewRequest(c.method, h.Server.URL+c.path, bytes.NewReader(nil))
			if err != nil {
				t.Fatal(err)
			}
			f.a.Basic()(req)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body bytes.Buffer
			if _, err := body.ReadFrom(res.Body); err != nil {
				t.Fatal(err)
			}
			r := paastest.Response{Status: res.StatusCode, Header: res.Header, Body: body.Bytes()}
			checkCommon(t, c.method+" "+c.path, r)
			if r.Status != c.want {
				t.Errorf("%s %s → %d (Location %q), want %d: %s", c.method, c.path, r.Status, res.Header.Get("Location"), c.want, r.Body)
			}
		})
	}
}
