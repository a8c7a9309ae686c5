package paastest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// Class says who may call a route.
type Class int

const (
	Public   Class = iota // anyone, no credentials needed
	Authed                // any authenticated caller
	Account_              // the user itself by password, or an admin; API tokens are refused
	Owned                 // the owner (password or token), a member of an owning team, or an admin
)

// Case is one route of a face, called on the objects of an owner.
type Case struct {
	Method, Pattern string // the route as in the face's table
	Class           Class
	Want            int // the status the owner gets
	// Fresh: the call destroys its owner (deletes the account), so every
	// call gets a new owner, given its objects by Matrix.Setup.
	Fresh bool
	// Self: the route acts on the caller's own account whoever calls it
	// (Tsuru's DELETE /users), so only the owner's own callers (and the
	// anonymous one) call it: for anyone else it is the same call on
	// themselves.
	Self bool
	// Stranger, when set, is what another user gets here instead of the
	// matrix's Stranger (Tsuru: others' apps are 403, others' teams 404).
	Stranger int
	// Req gives the concrete path and body for owner o; tag is unique per call.
	Req func(t *testing.T, o Account, tag string) (path string, body any)
	// Check looks at a successful response (optional).
	Check func(t *testing.T, o Account, tag string, r Response)
}

// Fixed is a Req for a path where ":u" stands for the owner's name.
func Fixed(path string, body any) func(*testing.T, Account, string) (string, any) {
	return func(_ *testing.T, o Account, _ string) (string, any) {
		return strings.ReplaceAll(path, ":u", o.Name), body
	}
}

// Matrix is the authorization matrix of one face: every case called on
// the owner's objects by every kind of caller, with the status each must
// get; a refused call must change nothing, and no call may change another
// tenant's data. Each face gives its cases and its document's statuses.
type Matrix struct {
	TP           *Platform
	Owner, Other Account
	Cases        []Case
	// Setup gives a fresh owner (Case.Fresh) its objects.
	Setup func(t *testing.T, o Account)
	// NewOwner makes a fresh owner (default: TP.NewUser with a unique name).
	NewOwner func(t *testing.T, tag string) Account
	// Statuses of refused callers, as the face's document says.
	Anonymous, Stranger, TokenOnAccount int
	// Admin gives the status the admin gets (nil: what the owner gets).
	// A face whose objects are always the caller's (now) answers 404.
	Admin func(c Case) int
	// Objects names the owner whose data the calls target and the digests
	// compare (nil: the owner account itself); a team, when the owner
	// account is a member acting for it.
	Objects func(o Account) string
	// Callers beyond the standard ones (e.g. a member of an owning team).
	Extra []Caller
	// Check, when set, runs on every response (the face's common headers).
	Check func(t *testing.T, what string, r Response)
}

// Caller is a kind of caller of the matrix.
type Caller struct {
	Name   string
	Cred   func(owner Account) Cred
	Expect func(c Case) int
}

// Run runs the matrix as subtests.
func (m Matrix) Run(t *testing.T) {
	seq := 0
	tag := func() string { seq++; return fmt.Sprintf("m%d", seq) }
	std := func(c Case, refused int) int {
		if c.Class == Public {
			return c.Want
		}
		return refused
	}
	callers := []Caller{
		{"anonymous", func(Account) Cred { return nil }, func(c Case) int { return std(c, m.Anonymous) }},
		{"owner-password", Account.Basic, func(c Case) int { return c.Want }},
		{"owner-token-basic", Account.TokenBasic, m.tokenStatus},
		{"owner-token-bearer", Account.Bearer, m.tokenStatus},
		{"other-user", func(Account) Cred { return m.Other.Basic() }, func(c Case) int {
			if c.Class == Authed {
				return c.Want
			}
			if c.Stranger != 0 && c.Class != Public {
				return c.Stranger
			}
			return std(c, m.Stranger)
		}},
		{"admin", func(Account) Cred { return m.TP.Admin.Basic() }, func(c Case) int {
			if m.Admin != nil {
				return m.Admin(c)
			}
			return c.Want
		}},
	}
	callers = append(callers, m.Extra...)
	newOwner := m.NewOwner
	if newOwner == nil {
		newOwner = func(t *testing.T, tag string) Account { return m.TP.NewUser(t, "fresh"+tag) }
	}
	for _, c := range m.Cases {
		for _, caller := range callers {
			if c.Self && caller.Name != "anonymous" && !strings.HasPrefix(caller.Name, "owner-") {
				continue
			}
			t.Run(c.Method+" "+c.Pattern+" as "+caller.Name, func(t *testing.T) {
				o := m.Owner
				if c.Fresh {
					o = newOwner(t, tag())
					if m.Setup != nil {
						m.Setup(t, o)
					}
				}
				tg := tag()
				path, body := c.Req(t, o, tg)
				objects := o.Name
				if m.Objects != nil {
					objects = m.Objects(o)
				}
				before := m.TP.Digest(t, objects)
				otherBefore := m.TP.Digest(t, m.Other.Name)
				r := m.TP.Do(t, c.Method, path, caller.Cred(o), body)
				if m.Check != nil {
					m.Check(t, c.Method+" "+path, r)
				}
				wantStatus := caller.Expect(c)
				if r.Status != wantStatus {
					t.Fatalf("%s %s as %s: status %d, want %d: %s", c.Method, path, caller.Name, r.Status, wantStatus, r.Body)
				}
				if r.Status >= 400 {
					if after := m.TP.Digest(t, objects); after != before {
						t.Errorf("refused call changed %s's data:\nbefore:\n%s\nafter:\n%s", objects, before, after)
					}
				} else if c.Check != nil {
					c.Check(t, o, tg, r)
				}
				if c.Class != Public && caller.Name != "other-user" {
					if after := m.TP.Digest(t, m.Other.Name); after != otherBefore {
						t.Errorf("a call on %s's objects changed %s's data", objects, m.Other.Name)
					}
				}
			})
		}
	}
}

