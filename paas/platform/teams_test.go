package platform_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func status(err error) int {
	if err == nil {
		return http.StatusOK
	}
	s, _, _ := paas.ErrorStatus(err)
	return s
}

func wantStatus(t *testing.T, what string, err error, want int) {
	t.Helper()
	if got := status(err); got != want {
		t.Fatalf("%s: status %d (%v), want %d", what, got, err, want)
	}
}

func TestTeamLifecycle(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx := context.Background()
	alice, bob, carol := tp.NewUser(t, "alice"), tp.NewUser(t, "bob"), tp.NewUser(t, "carol")
	pa, pb, pc := tp.Principal(t, alice), tp.Principal(t, bob), tp.Principal(t, carol)

	team, err := tp.CreateTeam(ctx, pa, "Crew")
	if err != nil {
		t.Fatal(err)
	}
	if team.Name != "crew" || team.Role("alice") != paas.RoleOwner || len(team.Members) != 1 {
		t.Fatalf("new team = %+v, want crew owned by alice", team)
	}
	// One owner namespace: a team cannot take a user's name, nor the reverse.
	_, err = tp.CreateTeam(ctx, pa, "bob")
	wantStatus(t, "team named like a user", err, http.StatusConflict)
	_, err = tp.SignUp(ctx, "crew", "crew@example.com", "a-password-1")
	wantStatus(t, "user named like a team", err, http.StatusConflict)
	if ok, _, err := tp.UserAvailable(ctx, "crew"); err != nil || ok {
		t.Fatalf("UserAvailable(crew) = %v, %v; want taken", ok, err)
	}

	// Only owners manage the team; strangers do not even see it.
	_, err = tp.SetTeamMember(ctx, pb, "crew", "bob", paas.RoleMember)
	wantStatus(t, "stranger adds itself", err, http.StatusNotFound)
	_, err = tp.Team(ctx, pb, "crew")
	wantStatus(t, "stranger reads team", err, http.StatusNotFound)
	if team, err = tp.SetTeamMember(ctx, pa, "crew", "bob", paas.RoleMember); err != nil {
		t.Fatal(err)
	}
	_, err = tp.SetTeamMember(ctx, pb, "crew", "carol", paas.RoleMember)
	wantStatus(t, "member adds someone", err, http.StatusForbidden)
	_, err = tp.SetTeamMember(ctx, pa, "crew", "nobody", paas.RoleMember)
	wantStatus(t, "add a user who does not exist", err, http.StatusNotFound)
	_, err = tp.SetTeamMember(ctx, pa, "crew", "carol", "boss")
	wantStatus(t, "invalid role", err, http.StatusBadRequest)
	_, err = tp.SetTeamMember(ctx, pa, "crew", "alice", paas.RoleMember)
	wantStatus(t, "last owner steps down", err, http.StatusConflict)

	teams, err := tp.Teams(ctx, pb)
	if err != nil || len(teams) != 1 || teams[0].Name != "crew" {
		t.Fatalf("bob's teams = %v, %v", teams, err)
	}
	if teams, err := tp.Teams(ctx, pc); err != nil || len(teams) != 0 {
		t.Fatalf("carol's teams = %v, %v; want none", teams, err)
	}
	if teams, err := tp.Teams(ctx, tp.AdminPrincipal(t)); err != nil || len(teams) != 1 {
		t.Fatalf("admin sees teams %v, %v; want all (1)", teams, err)
	}

	// A member manages the team's apps; a stranger cannot touch them.
	app, err := tp.CreateApp(ctx, pb, "crew", paas.AppSpec{Name: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if app.Owner != "crew" {
		t.Fatalf("app owner = %q, want crew", app.Owner)
	}
	archive := paastest.TarGz(t, map[string]string{"package.json": `{"name":"site","scripts":{"start":"node s.js"}}`, "s.js": "//"})
	if _, err := tp.UploadSnapshot(ctx, pa, "crew", "site", "v1", bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.StartApp(ctx, pb, "crew", "site"); err != nil {
		t.Fatal(err)
	}
	before := tp.Digest(t, "crew")
	for name, call := range map[string]func() error{
		"read":   func() error { _, err := tp.App(ctx, pc, "crew", "site"); return err },
		"list":   func() error { _, err := tp.Apps(ctx, pc, "crew"); return err },
		"create": func() error { _, err := tp.CreateApp(ctx, pc, "crew", paas.AppSpec{Name: "evil"}); return err },
		"stop":   func() error { _, err := tp.StopApp(ctx, pc, "crew", "site"); return err },
		"delete": func() error { _, err := tp.DeleteApp(ctx, pc, "crew", "site"); return err },
		"db":     func() error { _, err := tp.CreateDatabase(ctx, pc, "crew", "db1", "redis"); return err },
	} {
		wantStatus(t, "stranger "+name, call(), http.StatusForbidden)
	}
	if after := tp.Digest(t, "crew"); after != before {
		t.Fatalf("refused calls changed the team:\n%s\n%s", before, after)
	}
	// Account matters are users' only.
	_, err = tp.User(ctx, pb, "crew")
	wantStatus(t, "member reads the team as an account", err, http.StatusNotFound)
	_, err = tp.User(ctx, tp.AdminPrincipal(t), "crew")
	wantStatus(t, "admin reads the team as an account", err, http.StatusNotFound)

	// A team that owns something cannot go.
	_, err = tp.DeleteTeam(ctx, pb, "crew")
	wantStatus(t, "member deletes the team", err, http.StatusForbidden)
	_, err = tp.DeleteTeam(ctx, pa, "crew")
	wantStatus(t, "delete a team with an app", err, http.StatusConflict)
	var apiErr *paas.Error
	if !errors.As(err, &apiErr) || !bytes.Contains([]byte(apiErr.Message), []byte("1 apps")) {
		t.Errorf("refusal does not say what is left: %v", err)
	}
	if _, err := tp.DeleteApp(ctx, pb, "crew", "site"); err != nil {
		t.Fatal(err)
	}
	// A member may leave; the last owner may not.
	if team, err = tp.RemoveTeamMember(ctx, pb, "crew", "bob"); err != nil || team.Role("bob") != "" {
		t.Fatalf("bob leaves: %+v, %v", team, err)
	}
	_, err = tp.RemoveTeamMember(ctx, pa, "crew", "alice")
	wantStatus(t, "last owner leaves", err, http.StatusConflict)
	if _, err := tp.DeleteTeam(ctx, pa, "crew"); err != nil {
		t.Fatal(err)
	}
	_, err = tp.Team(ctx, pa, "crew")
	wantStatus(t, "deleted team", err, http.StatusNotFound)
}

// TestDeletedUserLeavesTeams: a user's deletion removes its memberships.
func TestDeletedUserLeavesTeams(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx := context.Background()
	alice, bob := tp.NewUser(t, "alice"), tp.NewUser(t, "bob")
	tp.NewTeam(t, "crew", alice, bob)
	if err := tp.DeleteUser(ctx, tp.Principal(t, bob), "bob"); err != nil {
		t.Fatal(err)
	}
	team, err := tp.Team(ctx, tp.Principal(t, alice), "crew")
	if err != nil || team.Role("bob") != "" || len(team.Members) != 1 {
		t.Fatalf("crew after bob's deletion: %+v, %v", team, err)
	}
}

// TestAccessRules is the service's authorization table over one owner's
// app: the user itself, a team member, an admin, a stranger, a token.
func TestAccessRules(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx := context.Background()
	alice, bob, carol := tp.NewUser(t, "alice"), tp.NewUser(t, "bob"), tp.NewUser(t, "carol")
	tp.NewTeam(t, "crew", alice, bob)
	pa := tp.Principal(t, alice)
	if _, err := tp.CreateApp(ctx, pa, "alice", paas.AppSpec{Name: "mine"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateApp(ctx, pa, "crew", paas.AppSpec{Name: "ours"}); err != nil {
		t.Fatal(err)
	}
	tokenOfAlice, err := tp.AuthenticateBearer(alice.Token)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		caller       string
		pr           *paas.Principal
		owner, app   string
		app_, tokens int // status of reading the app, of listing the owner's tokens
	}{
		{"alice on her own", pa, "alice", "mine", 200, 200},
		{"alice's token on her own", tokenOfAlice, "alice", "mine", 200, 403},
		{"bob on alice's", tp.Principal(t, bob), "alice", "mine", 403, 403},
		{"bob on his team's", tp.Principal(t, bob), "crew", "ours", 200, 404},
		{"carol on the team's", tp.Principal(t, carol), "crew", "ours", 403, 403},
		{"admin on alice's", tp.AdminPrincipal(t), "alice", "mine", 200, 200},
		{"admin on the team's", tp.AdminPrincipal(t), "crew", "ours", 200, 404},
		{"admin on nobody's", tp.AdminPrincipal(t), "nobody", "x", 404, 404},
		{"carol on nobody's", tp.Principal(t, carol), "nobody", "x", 403, 403},
		{"anonymous", nil, "alice", "mine", 401, 401},
	}
	for _, c := range cases {
		t.Run(c.caller, func(t *testing.T) {
			_, err := tp.App(ctx, c.pr, c.owner, c.app)
			wantStatus(t, "read app", err, c.app_)
			_, err = tp.Tokens(ctx, c.pr, c.owner)
			wantStatus(t, "list tokens", err, c.tokens)
		})
	}
}

// App names are global: Tsuru addresses apps by bare name.
func TestAppNamesAreGlobal(t *testing.T) {
	tp := paastest.NewPlatform(t)
	ctx := context.Background()
	alice, bob := tp.NewUser(t, "alice"), tp.NewUser(t, "bob")
	if _, err := tp.CreateApp(ctx, tp.Principal(t, alice), "alice", paas.AppSpec{Name: "site"}); err != nil {
		t.Fatal(err)
	}
	sub := "other-host"
	_, err := tp.CreateApp(ctx, tp.Principal(t, bob), "bob", paas.AppSpec{Name: "site", Subdomain: &sub})
	wantStatus(t, "same name, other owner", err, http.StatusConflict)
	if ok, err := tp.AppAvailable(ctx, tp.Principal(t, bob), "bob", "site", "free-host"); err != nil || ok {
		t.Fatalf("AppAvailable(site) for bob = %v, %v; want taken", ok, err)
	}
}
