package jitsu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func decode(t *testing.T, r paastest.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return m
}

// scope is whose workspace the matrix's calls act in, and how they name it.
type scope struct {
	tp    *paastest.Platform
	owner func(o paastest.Account) string
	ws    func(o paastest.Account) string // the path's workspace: an id or a slug
}

func (s scope) cases(t *testing.T) []paastest.Case {
	ctx := context.Background()
	tp := s.tp
	newObj := func(t *testing.T, o paastest.Account, typ, id string, obj map[string]any) {
		t.Helper()
		obj["id"] = id
		if _, err := tp.CreateConfig(ctx, tp.Principal(t, o), s.owner(o), typ, obj); err != nil {
			t.Fatal(err)
		}
	}
	newLink := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		newObj(t, o, paas.TypeStream, "s-"+tag, map[string]any{"name": "s"})
		newObj(t, o, paas.TypeDestination, "d-"+tag, map[string]any{"name": "d", "destinationType": "file", "path": "out.ndjson"})
		newObj(t, o, paas.TypeLink, "l-"+tag, map[string]any{"fromId": "s-" + tag, "toId": "d-" + tag})
		return "l-" + tag
	}
	base := func(o paastest.Account) string { return "/api/" + s.ws(o) + "/config/" }
	// newKeyedStream gives the owner an ingest stream and returns its write key.
	newKeyedStream := func(t *testing.T, o paastest.Account, tag string) string {
		t.Helper()
		secret := "secret-" + s.owner(o) + "-" + tag + "-0123456789abcdef"
		newObj(t, o, paas.TypeStream, "ks-"+tag, map[string]any{"name": "k",
			"publicKeys": []any{map[string]any{"id": "key-" + tag, "plaintext": secret}}})
		return "key-" + tag + ":" + secret
	}
	return []paastest.Case{
		{Method: "GET", Pattern: "/api/schema", Class: paastest.Public, Want: 200, Req: paastest.Fixed("/api/schema", nil),
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"schemaURL":"/api/schema/destination"`) {
					t.Errorf("schemas: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/api/schema/:type", Class: paastest.Public, Want: 200, Req: paastest.Fixed("/api/schema/function", nil)},
		{Method: "GET", Pattern: "/api/schema/:type/:subtype", Class: paastest.Public, Want: 200, Req: paastest.Fixed("/api/schema/destination/webhook", nil)},
		{Method: "GET", Pattern: "/api/me", Class: paastest.Public, Want: 200, Req: paastest.Fixed("/api/me", nil)},
		// The stream's write key authenticates an ingest, whoever sends it.
		{Method: "POST", Pattern: "/api/s/:type", Class: paastest.Public, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/api/s/track", withKey(newKeyedStream(t, o, tag), `{"n":1}`)
			}},
		{Method: "POST", Pattern: "/api/s/:type/:event", Class: paastest.Public, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return "/api/s/s2s/track", withKey(newKeyedStream(t, o, tag), `[{"n":1},{"n":2}]`)
			}},
		{Method: "GET", Pattern: "/api/workspace", Class: paastest.Authed, Want: 200, Req: paastest.Fixed("/api/workspace", nil)},
		{Method: "GET", Pattern: "/api/user/keys", Class: paastest.Authed, Want: 200, Req: paastest.Fixed("/api/user/keys", nil)},
		{Method: "POST", Pattern: "/api/user/keys", Class: paastest.Authed, Want: 200, Req: paastest.Fixed("/api/user/keys", []any{})},
		{Method: "GET", Pattern: "/api/:workspace/config/:type", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				newObj(t, o, paas.TypeFunction, "f-"+tag, map[string]any{"name": "f", "code": "export default e => e"})
				return base(o) + "function", nil
			},
			Check: func(t *testing.T, _ paastest.Account, tag string, r paastest.Response) {
				if !strings.Contains(string(r.Body), `"id":"f-`+tag+`"`) {
					t.Errorf("list: %s", r.Body)
				}
			}},
		{Method: "POST", Pattern: "/api/:workspace/config/:type", Class: paastest.Owned, Want: 200,
			Req: func(_ *testing.T, o paastest.Account, tag string) (string, any) {
				return base(o) + "destination", map[string]any{"id": "n-" + tag, "name": "hook", "destinationType": "webhook", "url": "http://example.com/hook"}
			},
			Check: func(t *testing.T, o paastest.Account, tag string, r paastest.Response) {
				if b := decode(t, r); b["id"] != "n-"+tag || b["workspaceId"] != paas.WorkspaceOf(s.owner(o)).ID {
					t.Errorf("POST: %s", r.Body)
				}
			}},
		{Method: "PUT", Pattern: "/api/:workspace/config/:type", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return base(o) + "link", map[string]any{"id": newLink(t, o, tag), "data": map[string]any{"batchSize": 5}}
			}},
		{Method: "DELETE", Pattern: "/api/:workspace/config/:type", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return base(o) + "link?fromId=s-" + tag + "&toId=d-" + func() string { newLink(t, o, tag); return tag }(), nil
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if b := decode(t, r); b["deleted"] != float64(1) {
					t.Errorf("DELETE link: %s", r.Body)
				}
			}},
		{Method: "GET", Pattern: "/api/:workspace/config/:type/:id", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				return base(o) + "link/" + newLink(t, o, tag), nil
			}},
		{Method: "PUT", Pattern: "/api/:workspace/config/:type/:id", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				newObj(t, o, paas.TypeFunction, "u-"+tag, map[string]any{"name": "f", "code": "export default e => e"})
				return base(o) + "function/u-" + tag, map[string]any{"description": "changed"}
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if b := decode(t, r); b["description"] != "changed" || b["code"] != "export default e => e" {
					t.Errorf("partial PUT: %s", r.Body)
				}
			}},
		{Method: "DELETE", Pattern: "/api/:workspace/config/:type/:id", Class: paastest.Owned, Want: 200,
			Req: func(t *testing.T, o paastest.Account, tag string) (string, any) {
				newLink(t, o, tag)
				return base(o) + "stream/s-" + tag + "?cascade=true", nil
			},
			Check: func(t *testing.T, _ paastest.Account, _ string, r paastest.Response) {
				if b := decode(t, r); b["links"] != float64(1) {
					t.Errorf("cascade: %s", r.Body)
				}
			}},
	}
}

// TestAuthorizationMatrix: every Jitsu route, in the caller's personal
// workspace (named by its id) and in a team's (by its slug).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice, carol := tp.NewUser(t, "alice"), tp.NewUser(t, "carol")
	tp.NewTeam(t, "acme", alice, carol)
	personal := scope{tp: tp, owner: func(o paastest.Account) string { return o.Name },
		ws: func(o paastest.Account) string { return paas.WorkspaceOf(o.Name).ID }}
	team := scope{tp: tp, owner: func(paastest.Account) string { return "acme" }, ws: func(paastest.Account) string { return "acme" }}
	for name, s := range map[string]scope{"personal": personal, "team": team} {
		t.Run(name, func(t *testing.T) {
			cases := s.cases(t)
			paastest.CheckCoverage(t, tp.Faces.Jitsu.Routes(), cases)
			m := paastest.Matrix{TP: tp, Owner: alice, Other: tp.NewUser(t, "bob-"+name), Cases: cases,
				Anonymous: http.StatusUnauthorized, Stranger: http.StatusNotFound, TokenOnAccount: http.StatusOK,
				Admin: func(c paastest.Case) int { return c.Want }}
			if name == "team" {
				m.Objects = func(paastest.Account) string { return "acme" }
				m.Extra = []paastest.Caller{{Name: "team-member", Cred: func(paastest.Account) paastest.Cred { return carol.Basic() },
					Expect: func(c paastest.Case) int { return c.Want }}}
			}
			m.Run(t)
		})
	}
}

func withKey(key, body string) paastest.Raw {
	return paastest.Raw{Type: "application/json", Data: []byte(body), Header: http.Header{"X-Write-Key": {key}}}
}
