package tsuru_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/tsuru"
)

const sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0Y2hlY2tlZGtleWZvcnRoZXRzdXJ1ZmFjZXRlc3Q= test"

var deployIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

func newPlatform(t *testing.T) *paastest.Platform {
	t.Helper()
	return paastest.NewPlatform(t, paastest.Config{Domain: "paas.test"})
}

// archive is a deployable app as the tsuru client packs it: first entry
// ".", names without "./".
func archive(t testing.TB, name string) []byte {
	t.Helper()
	return paastest.TarGz(t, map[string]string{
		"package.json": `{"name":"` + name + `","scripts":{"start":"node server.js"}}`, "server.js": "//"})
}

// multipartFile is the client's deploy body.
func multipartFile(t testing.TB, data []byte) paastest.Raw {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "archive.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return paastest.Raw{Type: mw.FormDataContentType(), Data: b.Bytes()}
}

// newApp gives owner a stopped app with one snapshot.
func newApp(t *testing.T, tp *paastest.Platform, o paastest.Account, name string) {
	t.Helper()
	ctx := context.Background()
	pr := tp.Principal(t, o)
	if _, err := tp.CreateApp(ctx, pr, o.Name, paas.AppSpec{Name: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.UploadSnapshot(ctx, pr, o.Name, name, "v1", bytes.NewReader(archive(t, name))); err != nil {
		t.Fatal(err)
	}
}

func streamOK(t *testing.T, r paastest.Response) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(string(r.Body)), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stream line %q is not a JSON object: %v", line, err)
		}
		if m["Error"] != "" {
			t.Fatalf("stream failed: %s", r.Body)
		}
	}
}

