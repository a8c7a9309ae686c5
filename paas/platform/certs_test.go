package platform_test

import (
	"context"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// TestCertOwner: the names that may get a certificate, and whose they
// are. Anything else (a random SNI) is unknown, so nothing is ever
// ordered for it.
func TestCertOwner(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{Domain: "paas.example"})
	ctx := context.Background()
	alice := tp.NewUser(t, "alice")
	pa, admin := tp.Principal(t, alice), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pa, "alice", paas.AppSpec{Name: "site"}); err != nil {
		t.Fatal(err)
	}
	// Registered by an admin for alice: proven at once.
	if _, err := tp.CreateOrVerifyDomain(ctx, admin, "alice", "shop.example.org", false); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateRecord(ctx, pa, "alice", "shop.example.org", paas.Record{Name: "api", Type: "A", Value: "192.0.2.1"}, false); err != nil {
		t.Fatal(err)
	}
	files := paastest.AppFiles(t, "site")
	dep, err := tp.CreateDeployment(ctx, pa, "alice", files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"live", "store.shop.example.org"} {
		if _, _, err := tp.SetAlias(ctx, pa, "alice", dep.UID, alias); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, owner string
		known       bool
	}{
		{"paas.example", "", true},
		{"*.paas.example", "", true},
		{"site.paas.example", "alice", true},
		{dep.Label + ".paas.example", "alice", true},
		{"live.paas.example", "alice", true},
		{"store.shop.example.org", "alice", true},
		{"SITE.paas.example.", "alice", true},
		{"nope.paas.example", "", false},
		{"a.site.paas.example", "", false},
		{"shop.example.org", "alice", true},
		{"www.shop.example.org", "alice", true},
		{"api.shop.example.org", "alice", true},
		{"random.shop.example.org", "", false},
		{"example.org", "", false},
		{"elsewhere.example", "", false},
		{"", "", false},
	} {
		owner, known := tp.CertOwner(ctx, tc.name)
		if owner != tc.owner || known != tc.known {
			t.Errorf("CertOwner(%q) = %q, %v; want %q, %v", tc.name, owner, known, tc.owner, tc.known)
		}
	}
}
