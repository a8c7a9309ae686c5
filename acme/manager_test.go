package acme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas/paastest"
)

// deadCA is an ACME "CA" that accepts connections and drops them, and
// counts them: issuance fails fast, and attempts can be counted.
func deadCA(t *testing.T) (url string, attempts *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	attempts = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			c.Close()
		}
	}()
	return "https://" + ln.Addr().String() + "/dir", attempts
}

// serveTLS serves handshakes with m and returns the listener's address.
func serveTLS(t *testing.T, m *acme.Manager) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: m.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func served(t *testing.T, addr, name string, roots *x509.CertPool) error {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err == nil {
		c.Close()
	}
	return err
}

// TestManagerRecordsSurviveRestart: a failed issuance is recorded with its
// reason and backoff, kept across a restart, and no attempt is made
// before its backoff ends; a user-supplied certificate is served after a
// restart too, but only while its supplier still owns the name; random
// names get nothing and reach no CA.
func TestManagerRecordsSurviveRestart(t *testing.T) {
	storage, _, _ := newStorage(t, 0)
	ctx := context.Background()
	caURL, attempts := deadCA(t)
	owner := atomic.Value{}
	owner.Store("alice")
	cfg := acme.Config{Storage: storage, CA: caURL, Zone: "paas.example",
		Owner: func(_ context.Context, name string) (string, bool) {
			return owner.Load().(string), name == "app.example.com" || name == "shop.example.com"
		}}
	m1, err := acme.NewManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m1)
	local := x509.NewCertPool()
	local.AppendCertsFromPEM(m1.RootPEM())

	// The CA fails: the handshake is served the local CA's certificate.
	if err := served(t, addr, "app.example.com", local); err != nil {
		t.Fatalf("the fallback to the local CA: %v", err)
	}
	if attempts.Load() == 0 {
		t.Fatal("the CA was never asked")
	}
	if err := served(t, addr, "random.example.com", local); err == nil {
		t.Error("a random name got a certificate")
	}
	certs, err := m1.Certificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || certs[0].CN != "app.example.com" || certs[0].Failure == nil || certs[0].Failure.Failures != 1 ||
		certs[0].Failure.Error == "" || !certs[0].Failure.RetryAt.After(time.Now()) {
		t.Fatalf("failure record: %+v", certs)
	}
	ca := paastest.NewTestCA(t)
	certPEM, keyPEM := ca.Leaf(t, []string{"shop.example.com"}, time.Time{}, time.Time{})
	if _, err := m1.PutCustom(ctx, "alice", []string{"shop.example.com"}, certPEM, keyPEM, ""); err != nil {
		t.Fatal(err)
	}
	m1.Close()

	// After a restart: the record is there and the backoff holds.
	m2, err := acme.NewManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	addr = serveTLS(t, m2)
	before := attempts.Load()
	if err := served(t, addr, "app.example.com", local); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if got := attempts.Load() - before; got != 0 {
		t.Errorf("%d attempts during the backoff, after a restart", got)
	}
	certs, _ = m2.Certificates(ctx)
	if len(certs) != 2 || certs[0].CN != "app.example.com" || certs[0].Failure == nil || certs[1].CN != "shop.example.com" || !certs[1].Custom {
		t.Errorf("after the restart: %+v", certs)
	}
	if err := served(t, addr, "shop.example.com", ca.RootsOf); err != nil {
		t.Errorf("the custom certificate after the restart: %v", err)
	}
	// The name changes hands: its old owner's certificate is not served.
	owner.Store("bob")
	if err := served(t, addr, "shop.example.com", ca.RootsOf); err == nil {
		t.Error("a custom certificate is served for a name its supplier no longer owns")
	}
}
