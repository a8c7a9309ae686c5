package tsuru_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// TestSignUpConfirmLogin: the client's account flow. A new account logs in
// only once confirmed with its mailed invite code (tsuru reset-password
// <email> -t <code>); login answers exactly the statuses the client knows;
// the session token acts for the account; logout ends it.
func TestSignUpConfirmLogin(t *testing.T) {
	t.Parallel()
	tp := newPlatform(t)
	const email = "Dana.Smith+tsuru@example.org"
	do := func(want int, method, path string, c paastest.Cred, body any) paastest.Response {
		t.Helper()
		r := tp.Do(t, method, path, c, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
		}
		return r
	}
	raw := func(s string) paastest.Raw { return paastest.Raw{Data: []byte(s)} } // no Content-Type, as the client sends
	do(400, "POST", "/tsuru/users", nil, raw(`{"email":"`+email+`","password":"12345"}`))
	do(201, "POST", "/tsuru/users", nil, raw(`{"email":"`+email+`","password":"s3cret-pw"}`))
	do(409, "POST", "/tsuru/users", nil, raw(`{"email":"`+email+`","password":"s3cret-pw"}`))
	do(403, "POST", "/tsuru/users/"+email+"/tokens", nil, raw(`{"password":"s3cret-pw"}`)) // not confirmed yet
	code := tp.Mail.LastCode(t, email)
	do(400, "POST", "/tsuru/users/"+email+"/password?token=wrong", nil, nil)
	do(200, "POST", "/tsuru/users/"+email+"/password?token="+code, nil, nil)

	do(400, "POST", "/tsuru/users/"+email+"/tokens", nil, raw(`{"password":""}`))
	do(401, "POST", "/tsuru/users/"+email+"/tokens", nil, raw(`{"password":"wrong-pw"}`))
	do(404, "POST", "/tsuru/users/nobody@example.org/tokens", nil, raw(`{"password":"s3cret-pw"}`))
	var tok struct{ Token string }
	json.Unmarshal(do(200, "POST", "/tsuru/users/"+email+"/tokens", nil, raw(`{"password":"s3cret-pw"}`)).Body, &tok)
	session := paastest.BearerCred(tok.Token)
	lower := func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tok.Token) } // the client's lowercase scheme

	var info struct {
		Email string
		Teams []string
	}
	json.Unmarshal(do(200, "GET", "/tsuru/users/info", lower, nil).Body, &info)
	if info.Email != email || info.Teams == nil {
		t.Errorf("user info: %+v", info)
	}
	// The session may do what the password may: change it (with the old one).
	do(403, "PUT", "/tsuru/users/password", session, raw(`{"old":"not-it","new":"n3w-secret"}`))
	do(200, "PUT", "/tsuru/users/password", session, raw(`{"old":"s3cret-pw","new":"n3w-secret"}`))

	// An app with a private variable: masked in env-get.
	do(201, "POST", "/tsuru/apps", session, raw(`{"name":"dana-web","platform":"node","plan":{"name":""},"teamOwner":"","pool":""}`))
	do(200, "POST", "/tsuru/apps/dana-web/env?private=1", session, raw(`{"API_KEY":"hunter2"}`))
	do(200, "POST", "/tsuru/apps/dana-web/env?private=false&noRestart=false", session, raw(`{"MODE":"prod"}`))
	env := do(200, "GET", "/tsuru/apps/dana-web/env", session, raw(`null`))
	if strings.Contains(string(env.Body), "hunter2") || !strings.Contains(string(env.Body), `"name":"MODE","value":"prod","public":true`) {
		t.Errorf("env-get: %s", env.Body)
	}
	do(400, "GET", "/tsuru/apps/dana-web/log", session, nil) // lines is required
	do(400, "POST", "/tsuru/apps/dana-web/deploy", session, raw(`{}`))
	bad := multipartFile(t, []byte("not a tarball"))
	do(400, "POST", "/tsuru/apps/dana-web/deploy", session, bad)
	if r := do(204, "GET", "/tsuru/deploys?app=dana-web", session, nil); len(r.Body) != 0 {
		t.Errorf("a refused deploy left a deploy: %s", r.Body)
	}

	// The API key: shown when made, then only regenerated; the old one ends.
	var key1, key2 struct{ Token string }
	json.Unmarshal(do(200, "GET", "/tsuru/users/api-key", session, nil).Body, &key1)
	do(409, "GET", "/tsuru/users/api-key", session, nil)
	json.Unmarshal(do(200, "POST", "/tsuru/users/api-key", session, nil).Body, &key2)
	do(401, "GET", "/tsuru/apps", paastest.BearerCred(key1.Token), nil)
	do(200, "GET", "/tsuru/apps", paastest.BearerCred(key2.Token), nil)
	do(403, "PUT", "/tsuru/users/password", paastest.BearerCred(key2.Token), raw(`{"old":"n3w-secret","new":"n3w-secret"}`))

	do(200, "DELETE", "/tsuru/users/tokens", session, nil)
	do(401, "GET", "/tsuru/users/info", session, nil)
}

