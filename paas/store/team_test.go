package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// newStoreWithUsers opens a test store holding the named users.
func newStoreWithUsers(t *testing.T, names ...string) *store.Store {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	for _, n := range names {
		if err := s.CreateUser(paas.User{Name: n, Email: n + "@example.com", Confirmed: true}); err != nil {
			t.Fatalf("CreateUser %s: %v", n, err)
		}
	}
	return s
}

func members(t paas.Team) string {
	var b strings.Builder
	for i, m := range t.Members {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%s", m.User, m.Role)
	}
	return b.String()
}

func teamNames(ts []paas.Team) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	return strings.Join(names, " ")
}

func TestCreateTeam(t *testing.T) {
	cases := []struct {
		name    string
		team    paas.Team
		want    string // members after create
		wantErr error
	}{
		{"members sorted", paas.Team{Name: "ops", Members: []paas.Member{{User: "bob", Role: paas.RoleMember}, {User: "alice", Role: paas.RoleOwner}}},
			"alice:owner bob:member", nil},
		{"no members", paas.Team{Name: "empty"}, "", nil},
		{"named like a user", paas.Team{Name: "alice", Members: []paas.Member{{User: "bob", Role: paas.RoleOwner}}}, "", paas.ErrConflict},
		{"unknown member", paas.Team{Name: "ghosts", Members: []paas.Member{{User: "nobody", Role: paas.RoleOwner}}}, "", paas.ErrNotFound},
		{"member twice", paas.Team{Name: "twice", Members: []paas.Member{{User: "bob", Role: paas.RoleOwner}, {User: "bob", Role: paas.RoleMember}}}, "", paas.ErrBadRequest},
		{"bad role", paas.Team{Name: "kings", Members: []paas.Member{{User: "bob", Role: "king"}}}, "", paas.ErrBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStoreWithUsers(t, "alice", "bob")
			got, err := s.CreateTeam(c.team)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("CreateTeam: %v, want %v", err, c.wantErr)
				}
				if _, err := s.Team(c.team.Name); !paas.IsNotFound(err) {
					t.Errorf("a refused team was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateTeam: %v", err)
			}
			if members(got) != c.want || got.Created.IsZero() || !got.Updated.Equal(got.Created) {
				t.Errorf("created %+v, want members %q and times set", got, c.want)
			}
			stored, err := s.Team(c.team.Name)
			if err != nil || members(stored) != c.want {
				t.Errorf("Team = %+v %v", stored, err)
			}
		})
	}
}

func TestTeamNameErrors(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateTeam(paas.Team{Name: "ops"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"team named like a user", func() error { _, err := s.CreateTeam(paas.Team{Name: "alice"}); return err }(), `name "alice" is taken`},
		{"team named like a team", func() error { _, err := s.CreateTeam(paas.Team{Name: "ops"}); return err }(), `name "ops" is taken`},
		{"user named like a team", s.CreateUser(paas.User{Name: "ops", Email: "ops@example.com"}), `name "ops" is taken`},
		{"missing team", func() error { _, err := s.Team("nope"); return err }(), `team "nope" not found`},
		{"missing owner", func() error { _, err := s.OwnerKind("nope"); return err }(), `owner "nope" not found`},
	}
	for _, c := range cases {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, c.err, c.want)
		}
	}
	if _, err := s.User("ops"); !paas.IsNotFound(err) {
		t.Errorf("the refused user was stored: %v", err)
	}
	if taken, _ := s.EmailTaken("ops@example.com"); taken {
		t.Errorf("the refused user's email was indexed")
	}
}

func TestOwnerKind(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateTeam(paas.Team{Name: "ops", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]paas.OwnerKind{"alice": paas.OwnerUser, "ops": paas.OwnerTeam} {
		if got, err := s.OwnerKind(name); err != nil || got != want {
			t.Errorf("OwnerKind(%s) = %q %v, want %q", name, got, err, want)
		}
	}
	if _, err := s.OwnerKind("nobody"); !paas.IsNotFound(err) {
		t.Errorf("OwnerKind(nobody): %v", err)
	}
}

func TestTeamsAndTeamsOf(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob", "carol")
	for _, tm := range []paas.Team{
		{Name: "web", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}, {User: "bob", Role: paas.RoleMember}}},
		{Name: "db", Members: []paas.Member{{User: "bob", Role: paas.RoleOwner}}},
		{Name: "ops", Members: []paas.Member{{User: "alice", Role: paas.RoleMember}}},
	} {
		if _, err := s.CreateTeam(tm); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Teams()
	if err != nil || teamNames(all) != "db ops web" {
		t.Errorf("Teams = %q %v", teamNames(all), err)
	}
	for user, want := range map[string]string{"alice": "ops web", "bob": "db web", "carol": "", "nobody": ""} {
		got, err := s.TeamsOf(user)
		if err != nil || teamNames(got) != want {
			t.Errorf("TeamsOf(%s) = %q %v, want %q", user, teamNames(got), err, want)
		}
	}
}

