package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/selfhost/paas/acme/acmetest"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

// acmeServer is a platform authoritative for paas.test whose ACME CA is a
// real Pebble: Pebble resolves names with the platform's DNS server and
// validates HTTP-01 on the platform's HTTP ingress port.
type acmeServer struct {
	*testServer
	pebble *acmetest.Pebble
	https  string
}

func startACMEServer(t *testing.T, dataDir string, before func(dataDir string)) *acmeServer {
	t.Helper()
	httpPort, dnsPort := acmetest.FreePort(t), acmetest.FreePort(t)
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	pebble := acmetest.Start(t, httpPort, dnsAddr)
	rootFile := filepath.Join(t.TempDir(), "pebble-listener.pem")
	if err := os.WriteFile(rootFile, pebble.ServerRootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(dataDir)
	}
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	httpsAddr := make(chan string, 1)
	s := startServer(t, dataDir, fake, "", func(c *server.Config) {
		c.Domain, c.PublicIP = "paas.test", "127.0.0.1"
		c.HTTPAddr, c.DNSAddr = fmt.Sprintf("127.0.0.1:%d", httpPort), dnsAddr
		c.ACMECA, c.ACMERoot, c.ACMEEmail = pebble.Directory, rootFile, "ops@paas.test"
		c.HTTPSReady = func(a string) { httpsAddr <- a }
		c.ACMEHandshakeWait = 15 * time.Second
	})
	return &acmeServer{testServer: s, pebble: pebble, https: loopback(<-httpsAddr)}
}

