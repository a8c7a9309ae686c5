package nodejitsu_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// teamFixture is a harness with a team "crew" (owner olga, member carl)
// owning the ownerObjects (app "crew", database db1, logs), a user sam
// who is in no team, with his userObjects, and a scratch user.
type teamFixture struct {
	h                 *harness
	olga, carl, sam   paastest.Account
	team, scratchUser paastest.Account
}

func newTeamFixture(t *testing.T) *teamFixture {
	t.Helper()
	h := newHarness(t)
	f := &teamFixture{h: h, olga: h.NewUser(t, "olga"), carl: h.NewUser(t, "carl"), sam: h.NewUser(t, "sam"),
		scratchUser: h.NewUser(t, "scratch")}
	h.NewTeam(t, "crew", f.olga, f.carl)
	f.team = paastest.Account{Name: "crew"} // an owner, not a login
	h.ownerObjects(t, f.team.Name)
	h.userObjects(t, f.sam.Name)
	return f
}

// TestTeamAuthorization calls every route that takes an owner on the
// team's objects, as every kind of caller. On the owner routes (/apps,
// /databases, /logs) every member, by password or token, acts like the
// owner, and so does an admin; a non-member gets 403. The account routes
// (/users/:user…) are not for teams: a member or an admin gets 404 (the
// team is no user), an API token and a non-member 403. A refused call
// changes nothing of the team's, and no call changes the non-member's data.
// (paastest.Matrix cannot run this: its Owner is both the login of the
// owner callers and the name whose objects are called and digested, and a
// team is no login.)
func TestTeamAuthorization(t *testing.T) {
	t.Parallel()
	f := newTeamFixture(t)
	h := f.h
	type caller struct {
		name string
		cred paastest.Cred
		// want gives the status for a case whose owner gets status ok.
		want func(c paastest.Case) int
	}
	ownerLike := func(onAccount int) func(c paastest.Case) int {
		return func(c paastest.Case) int {
			if c.Class == paastest.Account_ {
				return onAccount
			}
			return c.Want
		}
	}
	// API tokens in Basic form are the user matrix's business; here the
	// Bearer form stands for both.
	callers := []caller{
		{"anonymous", nil, func(paastest.Case) int { return http.StatusUnauthorized }},
		{"member-password", f.carl.Basic(), ownerLike(http.StatusNotFound)},
		{"member-token-bearer", f.carl.Bearer(), ownerLike(http.StatusForbidden)},
		{"team-owner-password", f.olga.Basic(), ownerLike(http.StatusNotFound)},
		{"non-member", f.sam.Basic(), func(paastest.Case) int { return http.StatusForbidden }},
		{"admin", h.Admin.Basic(), ownerLike(http.StatusNotFound)},
	}
	for _, c := range routeCases(h) {
		if c.Class != paastest.Owned && c.Class != paastest.Account_ {
			continue
		}
		for _, cl := range callers {
			t.Run(c.Method+" "+c.Pattern+" as "+cl.name, func(t *testing.T) {
				tag := h.tag()
				path, body := f.teamRequest(t, c, tag)
				before := h.Digest(t, f.team.Name)
				samBefore := h.Digest(t, f.sam.Name)
				r := h.do(t, c.Method, path, cl.cred, body)
				if w := cl.want(c); r.Status != w {
					t.Fatalf("%s %s as %s: status %d, want %d: %s", c.Method, path, cl.name, r.Status, w, r.Body)
				}
				if r.Status >= 400 {
					if after := h.Digest(t, f.team.Name); after != before {
						t.Errorf("refused call changed the team's data:\nbefore:\n%s\nafter:\n%s", before, after)
					}
				} else if c.Check != nil {
					c.Check(t, f.team, tag, paastest.Response(r))
				}
				if cl.name != "non-member" {
					if after := h.Digest(t, f.sam.Name); after != samBefore {
						t.Errorf("a call on the team's objects changed sam's data")
					}
				}
			})
		}
	}
}

// teamRequest is c's request on the team's objects. An account route's
// fixtures (tokens, keys) can only be made for a user, so its request is
// made for the scratch user and then pointed at the team.
func (f *teamFixture) teamRequest(t *testing.T, c paastest.Case, tag string) (string, any) {
	t.Helper()
	if c.Class != paastest.Account_ {
		return c.Req(t, f.team, tag)
	}
	path, body := c.Req(t, f.scratchUser, tag)
	from := "/users/" + f.scratchUser.Name
	if !strings.HasPrefix(path, from) {
		t.Fatalf("account route %s %s: path %s is not under %s", c.Method, c.Pattern, path, from)
	}
	return "/users/" + f.team.Name + strings.TrimPrefix(path, from), body
}