func TestUpdateTeam(t *testing.T) {
	cases := []struct {
		name    string
		fn      func(*paas.Team) error
		want    string // members after the update (unchanged on error)
		wantErr error
	}{
		{"add a member", func(tm *paas.Team) error { tm.SetMember("carol", paas.RoleMember); return nil },
			"alice:owner bob:member carol:member", nil},
		{"change a role", func(tm *paas.Team) error { tm.SetMember("bob", paas.RoleOwner); return nil },
			"alice:owner bob:owner", nil},
		{"remove a member", func(tm *paas.Team) error { tm.RemoveMember("alice"); return nil },
			"bob:member", nil},
		{"rename is ignored", func(tm *paas.Team) error { tm.Name = "other"; return nil },
			"alice:owner bob:member", nil},
		{"unknown new member", func(tm *paas.Team) error { tm.SetMember("nobody", paas.RoleMember); return nil },
			"alice:owner bob:member", paas.ErrNotFound},
		{"fn refuses", func(tm *paas.Team) error { tm.RemoveMember("alice"); return paas.Forbidden("no") },
			"alice:owner bob:member", paas.ErrForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStoreWithUsers(t, "alice", "bob", "carol")
			created, err := s.CreateTeam(paas.Team{Name: "web", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}, {User: "bob", Role: paas.RoleMember}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.UpdateTeam("web", c.fn)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("UpdateTeam: %v, want %v", err, c.wantErr)
			}
			if err == nil && (got.Name != "web" || members(got) != c.want || !got.Created.Equal(created.Created)) {
				t.Errorf("UpdateTeam = %+v, want web with %q", got, c.want)
			}
			stored, err := s.Team("web")
			if err != nil || members(stored) != c.want {
				t.Errorf("stored team %q %v, want %q", members(stored), err, c.want)
			}
			// The index follows: TeamsOf agrees with the members.
			for _, u := range []string{"alice", "bob", "carol"} {
				teams, err := s.TeamsOf(u)
				if err != nil {
					t.Fatal(err)
				}
				if in := len(teams) == 1; in != (stored.Role(u) != "") {
					t.Errorf("TeamsOf(%s) = %q, but the team's role is %q", u, teamNames(teams), stored.Role(u))
				}
			}
			if _, err := s.Team("other"); !paas.IsNotFound(err) {
				t.Errorf("a team was renamed: %v", err)
			}
		})
	}
	s := newStoreWithUsers(t)
	if _, err := s.UpdateTeam("nope", func(*paas.Team) error { return nil }); !paas.IsNotFound(err) {
		t.Errorf("UpdateTeam of a missing team: %v", err)
	}
}

