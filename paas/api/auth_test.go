package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/paastest"
)

// TestAuthLockout: failed passwords lock out that user from that address
// only; other users behind the address, and valid tokens, get through.
func TestAuthLockout(t *testing.T) {
	tp := paastest.NewPlatform(t)
	alice, bob, carol := tp.NewUser(t, "alice"), tp.NewUser(t, "bob"), tp.NewUser(t, "carol")
	auth := api.NewAuthenticator(tp.Platform)
	from := func(addr string, c paastest.Cred) (*paas.Principal, int) {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.RemoteAddr = addr + ":1234"
		c(r)
		p, err := auth.Principal(r)
		if err != nil {
			s, _, _ := paas.ErrorStatus(err)
			return nil, s
		}
		return p, http.StatusOK
	}
	for i := range 20 {
		if _, s := from("10.0.0.1", paastest.BasicCred("alice", "wrong")); s != http.StatusUnauthorized {
			t.Fatalf("bad password %d: %d", i, s)
		}
	}
	steps := []struct {
		what string
		addr string
		cred paastest.Cred
		want int
	}{
		{"alice's right password, from the address that failed", "10.0.0.1", alice.Basic(), http.StatusTooManyRequests},
		{"alice from another address", "10.0.0.2", alice.Basic(), http.StatusOK},
		{"bob behind the same address", "10.0.0.1", bob.Basic(), http.StatusOK},
		{"alice's token from the address that failed", "10.0.0.1", alice.Bearer(), http.StatusOK},
	}
	for _, s := range steps {
		if _, got := from(s.addr, s.cred); got != s.want {
			t.Errorf("%s: %d, want %d", s.what, got, s.want)
		}
	}
	for range 20 {
		from("10.0.0.3", paastest.BearerCred("paas_not-a-token"))
	}
	if _, got := from("10.0.0.3", paastest.BearerCred("paas_not-a-token")); got != http.StatusTooManyRequests {
		t.Errorf("token scan past the limit: %d, want 429", got)
	}
	if _, got := from("10.0.0.3", carol.Bearer()); got != http.StatusOK {
		t.Errorf("a valid token behind a scanning address: %d, want 200", got)
	}
}
