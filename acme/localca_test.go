package acme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas/store"
)

// TestLocalCA: the root is made once and kept (the same after a restart);
// leaves are issued for allowed names only, chain to the root and are
// reused while fresh.
func TestLocalCA(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allow := func(name string) bool { return name == "web.localhost" }
	ca, err := acme.NewLocalCA(ctx, acme.NewStorage(st, "p1", 0), allow)
	if err != nil {
		t.Fatal(err)
	}
	root := string(ca.RootPEM())
	leaf, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "Web.Localhost."})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootPEM())
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "web.localhost", Roots: pool}); err != nil {
		t.Errorf("the leaf does not verify against the root: %v", err)
	}
	again, _ := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "web.localhost"})
	if again != leaf {
		t.Error("a fresh leaf was issued again")
	}
	if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.localhost"}); err == nil {
		t.Error("a certificate for a name not allowed")
	}
	if _, err := ca.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("a certificate without a name")
	}
	st.Close()

	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca2, err := acme.NewLocalCA(ctx, acme.NewStorage(st, "p2", 0), allow)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca2.RootPEM()) != root {
		t.Error("the root changed across a restart")
	}
}