// TestDeleteTeamRefusedWhileOwning: a team is deleted only once it owns
// nothing, and the refusal says what is left.
func TestDeleteTeamRefusedWhileOwning(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateTeam(paas.Team{Name: "web", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "web", Name: "site", Subdomain: "site"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateDomain(paas.Domain{UID: "dom_1", Name: "web.example", Owner: "web", Verified: true}); err != nil {
		t.Fatal(err)
	}
	_, err := s.DeleteTeam("web")
	if !errors.Is(err, paas.ErrConflict) || err.Error() != `team "web" still owns 1 apps, 1 domains and 0 databases; delete them first` {
		t.Fatalf("DeleteTeam while owning: %v", err)
	}
	if _, err := s.DeleteApp("web", "site"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDomain("web", "web.example"); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteTeam("web")
	if err != nil || deleted.Name != "web" {
		t.Fatalf("DeleteTeam: %+v %v", deleted, err)
	}
	if _, err := s.Team("web"); !paas.IsNotFound(err) {
		t.Errorf("Team after delete: %v", err)
	}
	if teams, err := s.TeamsOf("alice"); err != nil || len(teams) != 0 {
		t.Errorf("TeamsOf after delete: %q %v", teamNames(teams), err)
	}
	if _, err := s.DeleteTeam("web"); !paas.IsNotFound(err) {
		t.Errorf("deleting a deleted team: %v", err)
	}
	// The name is free again, for a user too.
	if err := s.CreateUser(paas.User{Name: "web", Email: "web@example.com"}); err != nil {
		t.Errorf("CreateUser with a deleted team's name: %v", err)
	}
}

func TestDeleteUserLeavesTeams(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob")
	for _, tm := range []paas.Team{
		{Name: "web", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}, {User: "bob", Role: paas.RoleMember}}},
		{Name: "solo", Members: []paas.Member{{User: "bob", Role: paas.RoleOwner}}},
	} {
		if _, err := s.CreateTeam(tm); err != nil {
			t.Fatal(err)
		}
	}
	// The team's app is the team's, not bob's: it stays.
	if _, err := s.CreateApp(paas.App{Owner: "solo", Name: "app", Subdomain: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"web": "alice:owner", "solo": ""} {
		tm, err := s.Team(name)
		if err != nil || members(tm) != want {
			t.Errorf("team %s after deleting bob: %q %v, want %q", name, members(tm), err, want)
		}
	}
	if teams, err := s.TeamsOf("bob"); err != nil || len(teams) != 0 {
		t.Errorf("TeamsOf(bob) = %q %v", teamNames(teams), err)
	}
	if _, err := s.App("solo", "app"); err != nil {
		t.Errorf("the team's app went with a member: %v", err)
	}
	// bob's name is free, but not for a team that exists.
	if err := s.CreateUser(paas.User{Name: "bob", Email: "bob@example.com"}); err != nil {
		t.Errorf("recreating bob: %v", err)
	}
}

// TestTeamOwnsObjects: a team is an owner like a user for apps, databases
// and domains; a name that is neither is not.
func TestTeamOwnsObjects(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateTeam(paas.Team{Name: "web", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "web", Name: "site", Subdomain: "site", Env: map[string]string{"K": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "blog", Subdomain: "blog"}); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps("web")
	if err != nil || len(apps) != 1 || apps[0].Name != "site" || apps[0].Env["K"] != "v" {
		t.Errorf("Apps(web) = %+v %v", apps, err)
	}
	if _, err := s.CreateDatabase(paas.Database{Owner: "web", Name: "db", Type: "redis"}); err != nil {
		t.Errorf("CreateDatabase for a team: %v", err)
	}
	if dbs, err := s.Databases("web"); err != nil || len(dbs) != 1 {
		t.Errorf("Databases(web) = %v %v", dbs, err)
	}
	if _, _, err := s.CreateDomain(paas.Domain{UID: "dom_1", Name: "web.example", Owner: "web", Verified: true}); err != nil {
		t.Errorf("CreateDomain for a team: %v", err)
	}
	if ds, err := s.Domains("web"); err != nil || len(ds) != 1 {
		t.Errorf("Domains(web) = %v %v", ds, err)
	}
	for what, err := range map[string]error{
		"app":      func() error { _, err := s.CreateApp(paas.App{Owner: "nobody", Name: "x", Subdomain: "x"}); return err }(),
		"database": func() error { _, err := s.CreateDatabase(paas.Database{Owner: "nobody", Name: "x"}); return err }(),
		"domain": func() error {
			_, _, err := s.CreateDomain(paas.Domain{UID: "dom_2", Name: "x.example", Owner: "nobody"})
			return err
		}(),
	} {
		if !paas.IsNotFound(err) || !strings.Contains(err.Error(), `owner "nobody" not found`) {
			t.Errorf("%s for a missing owner: %v", what, err)
		}
	}
	if _, err := s.DeleteDatabase("web", "db"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.DeleteApp("web", "site"); err != nil || a.Name != "site" {
		t.Fatalf("DeleteApp: %+v %v", a, err)
	}
	if apps, err := s.Apps("web"); err != nil || len(apps) != 0 {
		t.Errorf("Apps(web) after delete = %+v %v", apps, err)
	}
}