// TestAuthorizationMatrix calls every route of the face as every kind of
// caller on the owner's objects: anonymous callers get exactly 401 (the
// client then asks to log in), other users 403 for an app and 404 for a
// team, as for one that does not exist; API tokens cannot act on the
// account. Every answer carries Supported-Tsuru.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	tp := newPlatform(t)
	ctx := context.Background()
	alice, bob, carol := tp.NewUser(t, "alice"), tp.NewUser(t, "bob"), tp.NewUser(t, "carol")
	newApp(t, tp, alice, "site")
	if _, err := tp.StartApp(ctx, tp.Principal(t, alice), "alice", "site"); err != nil {
		t.Fatal(err)
	}
	newApp(t, tp, bob, "bobsite")
	newApp(t, tp, tp.Admin, "adminsite")
	tp.NewTeam(t, "crew", alice, carol)
	siteDeploy := func(t *testing.T) string {
		r := tp.Do(t, "GET", "/tsuru/deploys?app=site", alice.Basic(), nil)
		var ds []struct{ ID string }
		if err := json.Unmarshal(r.Body, &ds); err != nil || len(ds) == 0 {
			t.Fatalf("deploys of site: %d %s", r.Status, r.Body)
		}
		return ds[0].ID
	}
	freshApp := func(t *testing.T, o paastest.Account, tag string) string {
		newApp(t, tp, o, "app-"+tag)
		return "app-" + tag
	}
	freshTeam := func(t *testing.T, o paastest.Account, tag string, members ...paastest.Account) string {
		tp.NewTeam(t, "team-"+tag, o, members...)
		return "team-" + tag
	}
	if _, err := tp.CreateDatabase(ctx, tp.Principal(t, alice), "alice", "cache", "redis"); err != nil {
		t.Fatal(err)
	}
	freshInstance := func(t *testing.T, o paastest.Account, tag string) string {
		if _, err := tp.CreateDatabase(ctx, tp.Principal(t, o), o.Name, "db-"+tag, "redis"); err != nil {
			t.Fatal(err)
		}
		return "db-" + tag
	}
	// An external service at a loopback endpoint (so registered by an
	// admin), granted to alice's team.
	ext := httptest.NewServer(&serviceAPI{})
	t.Cleanup(ext.Close)
	tp.NewTeam(t, "ops", tp.Admin)
	adminPr := tp.AdminPrincipal(t)
	manifest := func(id string) []byte {
		return []byte("id: " + id + "\nusername: ext_api\npassword: ext-secret\nendpoint:\n  production: " + ext.URL + "\n")
	}
	newService := func(t *testing.T, id string) string {
		if _, err := tp.CreateService(ctx, adminPr, manifest(id)); err != nil {
			t.Fatal(err)
		}
		if err := tp.GrantService(ctx, adminPr, id, "crew"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	newService(t, "ext")
	fixed := paastest.Fixed
	yaml := func(id string) paastest.Raw { return paastest.Raw{Type: "application/x-yaml", Data: manifest(id)} }
	cases := []paastest.Case{
		// Endpoints on loopback are the admins': users are refused (403).
		{Method: "POST", Pattern: "/tsuru/services", Class: paastest.Authed, Want: 403,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/services", yaml("new-" + tag)
			}},
		{Method: "PUT", Pattern: "/tsuru/services", Class: paastest.Owned, Want: 403, Stranger: 404, Req: fixed("/tsuru/services", yaml("ext"))},
		{Method: "GET", Pattern: "/tsuru/services/:service", Class: paastest.Owned, Want: 200, Stranger: 404, Req: fixed("/tsuru/services/ext", nil)},
		{Method: "DELETE", Pattern: "/tsuru/services/:service", Class: paastest.Owned, Want: 204, Stranger: 404,
			Req: func(t *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/services/" + newService(t, "del-"+tag), nil
			}},
		{Method: "GET", Pattern: "/tsuru/services/:service/doc", Class: paastest.Owned, Want: 200, Stranger: 404, Req: fixed("/tsuru/services/ext/doc", nil)},
		{Method: "PUT", Pattern: "/tsuru/services/:service/doc", Class: paastest.Owned, Want: 200, Stranger: 404, Req: fixed("/tsuru/services/ext/doc", "docs")},
		{Method: "PUT", Pattern: "/tsuru/services/:service/:team", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/services/" + newService(t, "grant-"+tag) + "/" + freshTeam(t, o, tag), nil
			}},
		{Method: "DELETE", Pattern: "/tsuru/services/:service/:team", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/services/" + newService(t, "revoke-"+tag) + "/crew", nil
			}},
		{Method: "GET", Pattern: "/tsuru/services", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/services", nil)},
		{Method: "GET", Pattern: "/tsuru/services/instances", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/services/instances", nil)},
		{Method: "POST", Pattern: "/tsuru/services/instances", Class: paastest.Authed, Want: 201,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/services/instances", map[string]string{"name": "new-" + tag, "service_name": "redis"}
			}},
		{Method: "GET", Pattern: "/tsuru/services/instances/:instance", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: fixed("/tsuru/services/instances/cache", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"servicename":"redis"`) || strings.Contains(string(r.Body), "password") {
					t.Errorf("instance info: %s", r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/services/instances/:instance", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/services/instances/" + freshInstance(t, o, tag), nil
			}},
		{Method: "GET", Pattern: "/tsuru/services/instances/:instance/status", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: fixed("/tsuru/services/instances/cache/status", nil)},
		{Method: "PUT", Pattern: "/tsuru/services/instances/:instance/:app", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/services/instances/" + freshInstance(t, o, tag) + "/" + freshApp(t, o, tag), nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				a, _ := tp.Store.App(o.Name, "app-"+tag)
				if !strings.HasPrefix(a.Env["REDIS_URL"], "redis://:") || !strings.Contains(string(r.Body), "REDIS_HOST") || strings.Contains(string(r.Body), a.Env["REDIS_PASSWORD"]) {
					t.Errorf("bind: env %v, answer %s", a.Env, r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/services/instances/:instance/:app", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				db, app := freshInstance(t, o, tag), freshApp(t, o, tag)
				if _, _, err := tp.BindDatabase(ctx, tp.Principal(t, o), o.Name, db, app); err != nil {
					t.Fatal(err)
				}
				return "/tsuru/services/instances/" + db + "/" + app, nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, _ paastest.Response) {
				if a, _ := tp.Store.App(o.Name, "app-"+tag); len(a.Env) != 0 || len(a.ServiceNetworks) != 0 {
					t.Errorf("after unbind: env %v, networks %v", a.Env, a.ServiceNetworks)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/auth/scheme", Class: paastest.Public, Want: 200, Req: fixed("/tsuru/auth/scheme", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"name":"native"`) {
					t.Errorf("auth scheme: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/info", Class: paastest.Public, Want: 200, Req: fixed("/tsuru/info", nil)},
		{Method: "POST", Pattern: "/tsuru/users", Class: paastest.Public, Want: 201,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/users", map[string]string{"email": tag + "@example.net", "password": "secret-" + tag}
			}},
		{Method: "POST", Pattern: "/tsuru/users/:email/tokens", Class: paastest.Public, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, _ string) (string, any) {
				return "/tsuru/users/" + o.Email() + "/tokens", `{"password":"` + o.Password + `"}`
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				var b map[string]string
				if json.Unmarshal(r.Body, &b) != nil || !paas.LooksLikeToken(b["token"]) {
					t.Errorf("login answer: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/users/:email/password", Class: paastest.Public, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, _ string) (string, any) {
				return "/tsuru/users/" + o.Email() + "/password", nil
			}},
		// Fresh: the owner's session caller logs out a session of its own.
		{Method: "DELETE", Pattern: "/tsuru/users/tokens", Class: paastest.Authed, Want: 200, Fresh: true, Req: fixed("/tsuru/users/tokens", nil)},
		{Method: "GET", Pattern: "/tsuru/users/info", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/users/info", nil)},
		{Method: "PUT", Pattern: "/tsuru/users/password", Class: paastest.Account_, Want: 200, Self: true,
			Req: func(_ *testing.T, o paastest.Account, _ string) (string, any) {
				return "/tsuru/users/password", map[string]string{"old": o.Password, "new": o.Password}
			}},
		{Method: "POST", Pattern: "/tsuru/users/keys", Class: paastest.Account_, Want: 200, Self: true,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/users/keys", map[string]string{"key": sshKey, "name": "k" + tag}
			}},
		{Method: "DELETE", Pattern: "/tsuru/users/keys", Class: paastest.Account_, Want: 200, Self: true,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if _, err := tp.PutSSHKey(ctx, tp.Principal(t, o), o.Name, paas.SSHKey{ID: "d" + tag, Key: sshKey}); err != nil {
					t.Fatal(err)
				}
				return "/tsuru/users/keys", map[string]string{"name": "d" + tag}
			}},
		{Method: "GET", Pattern: "/tsuru/users/api-key", Class: paastest.Account_, Want: 200, Self: true, Fresh: true, Req: fixed("/tsuru/users/api-key", nil),
			Check: func(t *testing.T, o paastest.Account, _ string, r paastest.Response) {
				var k map[string]string
				if json.Unmarshal(r.Body, &k) != nil || !paas.LooksLikeToken(k["token"]) || k["users"] != o.Email() {
					t.Errorf("api key: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/users/api-key", Class: paastest.Account_, Want: 200, Self: true, Req: fixed("/tsuru/users/api-key", nil)},
		{Method: "DELETE", Pattern: "/tsuru/users", Class: paastest.Account_, Want: 200, Self: true, Fresh: true, Req: fixed("/tsuru/users", nil),
			Check: func(t *testing.T, o paastest.Account, _ string, _ paastest.Response) {
				if _, err := tp.Store.User(o.Name); !paas.IsNotFound(err) {
					t.Errorf("deleted user: %v", err)
				}
			}},

		{Method: "GET", Pattern: "/tsuru/teams", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/teams", nil)},
		{Method: "POST", Pattern: "/tsuru/teams", Class: paastest.Authed, Want: 201,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/teams", map[string]string{"name": "new-" + tag}
			}},
		{Method: "GET", Pattern: "/tsuru/teams/:team", Class: paastest.Owned, Want: 200, Stranger: 404, Req: fixed("/tsuru/teams/crew", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"carol"`) {
					t.Errorf("team info: %s", r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/teams/:team", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/teams/" + freshTeam(t, o, tag), nil
			}},
		{Method: "PUT", Pattern: "/tsuru/teams/:team/:user", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/teams/" + freshTeam(t, o, tag) + "/" + carol.Email(), nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, _ paastest.Response) {
				if team, err := tp.Store.Team("team-" + tag); err != nil || team.Role("carol") == "" {
					t.Errorf("carol was not added: %v %+v", err, team)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/teams/:team/:user", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/teams/" + freshTeam(t, o, tag, carol) + "/" + carol.Email(), nil
			}},

		{Method: "GET", Pattern: "/tsuru/apps", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/apps", nil)},
		{Method: "POST", Pattern: "/tsuru/apps", Class: paastest.Authed, Want: 201,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/apps", map[string]any{"name": "new-" + tag, "platform": "node", "plan": map[string]string{"name": ""}, "pool": ""}
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				var m map[string]string // the client decodes exactly this
				if err := json.Unmarshal(r.Body, &m); err != nil || m["ip"] != "new-"+tag+".paas.test" {
					t.Errorf("create answer %s: %v", r.Body, err)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/apps/:app", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				var a struct {
					Units []struct{ ID, Status, ProcessName, Ip string }
					Ip    string
					Teams []string
				}
				if err := json.Unmarshal(r.Body, &a); err != nil || len(a.Units) != 1 || a.Units[0].ID == "" || a.Units[0].Status != "started" || a.Ip != "site.paas.test" {
					t.Errorf("app info %s: %v", r.Body, err)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/apps/:app", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/apps/" + freshApp(t, o, tag), nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				streamOK(t, r)
				if _, err := tp.Store.App(o.Name, "app-"+tag); !paas.IsNotFound(err) {
					t.Errorf("removed app: %v", err)
				}
			}},
	}
	for _, action := range []string{"start", "stop", "restart"} {
		for _, method := range []string{"GET", "POST"} {
			cases = append(cases, paastest.Case{Method: method, Pattern: "/tsuru/apps/:app/" + action, Class: paastest.Owned, Want: 200,
				Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
					return "/tsuru/apps/" + freshApp(t, o, tag) + "/" + action, nil
				},
				Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) { streamOK(t, r) }})
		}
	}
	cases = append(cases, []paastest.Case{
		{Method: "GET", Pattern: "/tsuru/apps/:app/env", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site/env", "null")},
		{Method: "POST", Pattern: "/tsuru/apps/:app/env", Class: paastest.Owned, Want: 200,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/apps/site/env?private=true&noRestart=true", map[string]string{"V_" + strings.ToUpper(tag): "x"}
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) { streamOK(t, r) }},
		{Method: "DELETE", Pattern: "/tsuru/apps/:app/env", Class: paastest.Owned, Want: 200,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/tsuru/apps/site/env?noRestart=true&env=V_" + strings.ToUpper(tag), nil
			}},
		{Method: "GET", Pattern: "/tsuru/apps/:app/log", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site/log?lines=10", nil)},
		{Method: "PUT", Pattern: "/tsuru/apps/:app/units", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/apps/" + freshApp(t, o, tag) + "/units?units=1", nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				streamOK(t, r)
				if a, _ := tp.Store.App(o.Name, "app-"+tag); a.Units != 2 {
					t.Errorf("units after adding 1: %d", a.Units)
				}
			}},
		{Method: "DELETE", Pattern: "/tsuru/apps/:app/units", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				name := freshApp(t, o, tag)
				if _, err := tp.ScaleApp(ctx, tp.Principal(t, o), o.Name, name, 3); err != nil {
					t.Fatal(err)
				}
				return "/tsuru/apps/" + name + "/units?units=2", nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if a, _ := tp.Store.App(o.Name, "app-"+tag); a.Units != 1 {
					t.Errorf("units after removing 2 of 3: %d", a.Units)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/apps/:app/deploy", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/apps/" + freshApp(t, o, tag) + "/deploy", multipartFile(t, archive(t, "app-"+tag))
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.HasSuffix(string(r.Body), "\nOK\n") || !strings.Contains(string(r.Body), " ---> starting release") {
					t.Errorf("deploy log does not show the steps and end with OK: %q", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/apps/:app/deploy/rollback", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				name := freshApp(t, o, tag)
				if _, err := tp.UploadSnapshot(ctx, tp.Principal(t, o), o.Name, name, "v2", bytes.NewReader(archive(t, name))); err != nil {
					t.Fatal(err)
				}
				if _, err := tp.ActivateSnapshot(ctx, tp.Principal(t, o), o.Name, name, "v2"); err != nil {
					t.Fatal(err)
				}
				return "/tsuru/apps/" + name + "/deploy/rollback?image=v1", nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				streamOK(t, r)
				if a, _ := tp.Store.App(o.Name, "app-"+tag); a.Snapshot != "v1" || a.State != paas.AppStarted {
					t.Errorf("after the rollback: snapshot %q, state %s", a.Snapshot, a.State)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/apps/:app/quota", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site/quota", nil)},
		{Method: "GET", Pattern: "/tsuru/deploys", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/deploys?app=site&limit=10", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				var ds []struct{ ID, App string }
				if err := json.Unmarshal(r.Body, &ds); err != nil || len(ds) == 0 || !deployIDRE.MatchString(ds[0].ID) || ds[0].App != "site" {
					t.Errorf("deploys: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/deploys/:id", Class: paastest.Owned, Want: 200, Stranger: 404,
			Req: func(t *testing.T, _ paastest.Account, _ string) (string, any) {
				return "/tsuru/deploys/" + siteDeploy(t), nil
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				var d struct{ Log, Image string }
				if err := json.Unmarshal(r.Body, &d); err != nil || d.Image != "v1" || !strings.Contains(d.Log, "starting release") {
					t.Errorf("deploy info: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/apps/:app/run", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site/run?once=true", "ls -la"),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				streamOK(t, r)
				if !strings.Contains(string(r.Body), "ran ls -la in ") {
					t.Errorf("run output: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/tsuru/apps/:app/pool", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/apps/site/pool", "default")},
		{Method: "PUT", Pattern: "/tsuru/swap", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/tsuru/swap?app1=" + freshApp(t, o, tag+"a") + "&app2=" + freshApp(t, o, tag+"b"), nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, _ paastest.Response) {
				a, _ := tp.Store.App(o.Name, "app-"+tag+"a")
				b, _ := tp.Store.App(o.Name, "app-"+tag+"b")
				if a.Subdomain != "app-"+tag+"b" || b.Subdomain != "app-"+tag+"a" {
					t.Errorf("after the swap: %s has %s, %s has %s", a.Name, a.Subdomain, b.Name, b.Subdomain)
				}
			}},
		// Healers are the admins': the owner is refused like any user.
		{Method: "GET", Pattern: "/tsuru/healers", Class: paastest.Owned, Want: 403, Req: fixed("/tsuru/healers", nil)},
		{Method: "GET", Pattern: "/tsuru/healers/:healer", Class: paastest.Owned, Want: 403, Req: fixed("/tsuru/healers/reconcile", nil)},
		{Method: "GET", Pattern: "/tsuru/quota/:user", Class: paastest.Owned, Want: 200, Req: fixed("/tsuru/quota/:u", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				var q struct{ Items, Available int }
				if err := json.Unmarshal(r.Body, &q); err != nil || q.Items != -1 || q.Available != -1 {
					t.Errorf("quota: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/tsuru/platforms", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/platforms", nil)},
		{Method: "GET", Pattern: "/tsuru/pools", Class: paastest.Authed, Want: 200, Req: fixed("/tsuru/pools", nil)},
	}...)
	paastest.CheckCoverage(t, tp.Faces.Tsuru.Routes(), cases)
	aliceSession := login(t, tp, alice)
	paastest.Matrix{TP: tp, Owner: alice, Other: bob, Cases: cases,
		Anonymous: http.StatusUnauthorized, Stranger: http.StatusForbidden, TokenOnAccount: http.StatusForbidden,
		Admin: func(c paastest.Case) int {
			switch {
			case strings.HasPrefix(c.Pattern, "/tsuru/healers"):
				return http.StatusOK
			case c.Pattern == "/tsuru/services" && c.Method != "GET":
				return http.StatusOK // admins may register loopback endpoints
			}
			return c.Want
		},
		Extra: []paastest.Caller{{Name: "owner-session", Cred: func(o paastest.Account) paastest.Cred {
			if o.Name == alice.Name {
				return paastest.BearerCred(aliceSession) // logged in before, so refused calls change nothing
			}
			return paastest.BearerCred(login(t, tp, o)) // a fresh owner
		}, Expect: func(c paastest.Case) int { return c.Want }}},
		Check: func(t *testing.T, what string, r paastest.Response) {
			if r.Header.Get("Supported-Tsuru") != tsuru.SupportedClient {
				t.Errorf("%s: Supported-Tsuru %q", what, r.Header.Get("Supported-Tsuru"))
			}
		}}.Run(t)
}

// login logs o in the client's way and returns the session token.
func login(t *testing.T, tp *paastest.Platform, o paastest.Account) string {
	t.Helper()
	r := tp.Do(t, "POST", "/tsuru/users/"+o.Email()+"/tokens", nil, paastest.Raw{Data: []byte(`{"password":"` + o.Password + `"}`)})
	var b map[string]string
	if r.Status != 200 || json.Unmarshal(r.Body, &b) != nil {
		t.Fatalf("login %s: %d %s", o.Name, r.Status, r.Body)
	}
	return b["token"]
}

// TestRoutesReachHandlers: every path of the table reaches its handler.
func TestRoutesReachHandlers(t *testing.T) {
	t.Parallel()
	tp := newPlatform(t)
	paastest.CheckRoutesReachHandlers(t, tp.Faces.Handler(), tp.Faces.Tsuru.Routes())
}
