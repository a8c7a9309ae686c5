package now_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// TestPutCertRefusesBadCertificates: every way a user-supplied
// certificate can be wrong answers 400 bad_request in the document's error
// shape with the reason, and stores nothing; someone else's name is 404,
// like a name nobody has.
func TestPutCertRefusesBadCertificates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice := h.account("alice")
	const domain = "shop.example.org"
	fixtures(t, h.tp, h.tp.Principal(t, alice), alice.Name, domain)
	bob := h.account("bob")
	ca := paastest.NewTestCA(t)
	cert, key := ca.Leaf(t, []string{domain}, time.Time{}, time.Time{})
	_, otherKey := ca.Leaf(t, []string{domain}, time.Time{}, time.Time{})
	expired, expiredKey := ca.Leaf(t, []string{domain}, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	future, futureKey := ca.Leaf(t, []string{domain}, time.Now().Add(time.Hour), time.Now().Add(48*time.Hour))
	otherCA := paastest.NewTestCA(t)
	garbled := "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

	for _, tc := range []struct {
		name, token string
		body        map[string]any
		status      int
		reason      string
	}{
		{"cert not PEM", alice.Token, map[string]any{"domains": []string{domain}, "cert": "hello", "key": key}, 400, "cert: not PEM"},
		{"cert missing", alice.Token, map[string]any{"domains": []string{domain}, "key": key}, 400, "no PEM CERTIFICATE"},
		{"cert garbled", alice.Token, map[string]any{"domains": []string{domain}, "cert": garbled, "key": key}, 400, "does not parse"},
		{"key not PEM", alice.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": "secret"}, 400, "key: no PEM private key"},
		{"key of another certificate", alice.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": otherKey}, 400, "key:"},
		{"chain does not parse", alice.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": key, "ca": garbled}, 400, "ca: certificate 1 does not parse"},
		{"chain of another CA", alice.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": key, "ca": otherCA.PEM}, 400, "not signed by the next"},
		{"chain holds a key", alice.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": key, "ca": key}, 400, "where a CERTIFICATE was expected"},
		{"name not covered", alice.Token, map[string]any{"domains": []string{"www." + domain}, "cert": cert, "key": key}, 400, `does not cover "www.shop.example.org"`},
		{"expired", alice.Token, map[string]any{"domains": []string{domain}, "cert": expired, "key": expiredKey}, 400, "expired on"},
		{"not yet valid", alice.Token, map[string]any{"domains": []string{domain}, "cert": future, "key": futureKey}, 400, "not valid before"},
		{"no domains", alice.Token, map[string]any{"cert": cert, "key": key}, 400, "at least one name"},
		{"unknown name", alice.Token, map[string]any{"domains": []string{"nobody.example.net"}, "cert": cert, "key": key}, 404, "not a name of yours"},
		{"someone else's name", bob.Token, map[string]any{"domains": []string{domain}, "cert": cert, "key": key}, 404, "not a name of yours"},
		{"not JSON", alice.Token, nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, bobBefore := h.tp.Digest(t, alice.Name), h.tp.Digest(t, bob.Name)
			var body any = tc.body
			if tc.body == nil {
				body = "{not json"
			}
			r := h.do(tc.token, "PUT", "/now/certs", body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			checkErrorShape(t, r)
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.reason) {
				t.Errorf("message %q lacks %q", msg, tc.reason)
			}
			if after := h.tp.Digest(t, alice.Name); after != before {
				t.Errorf("a refused certificate changed alice's data:\n%s\n%s", before, after)
			}
			if after := h.tp.Digest(t, bob.Name); after != bobBefore {
				t.Errorf("a refused certificate changed bob's data")
			}
		})
	}

	// The good one is stored, replaces the fixture's, and is listed with
	// its names, then deleted.
	h.must(http.StatusOK, alice.Token, "PUT", "/now/certs", map[string]any{"domains": []string{domain}, "cert": cert, "key": key, "ca": ca.PEM})
	got := h.must(http.StatusOK, alice.Token, "GET", "/now/certs/"+domain, nil)
	c := got.body["certs"].([]any)[0].(map[string]any)
	if c["custom"] != true || c["autoRenew"] != false || !isoRE.MatchString(c["expiration"].(string)) {
		t.Errorf("certificate view: %s", got.raw)
	}
	if list := h.must(http.StatusOK, bob.Token, "GET", "/now/certs", nil); len(list.body["certs"].([]any)) != 0 {
		t.Errorf("bob sees alice's certificates: %s", list.raw)
	}
	h.must(http.StatusNotFound, bob.Token, "DELETE", "/now/certs/"+domain, nil)
	h.must(http.StatusOK, alice.Token, "DELETE", "/now/certs/"+domain, nil)
	if _, err := h.tp.Cert(context.Background(), h.tp.Principal(t, alice), alice.Name, domain); !paas.IsNotFound(err) {
		t.Errorf("after DELETE: %v", err)
	}
}
