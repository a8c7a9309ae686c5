package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// TestAppNamesArePlatformWide: Tsuru addresses apps by bare name, so a name
// is one owner's at a time, and free again once its app is gone.
func TestAppNamesArePlatformWide(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob")
	if _, err := s.CreateTeam(paas.Team{Name: "ops", Members: []paas.Member{{User: "bob", Role: paas.RoleOwner}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		app  paas.App
		want string
	}{
		{"same owner", paas.App{Owner: "alice", Name: "web", Subdomain: "web2"}, `app "web" already exists`},
		{"another user", paas.App{Owner: "bob", Name: "web", Subdomain: "web3"}, `app name "web" is taken`},
		{"a team", paas.App{Owner: "ops", Name: "web", Subdomain: "web4"}, `app name "web" is taken`},
		{"subdomain taken", paas.App{Owner: "bob", Name: "other", Subdomain: "web"}, `subdomain "web" is taken`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateApp(c.app)
			if !errors.Is(err, paas.ErrConflict) || err.Error() != c.want {
				t.Fatalf("CreateApp: %v, want %q", err, c.want)
			}
			if _, err := s.App(c.app.Owner, c.app.Name); c.app.Owner != "alice" && !paas.IsNotFound(err) {
				t.Errorf("the refused app was stored: %v", err)
			}
			if _, err := s.Host(c.app.Subdomain); c.app.Subdomain != "web" && !paas.IsNotFound(err) {
				t.Errorf("the refused app's subdomain was indexed: %v", err)
			}
		})
	}
	if _, err := s.DeleteApp("alice", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "ops", Name: "web", Subdomain: "web"}); err != nil {
		t.Fatalf("the freed name: %v", err)
	}
	a, err := s.AppByName("web")
	if err != nil || a.Owner != "ops" {
		t.Errorf("AppByName(web) = %s %v, want ops's", a.Key(), err)
	}
	// Deleting the owner frees the name too.
	if _, err := s.CreateApp(paas.App{Owner: "bob", Name: "blog", Subdomain: "blog"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppByName("blog"); !paas.IsNotFound(err) {
		t.Errorf("AppByName after the owner's deletion: %v", err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "blog", Subdomain: "blog"}); err != nil {
		t.Errorf("a deleted user's app name: %v", err)
	}
}

func TestAppByName(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "www", Env: map[string]string{"A": "1"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		wantKey string
		wantErr string
	}{
		{"web", "alice/web", ""},
		{"www", "", `app "www" not found`}, // a subdomain is not a name
		{"nope", "", `app "nope" not found`},
	}
	for _, c := range cases {
		a, err := s.AppByName(c.name)
		switch {
		case c.wantErr != "":
			if !paas.IsNotFound(err) || err.Error() != c.wantErr {
				t.Errorf("AppByName(%s): %v, want %q", c.name, err, c.wantErr)
			}
		case err != nil || a.Key() != c.wantKey || a.Env["A"] != "1":
			t.Errorf("AppByName(%s) = %s %v %v", c.name, a.Key(), a.Env, err)
		}
	}
}

// TestHosts: the hostname index follows an app's subdomain through create,
// change and delete, and the subdomain lookups read it.
func TestHosts(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob")
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "www"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "bob", Name: "api", Subdomain: "api"}); err != nil {
		t.Fatal(err)
	}
	want := store.HostTarget{Kind: store.HostApp, Owner: "alice", Name: "web"}
	if h, err := s.Host("www"); err != nil || h != want {
		t.Errorf("Host(www) = %+v %v, want %+v", h, err, want)
	}
	if _, err := s.Host("nope"); !paas.IsNotFound(err) {
		t.Errorf("Host(nope): %v", err)
	}
	taken := []struct {
		sub, owner, name string
		want             bool
	}{
		{"www", "alice", "web", false}, // its own
		{"www", "bob", "api", true},
		{"api", "alice", "web", true},
		{"free", "alice", "web", false},
	}
	for _, c := range taken {
		if got, err := s.SubdomainTaken(c.sub, c.owner, c.name); err != nil || got != c.want {
			t.Errorf("SubdomainTaken(%s, %s/%s) = %v %v, want %v", c.sub, c.owner, c.name, got, err, c.want)
		}
	}
	if _, err := s.UpdateApp("alice", "web", func(a *paas.App) error { a.Subdomain = "api"; return nil }); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("moving to a taken subdomain: %v", err)
	}
	if _, err := s.UpdateApp("alice", "web", func(a *paas.App) error { a.Subdomain = "site"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Host("www"); !paas.IsNotFound(err) {
		t.Errorf("the old subdomain is still indexed: %v", err)
	}
	if a, err := s.AppBySubdomain("site"); err != nil || a.Key() != "alice/web" {
		t.Errorf("AppBySubdomain(site) = %s %v", a.Key(), err)
	}
	if _, err := s.AppBySubdomain("www"); !paas.IsNotFound(err) {
		t.Errorf("AppBySubdomain(www): %v", err)
	}
	if _, err := s.DeleteApp("alice", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Host("site"); !paas.IsNotFound(err) {
		t.Errorf("a deleted app's subdomain is still indexed: %v", err)
	}
}

// TestLogsOfDeletedAppAreDropped: log capture flushes its last lines as a
// deleted app's units stop; they must not recreate the app's log (Check
// at cleanup would report an orphan, and a new app of that name would
// inherit them).
func TestLogsOfDeletedAppAreDropped(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web"}); err != nil {
		t.Fatal(err)
	}
	line := []paas.LogEntry{{Time: time.Now().UTC(), Source: "app", Text: "hello"}}
	if err := s.AppendLogs("alice/web", line); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteApp("alice", "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs("alice/web", line); err != nil {
		t.Fatalf("late lines of a deleted app: %v", err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web"}); err != nil {
		t.Fatal(err)
	}
	if logs, err := s.Logs("alice/web", time.Unix(0, 0), time.Now().Add(time.Hour), 100); err != nil || len(logs) != 0 {
		t.Fatalf("new app inherited %d lines (%v)", len(logs), err)
	}
}

// TestDomainClaims: claims of a name nobody proved do not block each
// other; proving one makes the name its claimant's and drops the others;
// a proven name blocks new claims; a claim has no records.
func TestDomainClaims(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob", "carol")
	claim := func(owner, uid string) (paas.Domain, bool, error) {
		return s.CreateDomain(paas.Domain{UID: uid, Name: "example.org", Owner: owner, VerifyToken: "t-" + owner})
	}
	if _, created, err := claim("alice", "dom_a"); err != nil || !created {
		t.Fatalf("alice's claim: %v %v", created, err)
	}
	if _, created, err := claim("bob", "dom_b"); err != nil || !created {
		t.Fatalf("bob's claim beside alice's: %v %v", created, err)
	}
	if again, created, err := claim("alice", "dom_other"); err != nil || created || again.UID != "dom_a" {
		t.Fatalf("alice claims again: %+v %v %v, want her first claim", again, created, err)
	}
	if _, err := s.CreateRecord("alice", "example.org", paas.Record{ID: "rec_1", Type: "A", Value: "192.0.2.1"}, nil); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("a record on a claim: %v, want 409", err)
	}
	if recs, err := s.Records("alice", "example.org"); err != nil || len(recs) != 0 {
		t.Errorf("records of a claim: %v %v", recs, err)
	}
	if _, err := s.MarkDomainVerified("bob", "example.org", "dom_b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Domain("alice", "example.org"); !paas.IsNotFound(err) {
		t.Errorf("alice's claim survived bob's proof: %v", err)
	}
	if _, _, err := claim("carol", "dom_c"); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("a claim of a proven name: %v, want 409", err)
	}
	if _, err := s.MarkDomainVerified("alice", "example.org", "dom_a"); !paas.IsNotFound(err) {
		t.Errorf("proving a dropped claim: %v, want 404", err)
	}
	if d, err := s.Domain("bob", "example.org"); err != nil || !d.Verified {
		t.Errorf("bob's domain: %+v %v", d, err)
	}
	// A user's deletion takes its claims along.
	if _, _, err := s.CreateDomain(paas.Domain{UID: "dom_x", Name: "other.org", Owner: "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser("carol"); err != nil {
		t.Fatal(err)
	}
}