// TestAppQuota: the quota is enforced at creation (403 with the reason)
// and shown by both quota routes.
func TestAppQuota(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{Domain: "paas.test", AppQuota: 2})
	alice := tp.NewUser(t, "alice")
	for _, name := range []string{"one", "two"} {
		if r := tp.Do(t, "POST", "/tsuru/apps", alice.Bearer(), map[string]string{"name": name}); r.Status != 201 {
			t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
		}
	}
	r := tp.Do(t, "POST", "/tsuru/apps", alice.Bearer(), map[string]string{"name": "three"})
	if r.Status != 403 || !strings.Contains(string(r.Body), "quota exceeded") {
		t.Errorf("create beyond the quota: %d %s", r.Status, r.Body)
	}
	var q struct{ Items, Available int }
	json.Unmarshal(tp.Do(t, "GET", "/tsuru/quota/"+alice.Email(), alice.Bearer(), nil).Body, &q)
	if q.Items != 2 || q.Available != 0 {
		t.Errorf("quota: %+v", q)
	}
	var aq struct{ Limit, InUse int }
	json.Unmarshal(tp.Do(t, "GET", "/tsuru/apps/one/quota", alice.Bearer(), nil).Body, &aq)
	if aq.Limit != paas.MaxUnitsPerApp || aq.InUse != 1 {
		t.Errorf("app quota: %+v", aq)
	}
}

// TestTeamPools: team pools are a setting; a team's apps may be created in
// or moved to its pools, nobody else's; pool-list shows the caller's.
func TestTeamPools(t *testing.T) {
	t.Parallel()
	tp := paastest.NewPlatform(t, paastest.Config{Domain: "paas.test", Pools: map[string][]string{"gpu": {"crew"}}})
	alice, bob := tp.NewUser(t, "alice"), tp.NewUser(t, "bob")
	tp.NewTeam(t, "crew", alice)
	do := func(want int, a paastest.Account, method, path string, body any) string {
		t.Helper()
		r := tp.Do(t, method, path, a.Bearer(), body)
		if r.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
		}
		return string(r.Body)
	}
	if out := do(200, alice, "GET", "/tsuru/pools", nil); !strings.Contains(out, `"pools_by_team":[{"Pools":["gpu"],"Team":"crew"}]`) {
		t.Errorf("alice's pools: %s", out)
	}
	if out := do(200, bob, "GET", "/tsuru/pools", nil); !strings.Contains(out, `"pools_by_team":[]`) {
		t.Errorf("bob's pools: %s", out)
	}
	do(201, alice, "POST", "/tsuru/apps", map[string]string{"name": "train", "teamOwner": "crew", "pool": "gpu"})
	if a, _ := tp.Store.App("crew", "train"); a.Pool != "gpu" {
		t.Errorf("pool of the new app: %q", a.Pool)
	}
	do(403, alice, "POST", "/tsuru/apps", map[string]string{"name": "mine", "pool": "gpu"}) // alice's own apps are not crew's
	do(400, alice, "POST", "/tsuru/apps", map[string]string{"name": "nowhere", "pool": "moon"})
	do(201, bob, "POST", "/tsuru/apps", map[string]string{"name": "bobs"})
	do(403, bob, "POST", "/tsuru/apps/bobs/pool", "gpu")
	do(200, alice, "POST", "/tsuru/apps/train/pool", "default")
	if out := do(200, alice, "GET", "/tsuru/apps/train", nil); !strings.Contains(out, `"pool":"default"`) {
		t.Errorf("after the move: %s", out)
	}
}
