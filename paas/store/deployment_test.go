package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

func deploymentFiles(t *testing.T, greeting string) []paas.ArchiveFile {
	t.Helper()
	files, err := paas.DeploymentFiles(map[string]json.RawMessage{
		"package":   json.RawMessage(`{"name":"web","scripts":{"start":"node server.js"}}`),
		"server.js": json.RawMessage(strconv.Quote("console.log(" + strconv.Quote(greeting) + ")")),
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDeployments: a deployment is stored with its snapshot and hostname
// in one transaction, listed by owner, its env sealed at rest; deleting it
// frees its hostname and its snapshot (not its app's active one); deleting
// its app deletes it.
func TestDeployments(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(paas.User{Name: u, Email: u + "@example.com", Confirmed: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web"}); err != nil {
		t.Fatal(err)
	}
	const secret = "env-value-in-the-clear-never"
	mk := func(uid, label, greeting string) (paas.Deployment, error) {
		d, _, err := s.CreateDeployment(paas.Deployment{UID: uid, Owner: "alice", App: "web", Label: label,
			State: paas.DeploymentBooting, Env: map[string]string{"TOKEN": secret}}, paas.Snapshot{}, deploymentFiles(t, greeting))
		return d, err
	}
	one, err := mk("uid1", "web-aaaaaaaaaa", "one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mk("uid2", "web-aaaaaaaaaa", "two"); !errors.Is(err, paas.ErrConflict) {
		t.Fatalf("a taken label: %v, want a conflict", err)
	}
	if _, err := s.Snapshot("alice", "web", "uid2"); !paas.IsNotFound(err) {
		t.Errorf("the refused deployment left its snapshot: %v", err)
	}
	if _, err := mk("uid2", "web-bbbbbbbbbb", "two"); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Host("web-aaaaaaaaaa"); err != nil || h != (store.HostTarget{Kind: store.HostDeployment, Owner: "alice", Name: "uid1"}) {
		t.Errorf("Host = %+v %v", h, err)
	}
	got, err := s.Deployment("uid1")
	if err != nil || got.Env["TOKEN"] != secret || got.Created.IsZero() || got.Created != one.Created {
		t.Errorf("Deployment = %+v %v", got, err)
	}
	if list, err := s.Deployments("alice"); err != nil || len(list) != 2 || list[0].UID != "uid1" {
		t.Errorf("Deployments(alice) = %+v %v", list, err)
	}
	if list, err := s.Deployments("bob"); err != nil || len(list) != 0 {
		t.Errorf("Deployments(bob) = %+v %v", list, err)
	}
	if d, err := s.SetDeploymentState("uid1", paas.DeploymentReady, ""); err != nil || d.State != paas.DeploymentReady || !d.StateTs.After(one.StateTs) && d.StateTs != one.StateTs {
		t.Errorf("SetDeploymentState = %+v %v", d, err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}

	// uid2 is what the app serves: its snapshot stays when it goes.
	if _, err := s.UpdateApp("alice", "web", func(a *paas.App) error { a.Snapshot = "uid2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDeployment("uid1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteDeployment("uid2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot("alice", "web", "uid1"); !paas.IsNotFound(err) {
		t.Errorf("snapshot of a deleted deployment: %v", err)
	}
	if _, err := s.Snapshot("alice", "web", "uid2"); err != nil {
		t.Errorf("the active snapshot went with its deployment: %v", err)
	}
	if _, err := s.Host("web-aaaaaaaaaa"); !paas.IsNotFound(err) {
		t.Errorf("the hostname of a deleted deployment: %v", err)
	}

	// The app's deletion takes its deployments.
	if _, err := mk("uid3", "web-cccccccccc", "three"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteApp("alice", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deployment("uid3"); !paas.IsNotFound(err) {
		t.Errorf("a deployment of a deleted app: %v", err)
	}
	if _, err := s.Host("web-cccccccccc"); !paas.IsNotFound(err) {
		t.Errorf("its hostname: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "paas.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("a deployment's env is in the data file in the clear")
	}
}

// TestAliases: an alias takes a free label, an app's own hostname (the app
// then serves the deployment) or a name of a verified domain of its
// owner; it moves between its owner's deployments, answering the old one;
// it goes with its domain, its deployment, or the app taking its hostname back.
func TestAliases(t *testing.T) {
	s := newStoreWithUsers(t, "alice", "bob")
	for _, a := range []paas.App{{Owner: "alice", Name: "web", Subdomain: "web"}, {Owner: "bob", Name: "api", Subdomain: "api"}} {
		if _, err := s.CreateApp(a); err != nil {
			t.Fatal(err)
		}
	}
	dep := func(owner, app, uid string) paas.Deployment {
		d, _, err := s.CreateDeployment(paas.Deployment{UID: uid, Owner: owner, App: app, Label: app + "-" + uid, State: paas.DeploymentReady},
			paas.Snapshot{}, deploymentFiles(t, uid))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1, d2, b1 := dep("alice", "web", "d1"), dep("alice", "web", "d2"), dep("bob", "api", "b1")
	if _, _, err := s.CreateDomain(paas.Domain{UID: "dom1", Name: "example.org", Owner: "alice", Verified: true}); err != nil {
		t.Fatal(err)
	}
	const zone = "paas.test"
	www, old, err := s.SetAlias("www."+zone, zone, d1)
	if err != nil || old != "" || www.Label != "www" || www.AppHost {
		t.Fatalf("new alias = %+v %q %v", www, old, err)
	}
	if moved, old, err := s.SetAlias("www."+zone, zone, d2); err != nil || old != "d1" || moved.UID != www.UID {
		t.Errorf("moved = %+v %q %v", moved, old, err)
	}
	if _, _, err := s.SetAlias("www."+zone, zone, d2); !errors.Is(err, store.ErrAliasUnchanged) {
		t.Errorf("unchanged: %v", err)
	}
	for _, c := range []struct {
		host string
		d    paas.Deployment
		want error
	}{
		{"www." + zone, b1, paas.ErrConflict},        // alice's
		{"api." + zone, d1, paas.ErrConflict},        // bob's app
		{"web-d1." + zone, d2, paas.ErrConflict},     // a deployment's own hostname
		{"a.b." + zone, d1, paas.ErrBadRequest},      // not one label
		{"shop.example.org", b1, paas.ErrBadRequest}, // not bob's domain
		{"shop.example.com", d1, paas.ErrBadRequest}, // nobody's domain
	} {
		if _, _, err := s.SetAlias(c.host, zone, c.d); !errors.Is(err, c.want) {
			t.Errorf("SetAlias(%s, %s) = %v, want %v", c.host, c.d.UID, err, c.want)
		}
	}
	shop, _, err := s.SetAlias("shop.example.org", zone, d1)
	if err != nil || shop.Label != "" {
		t.Fatalf("custom domain alias = %+v %v", shop, err)
	}
	own, _, err := s.SetAlias("web."+zone, zone, d1)
	if err != nil || !own.AppHost || own.Label != "" {
		t.Fatalf("the app's hostname = %+v %v", own, err)
	}
	if a, _ := s.App("alice", "web"); a.ServedBy != "d1" || a.Snapshot != "d1" || a.State != paas.AppStarted {
		t.Errorf("the app served by d1: %+v", a)
	}
	if list, err := s.Aliases("alice"); err != nil || len(list) != 3 {
		t.Errorf("Aliases = %+v %v", list, err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}

	// A new subdomain renames the alias that serves it.
	if _, err := s.UpdateApp("alice", "web", func(a *paas.App) error { a.Subdomain = "site"; return nil }); err != nil {
		t.Fatal(err)
	}
	if a, err := s.AliasByHost("site." + zone); err != nil || a.UID != own.UID || !a.AppHost || a.Deployment != "d1" {
		t.Errorf("the alias by its new hostname = %+v %v", a, err)
	}
	if _, err := s.AliasByHost("web." + zone); !paas.IsNotFound(err) {
		t.Errorf("the alias by its old hostname: %v", err)
	}
	if a, _ := s.App("alice", "web"); a.ServedBy != "d1" {
		t.Errorf("the renamed app is still served by d1: %+v", a)
	}
	if a, _, err := s.SetAlias("web."+zone, zone, b1); err != nil || a.Label != "web" {
		t.Errorf("the old name, free again, as bob's alias = %+v %v", a, err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check after the rename: %v", err)
	}

	// The app's own units take its hostname back: that alias goes.
	if _, err := s.UpdateApp("alice", "web", func(a *paas.App) error { a.ServedBy = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alias(own.UID); !paas.IsNotFound(err) {
		t.Errorf("the app's alias after it took its hostname back: %v", err)
	}
	// The domain takes its aliases, the deployment its own.
	if _, err := s.DeleteDomain("alice", "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alias(shop.UID); !paas.IsNotFound(err) {
		t.Errorf("an alias of a deleted domain: %v", err)
	}
	if _, err := s.DeleteDeployment("d2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alias(www.UID); !paas.IsNotFound(err) {
		t.Errorf("an alias of a deleted deployment: %v", err)
	}
	if _, err := s.Host("www"); !paas.IsNotFound(err) {
		t.Errorf("its label: %v", err)
	}
	if _, err := s.DeleteAlias("bob", www.UID); !paas.IsNotFound(err) {
		t.Errorf("DeleteAlias of a gone alias: %v", err)
	}
}
