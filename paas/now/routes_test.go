package now_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/platform"
)

// matrixScope is whose objects the authorization matrix's calls act on.
// The now face's paths name no owner: a call acts for its caller, or for
// the team that ?teamId= selects among the caller's teams.
type matrixScope struct {
	tp *paastest.Platform
	// owner is the owner of the objects the calls of account o act on.
	owner func(o paastest.Account) string
	query string // appended to every path ("" or "?teamId=…")
	// list is the class of GET and POST /domains: without ?teamId= any
	// caller gets (or adds to) its own list, so they are Authed.
	list paastest.Class
	// domain is a domain of the owner with one record, for the record routes.
	domain string
}

// cases are the face's routes, one case each, in the scope.
func (s matrixScope) cases(t *testing.T) []paastest.Case {
	ctx := context.Background()
	tp := s.tp
	newDomain := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		name := tag + ".example.net"
		if _, err := tp.CreateOrVerifyDomain(ctx, tp.Principal(t, o), s.owner(o), name, false); err != nil {
			t.Fatalf("create domain %s: %v", name, err)
		}
		return name
	}
	newRecord := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		rec, err := tp.CreateRecord(ctx, tp.Principal(t, o), s.owner(o), s.domain, paas.Record{Name: tag, Type: "A", Value: "192.0.2.9"}, false)
		if err != nil {
			t.Fatalf("create record %s: %v", tag, err)
		}
		return rec.ID
	}
	body := func(t *testing.T, r paastest.Response) map[string]any {
		t.Helper()
		return decodeRaw(t, r.Status, r.Header, r.Body).body
	}
	hasRecord := func(t *testing.T, o paastest.Account, id string) bool {
		t.Helper()
		recs, err := tp.Store.Records(s.owner(o), s.domain)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.ID == id {
				return true
			}
		}
		return false
	}
	// listed checks a list answer (field) for the owner's fixture (key
	// equal to s.domain); without ?teamId= it is the caller's own list.
	listed := func(field, key string) func(*testing.T, paastest.Account, string, paastest.Response) {
		return func(t *testing.T, o paastest.Account, _ string, r paastest.Response) {
			list, ok := body(t, r)[field].([]any)
			if !ok {
				t.Fatalf("no %s list: %s", field, r.Body)
			}
			if s.list != paastest.Owned {
				return
			}
			for _, x := range list {
				if x.(map[string]any)[key] == s.domain {
					return
				}
			}
			t.Errorf("%s's %s %s is not listed: %s", s.owner(o), field, s.domain, r.Body)
		}
	}
	listsFixtureCert := listed("certs", "cn")
	newSecret := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		if _, err := tp.CreateSecret(ctx, tp.Principal(t, o), s.owner(o), "s-"+tag, "value"); err != nil {
			t.Fatal(err)
		}
		return "s-" + tag
	}
	showsFixtureCert := func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
		if list, _ := body(t, r)["certs"].([]any); len(list) != 1 || list[0].(map[string]any)["cn"] != s.domain {
			t.Errorf("GET the certificate of %s: %s", s.domain, r.Body)
		}
	}
	ca := paastest.NewTestCA(t)
	// newCert gives the owner a name (a record) and a certificate for it.
	newCert := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		newRecord(t, o, tag)
		name := tag + "." + s.domain
		cert, key := ca.Leaf(t, []string{name}, time.Time{}, time.Time{})
		if _, err := tp.PutCert(ctx, tp.Principal(t, o), s.owner(o), paas.CustomCert{Domains: []string{name}, Cert: cert, Key: key}); err != nil {
			t.Fatal(err)
		}
		return name
	}
	// booted waits until deployment uid has booted: the matrix compares
	// the owners' data around each call, so no boot may still run then.
	booted := func(t *testing.T, uid string) paas.Deployment {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			d, err := tp.Store.Deployment(uid)
			if err != nil {
				t.Fatal(err)
			}
			if d.State != paas.DeploymentBooting {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %s still booting", uid)
			}
		}
	}
	// newDeployment gives the owner a deployment of an app of its own.
	newDeployment := func(t *testing.T, o paastest.Account, tag string) paas.Deployment {
		t.Helper()
		files, err := paas.DeploymentFiles(deploymentBody("d-"+tag, "hello "+tag))
		if err != nil {
			t.Fatal(err)
		}
		d, err := tp.CreateDeployment(ctx, tp.Principal(t, o), s.owner(o), files, nil)
		if err != nil {
			t.Fatal(err)
		}
		return booted(t, d.UID)
	}
	depPath := func(suffix func(d paas.Deployment) string) func(*testing.T, paastest.Account, string) (string, any) {
		return func(t *testing.T, o paastest.Account, tag string) (string, any) {
			d := newDeployment(t, o, tag)
			return "/now/deployments/" + d.UID + suffix(d) + s.query, nil
		}
	}
	none := func(paas.Deployment) string { return "" }
	// newAlias gives the owner a deployment with the alias a-<tag>.
	newAlias := func(t *testing.T, o paastest.Account, tag string) paas.Alias {
		t.Helper()
		d := newDeployment(t, o, tag)
		a, _, err := tp.SetAlias(ctx, tp.Principal(t, o), s.owner(o), d.UID, "a-"+tag)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return []paastest.Case{
		{Method: "GET", Pattern: "/now/deployments", Class: s.list, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if s.list == paastest.Owned {
					newDeployment(t, o, tag)
				}
				return "/now/deployments" + s.query, nil
			},
			Check: func(t *testing.T, o paastest.Account, _ string, r paastest.Response) {
				list, ok := body(t, r)["deployments"].([]any)
				if !ok {
					t.Fatalf("no deployments list: %s", r.Body)
				}
				if s.list == paastest.Owned && len(list) == 0 {
					t.Errorf("%s's deployments are not listed: %s", s.owner(o), r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/deployments", Class: s.list, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/now/deployments" + s.query, deploymentBody("p-"+tag, "hi")
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				b := body(t, r)
				if b["state"] != paas.DeploymentBooting || !strings.HasPrefix(b["host"].(string), "p-"+tag+"-") || b["url"] != b["host"] {
					t.Errorf("POST /now/deployments: %s", r.Body)
				}
				if uid, ok := b["uid"].(string); ok {
					booted(t, uid)
				}
			}},
		{Method: "GET", Pattern: "/now/deployments/:id", Class: paastest.Owned, Want: http.StatusOK, Req: depPath(none),
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); b["name"] != "d-"+tag || !isoRE.MatchString(b["stateTs"].(string)) {
					t.Errorf("GET deployment: %s", r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/now/deployments/:id", Class: paastest.Owned, Want: http.StatusOK, Req: depPath(none),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				uid, _ := body(t, r)["uid"].(string)
				if _, err := tp.Store.Deployment(uid); !paas.IsNotFound(err) {
					t.Errorf("deleted deployment %q: %v", uid, err)
				}
			}},
		{Method: "GET", Pattern: "/now/deployments/:id/files", Class: paastest.Owned, Want: http.StatusOK, Req: depPath(func(paas.Deployment) string { return "/files" }),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"name":"server.js"`) || !strings.Contains(string(r.Body), `"name":"package.json"`) {
					t.Errorf("files: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/now/deployments/:id/files/:file", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				d := newDeployment(t, o, tag)
				return "/now/deployments/" + d.UID + "/files/" + sha1Hex(serverJS("hello "+tag)) + s.query, nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if string(r.Body) != serverJS("hello "+tag) {
					t.Errorf("file content %q", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/registration", Class: paastest.Public, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/now/registration", map[string]string{"email": "r-" + tag + "@example.net", "tokenName": "cli"}
			}},
		{Method: "GET", Pattern: "/now/registration/confirm", Class: paastest.Public, Want: http.StatusOK,
			Req: func(t *testing.T, _ paastest.Account, tag string) (string, any) {
				email := "c-" + tag + "@example.net"
				if _, _, err := tp.Register(ctx, email); err != nil {
					t.Fatal(err)
				}
				return "/now/registration/confirm?" + confirmQuery(t, tp, email).Encode(), nil
			}},
		{Method: "GET", Pattern: "/now/registration/verify", Class: paastest.Public, Want: http.StatusOK,
			Req: func(t *testing.T, _ paastest.Account, tag string) (string, any) {
				email := "v-" + tag + "@example.net"
				token, _, err := tp.Register(ctx, email)
				if err != nil {
					t.Fatal(err)
				}
				if err := tp.ConfirmRegistration(ctx, email, confirmQuery(t, tp, email).Get("code")); err != nil {
					t.Fatal(err)
				}
				return "/now/registration/verify?" + url.Values{"email": {email}, "token": {token}}.Encode(), nil
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if b := body(t, r); b["token"] == "" {
					t.Errorf("verify: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/create", Class: s.list, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/now/create" + s.query, cliCreateBody("c-"+tag, "created "+tag, nil)
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				b := body(t, r)
				// package.json too: no deployment stored it yet.
				if missing, _ := b["missing"].([]any); len(missing) != 2 || missing[1] != sha1Hex(serverJS("created "+tag)) ||
					!strings.HasPrefix(b["url"].(string), "c-"+tag+"-") || b["deploymentId"] == "" {
					t.Errorf("POST /now/create: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/sync", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				in := platform.NowCreate{Name: "y-" + tag, Files: cliFiles("synced " + tag)}
				d, missing, err := tp.CreatePendingDeployment(ctx, tp.Principal(t, o), s.owner(o), in)
				if err != nil || len(missing) == 0 {
					t.Fatalf("create: %v %v", missing, err)
				}
				// Every file but the server synced before the call.
				pkg := cliPackage
				if missing[0] == sha1Hex(pkg) {
					if _, err := tp.SyncDeploymentFile(ctx, tp.Principal(t, o), s.owner(o), d.UID, sha1Hex(pkg), []byte(pkg)); err != nil {
						t.Fatal(err)
					}
				}
				js := serverJS("synced " + tag)
				return "/now/sync" + s.query, paastest.Raw{Type: "application/octet-stream", Data: []byte(js), Header: http.Header{
					"X-Now-Deployment-Id": {d.UID}, "X-Now-Sha": {sha1Hex(js)}, "X-Now-File": {"garbled"}, "X-Now-Size": {strconv.Itoa(len(js))}}}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if strings.TrimSpace(string(r.Body)) != "{}" {
					t.Errorf("POST /now/sync: %s", r.Body)
				}
				list, _ := tp.Store.Deployments(s.owner(o))
				for _, d := range list {
					if d.App == "y-"+tag {
						if booted(t, d.UID).State != paas.DeploymentReady {
							t.Errorf("deployment %s not READY after its last file", d.UID)
						}
					}
				}
			}},
		{Method: "GET", Pattern: "/now/list", Class: s.list, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if s.list == paastest.Owned {
					newDeployment(t, o, tag)
				}
				return "/now/list?app=d-" + tag + strings.Replace(s.query, "?", "&", 1), nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				list, ok := body(t, r)["deployments"].([]any)
				if !ok || s.list == paastest.Owned && (len(list) != 1 || list[0].(map[string]any)["name"] != "d-"+tag) {
					t.Errorf("GET /now/list: %s", r.Body)
				}
				for _, x := range list {
					if _, isNumber := x.(map[string]any)["created"].(float64); !isNumber {
						t.Errorf("created is not epoch milliseconds: %s", r.Body)
					}
				}
			}},
		{Method: "DELETE", Pattern: "/now/remove", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/now/remove" + s.query, map[string]any{"deploymentId": newDeployment(t, o, tag).UID, "hard": true}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if list, _ := tp.Store.Deployments(s.owner(o)); len(list) > 0 {
					for _, d := range list {
						if d.App == "d-"+tag {
							t.Errorf("deployment %s not removed", d.UID)
						}
					}
				}
			}},
		{Method: "GET", Pattern: "/now/aliases", Class: s.list, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				if s.list == paastest.Owned {
					newAlias(t, o, tag)
				}
				return "/now/aliases" + s.query, nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if s.list == paastest.Owned && !strings.Contains(string(r.Body), `"alias":"a-`+tag+"."+platformDomain+`"`) {
					t.Errorf("%s's alias is not listed: %s", s.owner(o), r.Body)
				}
			}},
		{Method: "GET", Pattern: "/now/deployments/:id/aliases", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				a := newAlias(t, o, tag)
				return "/now/deployments/" + a.Deployment + "/aliases" + s.query, nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if list, _ := body(t, r)["aliases"].([]any); len(list) != 1 || list[0].(map[string]any)["alias"] != "a-"+tag+"."+platformDomain {
					t.Errorf("aliases of the deployment: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/deployments/:id/aliases", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				d := newDeployment(t, o, tag)
				return "/now/deployments/" + d.UID + "/aliases" + s.query, map[string]string{"alias": "n-" + tag}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				b := body(t, r)
				if !isoRE.MatchString(b["created"].(string)) || b["oldId"] != nil {
					t.Errorf("POST alias: %s", r.Body)
				}
				if h, err := tp.Store.Host("n-" + tag); err != nil || h.Owner != s.owner(o) {
					t.Errorf("the alias's host: %+v %v", h, err)
				}
			}},
		{Method: "DELETE", Pattern: "/now/aliases/:alias", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/now/aliases/" + newAlias(t, o, tag).UID + s.query, nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); b["status"] != "SUCCESS" {
					t.Errorf("DELETE alias: %s", r.Body)
				}
				if _, err := tp.Store.Host("a-" + tag); !paas.IsNotFound(err) {
					t.Errorf("the deleted alias's host: %v", err)
				}
			}},
		{Method: "GET", Pattern: "/domains/:domain", Class: paastest.Owned, Want: http.StatusOK,
			Req: paastest.Fixed("/domains/"+s.domain+s.query, nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if b := body(t, r); b["name"] != s.domain || b["verified"] != true || b["isExternal"] != false || !uidRE.MatchString(b["uid"].(string)) {
					t.Errorf("GET domain: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/now/secrets", Class: s.list, Want: http.StatusOK,
			Req: paastest.Fixed("/now/secrets"+s.query, nil),
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if strings.Contains(string(r.Body), "fixture-value") {
					t.Errorf("a secret's value is listed: %s", r.Body)
				}
				if s.list == paastest.Owned && !strings.Contains(string(r.Body), `"name":"fix"`) {
					t.Errorf("the fixture secret is not listed: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/now/secrets", Class: s.list, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/now/secrets" + s.query, map[string]string{"name": "new-" + tag, "value": "v"}
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !regexp.MustCompile(`"uid":"sec_[0-9A-Za-z]{24}"`).Match(r.Body) {
					t.Errorf("POST /now/secrets: %s", r.Body)
				}
			}},
		{Method: "PATCH", Pattern: "/now/secrets/:secret", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/now/secrets/" + newSecret(t, o, tag) + s.query, map[string]string{"name": "renamed-" + tag}
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); b["oldName"] != "s-"+tag {
					t.Errorf("PATCH: %s", r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/now/secrets/:secret", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/now/secrets/" + newSecret(t, o, tag) + s.query, nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); b["name"] != "s-"+tag {
					t.Errorf("DELETE: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/now/certs", Class: s.list, Want: http.StatusOK,
			Req: paastest.Fixed("/now/certs"+s.query, nil), Check: listsFixtureCert},
		{Method: "GET", Pattern: "/certs", Class: s.list, Want: http.StatusOK,
			Req: paastest.Fixed("/certs"+s.query, nil), Check: listsFixtureCert},
		{Method: "GET", Pattern: "/now/certs/:cn", Class: paastest.Owned, Want: http.StatusOK,
			Req: paastest.Fixed("/now/certs/"+s.domain+s.query, nil), Check: showsFixtureCert},
		{Method: "GET", Pattern: "/certs/now/:cn", Class: paastest.Owned, Want: http.StatusOK,
			Req: paastest.Fixed("/certs/now/"+s.domain+s.query, nil), Check: showsFixtureCert},
		// These test platforms have no ACME CA: the owner is told so (the
		// issuance itself is tested against Pebble in the server's tests).
		{Method: "POST", Pattern: "/now/certs", Class: paastest.Owned, Want: http.StatusBadRequest,
			Req: paastest.Fixed("/now/certs"+s.query, map[string]any{"domains": []string{s.domain}})},
		{Method: "PUT", Pattern: "/now/certs", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				newRecord(t, o, tag)
				name := tag + "." + s.domain
				cert, key := ca.Leaf(t, []string{name}, time.Time{}, time.Time{})
				return "/now/certs" + s.query, map[string]any{"domains": []string{name}, "cert": cert, "key": key, "ca": ca.PEM}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); !isoRE.MatchString(b["created"].(string)) || b["created_at"] != b["created"] {
					t.Errorf("PUT /now/certs: %s", r.Body)
				}
				if _, err := tp.Cert(ctx, tp.Principal(t, o), s.owner(o), tag+"."+s.domain); err != nil {
					t.Errorf("the certificate is not %s's: %v", s.owner(o), err)
				}
			}},
		{Method: "DELETE", Pattern: "/now/certs/:cn", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/now/certs/" + newCert(t, o, tag) + s.query, nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if len(r.Body) != 0 {
					t.Errorf("DELETE cert body %q, want empty", r.Body)
				}
				if _, err := tp.Cert(ctx, tp.Principal(t, o), s.owner(o), tag+"."+s.domain); !paas.IsNotFound(err) {
					t.Errorf("deleted certificate: %v", err)
				}
			}},
		{Method: "GET", Pattern: "/domains", Class: s.list, Want: http.StatusOK,
			Req: paastest.Fixed("/domains"+s.query, nil), Check: listed("domains", "name")},
		{Method: "POST", Pattern: "/domains", Class: s.list, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/domains" + s.query, map[string]any{"name": tag + ".example.com"}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if b := body(t, r); !uidRE.MatchString(b["uid"].(string)) || b["verified"] != true {
					t.Errorf("POST /domains: %s", r.Body)
				}
				if s.list != paastest.Owned {
					return // created for the caller
				}
				if _, err := tp.Store.Domain(s.owner(o), tag+".example.com"); err != nil {
					t.Errorf("the domain is not %s's: %v", s.owner(o), err)
				}
			}},
		{Method: "DELETE", Pattern: "/domains/:domain", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/domains/" + newDomain(t, o, tag) + s.query, nil
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if _, err := tp.Store.Domain(s.owner(o), tag+".example.net"); !paas.IsNotFound(err) {
					t.Errorf("deleted domain: %v", err)
				}
			}},
		{Method: "GET", Pattern: "/domains/:domain/records", Class: paastest.Owned, Want: http.StatusOK,
			Req: paastest.Fixed("/domains/"+s.domain+"/records"+s.query, nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if recs, _ := body(t, r)["records"].([]any); len(recs) == 0 {
					t.Errorf("no records: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/domains/:domain/records", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(_ *testing.T, _ paastest.Account, tag string) (string, any) {
				return "/domains/" + s.domain + "/records" + s.query, map[string]any{"data": map[string]any{"name": tag, "type": "A", "value": "192.0.2.1"}}
			},
			Check: func(t *testing.T, o paastest.Account, _ string, r paastest.Response) {
				id, _ := body(t, r)["uid"].(string)
				if !recIDRE.MatchString(id) || !hasRecord(t, o, id) {
					t.Errorf("created record %q is not stored: %s", id, r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/domains/:domain/records/:recId", Class: paastest.Owned, Want: http.StatusOK,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/domains/" + s.domain + "/records/" + newRecord(t, o, tag) + s.query, nil
			},
			Check: func(t *testing.T, o paastest.Account, _ string, r paastest.Response) {
				if len(r.Body) != 0 {
					t.Errorf("DELETE record body %q, want empty", r.Body)
				}
			}},
	}
}

// checkAnswer is every answer's now-specific shape: the rate-limit
// headers, and errors with a code, a message and the help url.
func checkAnswer(t *testing.T, what string, r paastest.Response) {
	t.Helper()
	checkRateLimitHeaders(t, r.Header)
	if r.Status >= 400 {
		checkErrorShape(t, decodeRaw(t, r.Status, r.Header, r.Body))
	}
}

// TestAuthorizationMatrix calls every route on the caller's own objects as
// every kind of caller. The document answers a failed authentication with
// 403 authentication_error, and another tenant's domain with 404, exactly
// as one nobody has. The paths name no owner: every caller, the admin too,
// acts on its own objects (an admin reaches others' through ?teamId= only).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tp := h.tp
	owner := h.account("alice")
	s := matrixScope{tp: tp, owner: func(o paastest.Account) string { return o.Name }, list: paastest.Authed, domain: "own.example.org"}
	fixtures(t, tp, tp.Principal(t, owner), owner.Name, s.domain)
	cases := s.cases(t)
	paastest.CheckCoverage(t, tp.Faces.Now.Routes(), cases)
	paastest.Matrix{TP: tp, Owner: owner, Other: h.account("bob"), Cases: cases,
		Anonymous: http.StatusForbidden, Stranger: http.StatusNotFound, TokenOnAccount: http.StatusForbidden,
		Admin: func(c paastest.Case) int {
			if c.Class == paastest.Authed || c.Class == paastest.Public {
				return c.Want // its own list, its own new domain
			}
			return http.StatusNotFound
		},
		Check: checkAnswer}.Run(t)
}

// TestTeamAuthorizationMatrix calls every route on a team's objects, with
// ?teamId=: its owner, its members and admins may; anyone else gets 404,
// as for a team that does not exist, and changes nothing of the team's.
func TestTeamAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tp := h.tp
	alice, carol := h.account("alice"), h.account("carol")
	const team = "acme"
	tp.NewTeam(t, team, alice, carol)
	s := matrixScope{tp: tp, owner: func(paastest.Account) string { return team }, query: "?teamId=" + team,
		list: paastest.Owned, domain: "acme.example.org"}
	fixtures(t, tp, tp.Principal(t, alice), team, s.domain)
	cases := s.cases(t)
	paastest.CheckCoverage(t, tp.Faces.Now.Routes(), cases)
	paastest.Matrix{TP: tp, Owner: alice, Other: h.account("bob"), Cases: cases,
		Objects:   func(paastest.Account) string { return team },
		Anonymous: http.StatusForbidden, Stranger: http.StatusNotFound, TokenOnAccount: http.StatusForbidden,
		Extra: []paastest.Caller{{Name: "team-member", Cred: func(paastest.Account) paastest.Cred { return carol.Bearer() },
			Expect: func(c paastest.Case) int { return c.Want }}},
		Check: checkAnswer}.Run(t)
}

// fixtures gives owner a domain with one record.
func fixtures(t *testing.T, tp *paastest.Platform, pr *paas.Principal, owner, domain string) {
	t.Helper()
	ctx := context.Background()
	if _, err := tp.CreateOrVerifyDomain(ctx, pr, owner, domain, false); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateRecord(ctx, pr, owner, domain, paas.Record{Name: "www", Type: "A", Value: "192.0.2.1"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateSecret(ctx, pr, owner, "fix", "fixture-value"); err != nil {
		t.Fatal(err)
	}
	cert, key := paastest.NewTestCA(t).Leaf(t, []string{domain, "www." + domain}, time.Time{}, time.Time{})
	if _, err := tp.PutCert(ctx, pr, owner, paas.CustomCert{Domains: []string{domain}, Cert: cert, Key: key}); err != nil {
		t.Fatal(err)
	}
}

// TestRoutesReachHandlers: the server's handler sends every path of the
// face's table to the route's own handler.
func TestRoutesReachHandlers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	paastest.CheckRoutesReachHandlers(t, h.tp.Faces.Handler(), h.tp.Faces.Now.Routes())
}

// TestTeamDomains: ?teamId= makes a member act for the team: its domains
// and records are the team's, listed with ?teamId= and not in the member's
// own list; a non-member gets 404 and changes nothing.
func TestTeamDomains(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice, carol, bob := h.account("alice"), h.account("carol"), h.account("bob")
	h.tp.NewTeam(t, "acme", alice, carol)
	const q = "?teamId=acme"

	h.must(http.StatusOK, carol.Token, "POST", "/domains"+q, map[string]any{"name": "acme.example.org"})
	if _, err := h.tp.Store.Domain("acme", "acme.example.org"); err != nil {
		t.Fatalf("the domain is not the team's: %v", err)
	}
	rec := h.must(http.StatusOK, carol.Token, "POST", "/domains/acme.example.org/records"+q,
		map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "192.0.2.1"}})
	recID, _ := rec.body["uid"].(string)

	// Every member sees the team's domain and records through ?teamId=.
	for _, m := range []paastest.Account{alice, carol} {
		list := h.must(http.StatusOK, m.Token, "GET", "/domains"+q, nil)
		if ds := list.body["domains"].([]any); len(ds) != 1 || ds[0].(map[string]any)["name"] != "acme.example.org" {
			t.Errorf("%s: team domains %s", m.Name, list.raw)
		}
		recs := h.must(http.StatusOK, m.Token, "GET", "/domains/acme.example.org/records"+q, nil)
		if rs := recs.body["records"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != recID {
			t.Errorf("%s: team records %s", m.Name, recs.raw)
		}
		// The team's domains are not the member's own.
		if own := h.must(http.StatusOK, m.Token, "GET", "/domains", nil); len(own.body["domains"].([]any)) != 0 {
			t.Errorf("%s's own list has the team's domain: %s", m.Name, own.raw)
		}
		wantError(t, h.do(m.Token, "GET", "/domains/acme.example.org/records", nil), http.StatusNotFound, "not_found")
	}

	// A non-member gets 404 on every route, as for a team that does not exist.
	before := h.tp.Digest(t, "acme")
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/domains" + q, nil},
		{"POST", "/domains" + q, map[string]any{"name": "bob.example.org"}},
		{"DELETE", "/domains/acme.example.org" + q, nil},
		{"GET", "/domains/acme.example.org/records" + q, nil},
		{"POST", "/domains/acme.example.org/records" + q, map[string]any{"data": map[string]any{"name": "x", "type": "A", "value": "192.0.2.2"}}},
		{"DELETE", "/domains/acme.example.org/records/" + recID + q, nil},
	} {
		r := h.do(bob.Token, rt.method, rt.path, rt.body)
		wantError(t, r, http.StatusNotFound, "not_found")
		if msg := r.body["error"].(map[string]any)["message"]; msg != `team "acme" not found` {
			t.Errorf("%s %s: message %q", rt.method, rt.path, msg)
		}
	}
	if after := h.tp.Digest(t, "acme"); after != before {
		t.Errorf("a non-member changed the team's data:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if own := h.must(http.StatusOK, bob.Token, "GET", "/domains", nil); len(own.body["domains"].([]any)) != 0 {
		t.Errorf("a refused team POST created a domain for bob: %s", own.raw)
	}

	// A member deletes the team's record and domain with ?teamId=.
	h.must(http.StatusOK, carol.Token, "DELETE", "/domains/acme.example.org/records/"+recID+q, nil)
	h.must(http.StatusOK, carol.Token, "DELETE", "/domains/acme.example.org"+q, nil)
	if _, err := h.tp.Store.Domain("acme", "acme.example.org"); !paas.IsNotFound(err) {
		t.Errorf("the team's domain after DELETE: %v", err)
	}
}