func (m Matrix) tokenStatus(c Case) int {
	if c.Class == Account_ {
		return m.TokenOnAccount
	}
	return c.Want
}

// Digest is everything the store and the engine hold for owner (a user or
// a team), so a test can tell that a refused call changed nothing.
func (tp *Platform) Digest(t testing.TB, owner string) string {
	t.Helper()
	var b strings.Builder
	add := func(label string, v any, err error) {
		if err != nil && !paas.IsNotFound(err) {
			t.Fatalf("digest %s: %v", label, err)
		}
		data, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s: %s\n", label, data)
	}
	// Log lines recorded before now are in the store, not on their way.
	if err := tp.Deployer.SyncLogs(context.Background()); err != nil {
		t.Fatalf("digest: %v", err)
	}
	s := tp.Store
	u, err := s.User(owner)
	add("user", u, err)
	team, err := s.Team(owner)
	add("team", team, err)
	teams, err := s.TeamsOf(owner)
	add("teams", teams, err)
	apps, err := s.Apps(owner)
	add("apps", apps, err)
	for _, a := range apps {
		add("env "+a.Name, a.Env, nil)
		snaps, err := s.Snapshots(owner, a.Name)
		add("snapshots "+a.Name, snaps, err)
		logs, err := s.Logs(a.Key(), time.Unix(0, 0), time.Now().Add(time.Hour), 10000)
		// A running unit's own output, a background preparation's (build)
		// and the steps of a deploy finishing in the background (a drain)
		// are written whatever a request does: not the request's doing.
		logs = slices.DeleteFunc(logs, func(e paas.LogEntry) bool { return e.Source == "app" || e.Source == "deploy" || e.Source == "build" })
		if len(logs) == 0 {
			logs = nil // none, however many background lines were left out
		}
		add("logs "+a.Name, logs, err)
	}
	toks, err := s.Tokens(owner)
	add("tokens", toks, err)
	tps, err := s.ThirdParty(owner)
	add("thirdparty", tps, err)
	for _, tp := range tps {
		add("thirdparty secret "+tp.ID, tp.Token, nil)
	}
	keys, err := s.SSHKeys(owner)
	add("keys", keys, err)
	dbs, err := s.Databases(owner)
	add("databases", dbs, err)
	domains, err := s.Domains(owner)
	add("domains", domains, err)
	for _, d := range domains {
		recs, err := s.Records(owner, d.Name)
		add("records "+d.Name, recs, err)
	}
	secrets, err := s.Secrets(owner)
	add("secrets", secrets, err) // ids and names; values are sealed and never shown
	deps, err := s.Deployments(owner)
	add("deployments", deps, err)
	aliases, err := s.Aliases(owner)
	add("aliases", aliases, err)
	for _, typ := range paas.ConfigTypes {
		objs, err := s.Configs(owner, typ)
		add("jitsu "+typ, objs, err)
	}
	if tp.Certs != nil {
		certs, err := tp.Certs.Certificates(context.Background())
		for _, c := range certs {
			if c.Custom && c.Owner == owner {
				add("cert "+c.CN, c, err)
			}
		}
		if err != nil {
			t.Fatalf("digest certs: %v", err)
		}
	}
	// The engine's objects of owner's apps (other owners' may change meanwhile).
	ctx := context.Background()
	units, err := tp.Fake.Units(ctx)
	for _, u := range units {
		if strings.HasPrefix(u.App, owner+"/") {
			add("unit", u, err)
		}
	}
	images, err := tp.Fake.Images(ctx)
	for _, im := range images {
		if strings.HasPrefix(im.App, owner+"/") {
			add("image", im, err)
		}
	}
	return b.String()
}

// CheckCoverage fails unless cases cover every route of a face exactly once.
func CheckCoverage(t *testing.T, routes []api.Route, cases []Case) {
	t.Helper()
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r.Method+" "+r.Path] = true
	}
	covered := map[string]bool{}
	for _, c := range cases {
		k := c.Method + " " + c.Pattern
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

var paramRE = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// CheckRoutesReachHandlers sends one request per route of routes (its
// parameters filled with sample values) through h, the handler that serves
// them in production, and fails unless the route's own handler answered.
// It proves the groups and dispatchers of a face (static segments beside
// parameters) send every path where its table says.
func CheckRoutesReachHandlers(t *testing.T, h http.Handler, routes []api.Route) {
	t.Helper()
	for _, route := range routes {
		path := paramRE.ReplaceAllString(route.Path, "p-$1")
		var got string
		req := httptest.NewRequest(route.Method, path, nil)
		req = req.WithContext(api.WithRouteProbe(req.Context(), &got))
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != route.Name {
			t.Errorf("%s %s (as %s) reached handler %q, want %q", route.Method, route.Path, path, got, route.Name)
		}
	}
}