// TestTeamApps: an app a member creates under the team's name is the
// team's: every member lists it, starts, scales and stops it, uploads its
// snapshots and reads its logs; deleting the team is refused while it owns
// the app and, once the app is deleted, the team and its apps are gone.
func TestTeamApps(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	olga, carl, sam := h.NewUser(t, "olga"), h.NewUser(t, "carl"), h.NewUser(t, "sam")
	h.NewTeam(t, "crew", olga, carl)

	r := h.do(t, "POST", "/apps/crew/crewapp", carl.Basic(), map[string]any{"name": "crewapp", "subdomain": "crewapp"})
	want(t, r, 201)
	if get(r.obj(t), "app", "user") != "crew" || get(r.obj(t), "app", "_id") != "crew/crewapp" {
		t.Fatalf("created app %s", r.Body)
	}
	if apps, _ := h.Store.Apps("carl"); len(apps) != 0 {
		t.Errorf("the team's app is also carl's: %v", apps)
	}
	now := time.Now().UTC()
	if err := h.Store.AppendLogs("crew/crewapp", []paas.LogEntry{
		{Time: now.Add(-time.Minute), Source: "app", Stream: "stdout", Text: "hello crew"},
	}); err != nil {
		t.Fatal(err)
	}

	isCrewApp := func(t *testing.T, r resp) {
		t.Helper()
		if l := isList(t, r, "apps"); len(l) != 1 || get(l[0], "name") != "crewapp" {
			t.Errorf("apps = %s", r.Body)
		}
	}
	state := func(s string) func(*testing.T, resp) {
		return func(t *testing.T, r resp) {
			t.Helper()
			if get(r.obj(t), "app", "state") != s {
				t.Errorf("state = %v, want %s: %s", get(r.obj(t), "app", "state"), s, r.Body)
			}
		}
	}
	backends := func(n int) func(*testing.T, resp) {
		return func(t *testing.T, _ resp) {
			t.Helper()
			if b := h.Deployer.Backends("crew/crewapp"); len(b) != n {
				t.Errorf("backends = %v, want %d", b, n)
			}
		}
	}
	// The app's line, among the platform's own (preparation, deploy steps).
	hasAppLine := func(data any) bool {
		d, _ := data.([]any)
		for _, l := range d {
			if get(l, "json", "message") == "hello crew" {
				return true
			}
		}
		return false
	}
	hasLog := func(t *testing.T, r resp) {
		t.Helper()
		if !hasAppLine(r.obj(t)["data"]) {
			t.Errorf("logs = %s", r.Body)
		}
	}
	steps := []struct {
		who          string
		cred         paastest.Cred
		method, path string
		body         any
		want         int
		check        func(*testing.T, resp)
	}{
		{"olga", olga.Basic(), "GET", "/apps/crew", nil, 200, isCrewApp},
		{"carl", carl.Bearer(), "GET", "/apps/crew", nil, 200, isCrewApp},
		{"admin", h.Admin.Basic(), "GET", "/apps/crew", nil, 200, isCrewApp},
		{"olga", olga.Bearer(), "POST", "/apps/crew/crewapp/snapshots/1.0.0", appTgz(t, helloFiles("crewapp", "1.0.0")), 201, nil},
		{"carl", carl.Basic(), "PUT", "/apps/crew/crewapp/snapshots/1.0.1", appTgz(t, helloFiles("crewapp", "1.0.1")), 201, nil},
		{"olga", olga.Basic(), "GET", "/apps/crew/crewapp/snapshots", nil, 200, func(t *testing.T, r resp) {
			if l := isList(t, r, "snapshots"); len(l) != 2 {
				t.Errorf("snapshots = %s", r.Body)
			}
		}},
		{"olga", olga.Basic(), "POST", "/logs/crew/crewapp", map[string]any{"from": "NOW-1DAY", "until": "NOW", "rows": 10}, 200, hasLog},
		{"carl", carl.Bearer(), "GET", "/logs/crew/crewapp/5", nil, 200, func(t *testing.T, r resp) {
			if !strings.Contains(string(r.Body), `"description":"hello crew"`) {
				t.Errorf("GET logs: %s", r.Body)
			}
		}},
		{"carl", carl.Basic(), "POST", "/logs/crew", "{}", 200, func(t *testing.T, r resp) {
			if !hasAppLine(get(r.obj(t), "crewapp", "data")) {
				t.Errorf("team logs = %s", r.Body)
			}
		}},
		{"olga", olga.Basic(), "GET", "/apps/crew/crewapp/logs?rows=5", nil, 200, func(t *testing.T, r resp) {
			if !strings.Contains(string(r.Body), "hello crew") {
				t.Errorf("log stream = %q", r.Body)
			}
		}},
		{"carl", carl.Basic(), "POST", "/apps/crew/crewapp/start", "{}", 200, func(t *testing.T, r resp) {
			state("started")(t, r)
			backends(1)(t, r)
			if get(r.obj(t), "app", "running", "snapshot") != "1.0.1" {
				t.Errorf("running = %s", r.Body)
			}
		}},
		{"olga", olga.TokenBasic(), "POST", "/apps/crew/crewapp/cloud", []map[string]any{{"drones": 2}}, 200, backends(2)},
		{"carl", carl.Basic(), "GET", "/apps/crew/crewapp/cloud", nil, 200, func(t *testing.T, r resp) {
			if l := r.arr(t); len(l) != 1 || get(l[0], "drones") != 2.0 {
				t.Errorf("cloud = %s", r.Body)
			}
		}},
		{"olga", olga.Basic(), "POST", "/apps/crew/crewapp/stop", "{}", 200, func(t *testing.T, r resp) {
			state("stopped")(t, r)
			backends(0)(t, r)
		}},
		// sam is in no team: he sees nothing of it.
		{"sam", sam.Basic(), "GET", "/apps/crew", nil, 403, nil},
		{"sam", sam.Basic(), "POST", "/apps/crew/crewapp/start", "{}", 403, nil},
		{"sam", sam.Basic(), "GET", "/logs/crew/crewapp", nil, 403, nil},
		{"sam", sam.Basic(), "POST", "/databases/crew/db", map[string]string{"type": "redis"}, 403, nil},
		// The account routes are not for teams.
		{"carl", carl.Basic(), "GET", "/users/crew", nil, 404, nil},
		{"olga", olga.Basic(), "GET", "/users/crew/tokens", nil, 404, nil},
		{"sam", sam.Basic(), "GET", "/users/crew", nil, 403, nil},
		// The name is taken, by the team.
		{"anonymous", nil, "GET", "/users/crew/available", nil, 200, func(t *testing.T, r resp) {
			if r.obj(t)["available"] != false {
				t.Errorf("a team's name is available: %s", r.Body)
			}
		}},
	}
	for _, s := range steps {
		r := h.do(t, s.method, s.path, s.cred, s.body)
		if r.Status != s.want {
			t.Fatalf("%s %s as %s: status %d, want %d: %s", s.method, s.path, s.who, r.Status, s.want, r.Body)
		}
		if s.check != nil {
			s.check(t, r)
		}
	}

	// Deleting the team: only an owner may, and not while it owns the app.
	ctx := t.Context()
	if _, err := h.DeleteTeam(ctx, h.Principal(t, carl), "crew"); status(err) != http.StatusForbidden {
		t.Errorf("a member deleting the team: %v, want 403", err)
	}
	if _, err := h.DeleteTeam(ctx, h.Principal(t, olga), "crew"); status(err) != http.StatusConflict {
		t.Errorf("deleting a team that owns an app: %v, want 409", err)
	}
	if _, err := h.Store.Team("crew"); err != nil {
		t.Fatalf("the refused deletion removed the team: %v", err)
	}
	want(t, h.do(t, "DELETE", "/apps/crew/crewapp", carl.Basic(), nil), 200)
	if _, err := h.DeleteTeam(ctx, h.Principal(t, olga), "crew"); err != nil {
		t.Fatalf("deleting the team once it owns nothing: %v", err)
	}
	if apps, _ := h.Store.Apps("crew"); len(apps) != 0 {
		t.Errorf("the deleted team still has apps: %v", apps)
	}
	if units, _ := h.Fake.Units(ctx); len(units) != 0 {
		t.Errorf("units left: %v", units)
	}
	// A deleted team is no owner any more: its members are strangers to
	// the name, an admin finds nothing, and the name is free.
	want(t, h.do(t, "GET", "/apps/crew", carl.Basic(), nil), 403)
	want(t, h.do(t, "GET", "/apps/crew/crewapp", olga.Basic(), nil), 403)
	want(t, h.do(t, "GET", "/apps/crew", h.Admin.Basic(), nil), 404)
	r = h.do(t, "GET", "/users/crew/available", nil, nil)
	if r.obj(t)["available"] != true {
		t.Errorf("the deleted team's name is not free: %s", r.Body)
	}
	if _, err := h.Store.Team("crew"); !paas.IsNotFound(err) {
		t.Errorf("team after deletion: %v", err)
	}
	if got := h.Digest(t, "crew"); strings.Contains(got, "crewapp") {
		t.Errorf("the deleted team left data:\n%s", got)
	}
}

// status is the HTTP status an error of the service maps to (0 for nil).
func status(err error) int {
	if err == nil {
		return 0
	}
	s, _, _ := paas.ErrorStatus(err)
	return s
}
