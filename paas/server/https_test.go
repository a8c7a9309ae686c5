package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
)

// TestHTTPSWithLocalCA: on the embedded defaults (no ACME CA), the HTTPS
// ingress serves every app with a certificate from the platform's local
// CA, whose root the API hands out; HTTP/2 is offered; a name the platform
// does not serve gets no certificate.
func TestHTTPSWithLocalCA(t *testing.T) {
	s, addr, roots := httpsServer(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := client.Get("https://web.localhost/")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && strings.HasPrefix(string(body), "admin/web v1") {
				if res.Proto != "HTTP/2.0" {
					t.Errorf("protocol %s, want HTTP/2", res.Proto)
				}
				if res.TLS == nil || len(res.TLS.VerifiedChains) == 0 {
					t.Error("the chain was not verified against the local root")
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://web.localhost never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The app opts in to the HTTPS redirect and HSTS (a PUT of its package.json).
	var app struct{ App map[string]any }
	s.must(200, "PUT", "/apps/admin/web", []byte(`{"redirectHttps":true,"hsts":true}`), &app)
	if app.App["redirectHttps"] != true || app.App["hsts"] != true {
		t.Fatalf("the app view lacks the opt-ins: %v", app.App)
	}
	_, httpsPort, _ := net.SplitHostPort(addr)
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline = time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+s.ingress+"/x?y=1", nil)
		req.Host = "web.localhost"
		res, err := noFollow.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusPermanentRedirect {
				if want := "https://web.localhost:" + httpsPort + "/x?y=1"; res.Header.Get("Location") != want {
					t.Errorf("redirect to %q, want %q", res.Header.Get("Location"), want)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("plain HTTP was never redirected: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := client.Get("https://web.localhost/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on the HTTPS answer of an app that opted in")
	}

	// A name nothing serves: no certificate is made for it.
	_, err = client.Get("https://random-name.localhost/")
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("an unknown name got through TLS: %v", err)
	}
}

// TestHTTPSServesCustomCertificate: a certificate a user uploads (PUT
// /now/certs) is what the handshake of its name gets, chain included;
// once deleted, the name falls back to the local CA.
func TestHTTPSServesCustomCertificate(t *testing.T) {
	s, addr, localRoots := httpsServer(t)
	s.mustJSON("POST", "/domains", map[string]any{"name": "shop.example"})
	ca := paastest.NewTestCA(t)
	cert, key := ca.Leaf(t, []string{"shop.example", "www.shop.example"}, time.Time{}, time.Time{})
	s.mustJSON("PUT", "/now/certs", map[string]any{"domains": []string{"shop.example", "www.shop.example"}, "cert": cert, "key": key, "ca": ca.PEM})
	for _, name := range []string{"shop.example", "www.shop.example"} {
		served, err := handshake(addr, name, ca.RootsOf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if served.SerialNumber.Cmp(mustParsePEM(t, cert).SerialNumber) != 0 {
			t.Errorf("%s is served serial %v, not the uploaded certificate", name, served.SerialNumber)
		}
	}
	s.must(200, "DELETE", "/now/certs/shop.example", nil, nil)
	if _, err := handshake(addr, "shop.example", ca.RootsOf); err == nil {
		t.Error("the deleted certificate is still served")
	}
	if _, err := handshake(addr, "shop.example", localRoots); err != nil {
		t.Errorf("after the deletion, the local CA's certificate: %v", err)
	}
}

func mustParsePEM(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpsServer starts a server on the fake runtime with its HTTPS ingress,
// starts the app web (web.localhost) and returns the server, the HTTPS
// address and the pool of the local CA's root, fetched from the API.
func httpsServer(t testing.TB) (*testServer, string, *x509.CertPool) {
	t.Helper()
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	httpsAddr := make(chan string, 1)
	s := startServer(t, t.TempDir(), fake, "", func(c *server.Config) {
		c.DNSAddr = ""
		c.HTTPSReady = func(a string) { httpsAddr <- a }
	})
	addr := loopback(<-httpsAddr)
	s.must(201, "POST", "/apps/admin/web", []byte(`{"name":"web"}`), nil)
	s.must(201, "POST", "/apps/admin/web/snapshots/v1", paastest.TarGz(t, map[string]string{
		"package.json": `{"name":"web","scripts":{"start":"node server.js"}}`, "server.js": "//"}), nil)
	s.must(200, "POST", "/apps/admin/web/start", nil, nil)
	res, err := http.Get("http://" + s.api + "/admin/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	roots := x509.NewCertPool()
	if res.StatusCode != 200 || !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("GET /admin/ca.pem: %d %q", res.StatusCode, rootPEM)
	}
	return s, addr, roots
}