// handshake connects with SNI name and verifies the chain against roots.
func handshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Minute}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitCert waits until name is served a certificate Pebble issued.
func (a *acmeServer) waitCert(t *testing.T, name string, within time.Duration) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		cert, err := handshake(a.https, name, a.pebble.IssuerRoots)
		if err == nil {
			return cert
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got a certificate from Pebble: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitA waits until the platform's DNS answers name with ip.
func (a *acmeServer) awaitA(t *testing.T, name, ip string) {
	t.Helper()
	e := &dnsE2E{a.testServer}
	e.await(t, name, mdns.TypeA, ip, func(m *mdns.Msg) bool { return slices.Contains(answerA(m), ip) })
}

// TestACMEWithPebble: real issuance against Pebble. The platform zone's
// wildcard and apex come over DNS-01 answered by the platform's own DNS
// server, although a killed process left the wildcard's issuance locked;
// a custom domain gets its certificate over HTTP-01 at its first
// handshake; names the store does not know get no certificate and cause
// no order; a failed validation is recorded with its reason and not
// retried before its backoff; an app's name is obtained over HTTP-01 on
// request; every certificate is checked by a real handshake whose chain
// verifies against Pebble's root.
func TestACMEWithPebble(t *testing.T) {
	a := startACMEServer(t, t.TempDir(), func(dir string) {
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if ok, err := st.LockTLS("issue_cert_*.paas.test", "a-killed-process", 3*time.Second); !ok || err != nil {
			t.Fatalf("seed the stale lock: %v %v", ok, err)
		}
	})
	a.must(201, "POST", "/apps/admin/web", []byte(`{"name":"web"}`), nil)
	a.must(201, "POST", "/apps/admin/web/snapshots/v1", paastest.TarGz(t, map[string]string{
		"package.json": `{"name":"web","scripts":{"start":"node server.js"}}`, "server.js": "//"}), nil)
	a.must(200, "POST", "/apps/admin/web/start", nil, nil)

	// The wildcard and the apex, over DNS-01, in the background from the start.
	if cert := a.waitCert(t, "web.paas.test", 90*time.Second); !slices.Contains(cert.DNSNames, "*.paas.test") {
		t.Errorf("web.paas.test is served %v, want the zone wildcard", cert.DNSNames)
	}
	if cert := a.waitCert(t, "paas.test", 30*time.Second); !slices.Contains(cert.DNSNames, "paas.test") {
		t.Errorf("the apex is served %v", cert.DNSNames)
	}

	// A custom domain served by the platform's DNS: its first handshake
	// obtains its certificate, with exactly one order.
	a.mustJSON("POST", "/domains", map[string]any{"name": "shop.example"})
	a.mustJSON("POST", "/domains/shop.example/records", map[string]any{"data": map[string]any{"name": "", "type": "A", "value": "127.0.0.1"}})
	a.awaitA(t, "shop.example", "127.0.0.1")
	orders := a.pebble.Orders()
	cert, err := handshake(a.https, "shop.example", a.pebble.IssuerRoots)
	if err != nil {
		t.Fatalf("first handshake of shop.example: %v", err)
	}
	if !slices.Contains(cert.DNSNames, "shop.example") {
		t.Errorf("shop.example is served %v", cert.DNSNames)
	}
	if got := a.pebble.Orders() - orders; got != 1 {
		t.Errorf("shop.example took %d orders, want 1", got)
	}

	// Names the store does not know: no certificate, no order.
	orders = a.pebble.Orders()
	for _, name := range []string{"random.shop.example", "nobody.example", "ghost.paas.test"} {
		if _, err := handshake(a.https, name, nil); err == nil {
			t.Errorf("%s got a certificate", name)
		}
	}
	if got := a.pebble.Orders() - orders; got != 0 {
		t.Errorf("unknown names caused %d orders", got)
	}

	// A name whose validation fails (it resolves to an address nobody
	// answers on): the failure is recorded, visible in the certs API, and
	// the next handshake waits for the backoff instead of ordering again.
	a.mustJSON("POST", "/domains/shop.example/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "127.0.0.2"}})
	a.awaitA(t, "www.shop.example", "127.0.0.2")
	if _, err := handshake(a.https, "www.shop.example", a.pebble.IssuerRoots); err == nil {
		t.Fatal("www.shop.example got a certificate although its validation cannot succeed")
	}
	var failed struct{ Certs []map[string]any }
	a.must(200, "GET", "/now/certs/www.shop.example", nil, &failed)
	if len(failed.Certs) != 1 || failed.Certs[0]["error"] == nil || failed.Certs[0]["failures"] != 1.0 || failed.Certs[0]["retryAt"] == nil {
		t.Errorf("the failure is not visible: %v", failed.Certs)
	}
	orders = a.pebble.Orders()
	if _, err := handshake(a.https, "www.shop.example", a.pebble.IssuerRoots); err == nil {
		t.Error("www.shop.example got a certificate on the retry")
	}
	if got := a.pebble.Orders() - orders; got != 0 {
		t.Errorf("a handshake during the backoff ordered %d times", got)
	}
	// The other names are not held up by it.
	if _, err := handshake(a.https, "shop.example", a.pebble.IssuerRoots); err != nil {
		t.Errorf("shop.example after www's failure: %v", err)
	}

	// An app's own name over HTTP-01, on request (POST /now/certs).
	var created struct {
		UID       string `json:"uid"`
		CreatedAt string `json:"created_at"`
	}
	a.must(200, "POST", "/now/certs", []byte(`{"domains":["web.paas.test"]}`), &created)
	if created.UID == "" || created.CreatedAt == "" {
		t.Errorf("POST /now/certs answered %+v", created)
	}
	if cert := a.waitCert(t, "web.paas.test", 10*time.Second); !slices.Equal(cert.DNSNames, []string{"web.paas.test"}) {
		t.Errorf("web.paas.test is served %v after its own certificate was obtained", cert.DNSNames)
	}

	var list struct{ Certs []map[string]any }
	a.must(200, "GET", "/now/certs", nil, &list)
	got := map[string]bool{}
	for _, c := range list.Certs {
		got[c["cn"].(string)] = c["expiration"] != nil && c["autoRenew"] == true
	}
	for _, cn := range []string{"*.paas.test", "paas.test", "shop.example", "web.paas.test"} {
		if !got[cn] {
			t.Errorf("GET /now/certs lacks a current %s: %v", cn, list.Certs)
		}
	}
}
