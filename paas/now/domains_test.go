package now_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/selfhost/paas/dns"
	"github.com/selfhost/paas/paas/now"
	"github.com/selfhost/paas/paas/paastest"
)

var (
	uidRE     = regexp.MustCompile(`^dom_[0-9A-Za-z]{24}$`)
	isoRE     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	tokenRE   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	recIDRE   = regexp.MustCompile(`^rec_[0-9A-Za-z]{24}$`)
	msEpochRE = regexp.MustCompile(`^\d{13}$`)
)

func TestDomainLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")

	empty := h.must(http.StatusOK, tok, "GET", "/domains", nil)
	if string(empty.raw) != "{\"domains\":[]}\n" {
		t.Fatalf("empty list: %s", empty.raw)
	}

	created := h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "Example.ORG.", "isExternal": false})
	if got := keys(created.body); got != "created,uid,verified" {
		t.Fatalf("POST /domains keys %s: %s", got, created.raw)
	}
	uid, _ := created.body["uid"].(string)
	if !uidRE.MatchString(uid) || created.body["verified"] != true || !isoRE.MatchString(created.body["created"].(string)) {
		t.Fatalf("POST /domains: %s", created.raw)
	}

	// The same POST again is the document's retry: same domain, still 200.
	again := h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "example.org", "isExternal": false})
	if again.body["uid"] != uid || again.body["created"] != created.body["created"] {
		t.Fatalf("retry gave another domain: %s vs %s", again.raw, created.raw)
	}

	list := h.must(http.StatusOK, tok, "GET", "/domains", nil)
	domains, _ := list.body["domains"].([]any)
	if len(domains) != 1 {
		t.Fatalf("GET /domains: %s", list.raw)
	}
	d := domains[0].(map[string]any)
	if got := keys(d); got != "aliases,created,isExternal,name,uid,verified" {
		t.Fatalf("domain keys %s", got)
	}
	if d["uid"] != uid || d["name"] != "example.org" || d["isExternal"] != false || d["verified"] != true ||
		d["created"] != created.body["created"] {
		t.Fatalf("domain: %s", list.raw)
	}
	if a, ok := d["aliases"].([]any); !ok || len(a) != 0 {
		t.Fatalf("aliases: %s", list.raw)
	}

	del := h.must(http.StatusOK, tok, "DELETE", "/domains/example.org", nil)
	if keys(del.body) != "uid" || del.body["uid"] != uid {
		t.Fatalf("DELETE: %s", del.raw)
	}
	wantError(t, h.do(tok, "DELETE", "/domains/example.org", nil), http.StatusNotFound, "not_found")
	h.must(http.StatusOK, tok, "GET", "/domains", nil)
}

func TestDomainNameValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	for _, tc := range []struct {
		name string
		body any
	}{
		{"missing name", map[string]any{"isExternal": false}},
		{"single label", map[string]any{"name": "localdomain"}},
		{"platform domain", map[string]any{"name": platformDomain}},
		{"under the platform domain", map[string]any{"name": "app." + platformDomain}},
		{"bad character", map[string]any{"name": "exa_mple.org"}},
		{"leading hyphen", map[string]any{"name": "-example.org"}},
		{"empty label", map[string]any{"name": "example..org"}},
		{"isExternal not a boolean", `{"name":"example.org","isExternal":"yes"}`},
		{"not JSON", `{"name":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.do(tok, "POST", "/domains", tc.body), http.StatusBadRequest, "bad_request")
		})
	}
	if r := h.must(http.StatusOK, tok, "GET", "/domains", nil); len(r.body["domains"].([]any)) != 0 {
		t.Fatalf("a rejected domain was stored: %s", r.raw)
	}
}

func TestDomainTakenByAnotherUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice, bob := h.user("alice"), h.user("bob")
	h.must(http.StatusOK, alice, "POST", "/domains", map[string]any{"name": "example.org"})
	for _, tc := range []struct{ name, domain string }{
		{"same name", "example.org"},
		{"same name, external", "example.org"},
		{"under it", "www.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.do(bob, "POST", "/domains", map[string]any{"name": tc.domain}), http.StatusConflict, "conflict")
		})
	}
	// Above it is refused too: bob's zone would contain alice's.
	h.must(http.StatusOK, bob, "POST", "/domains", map[string]any{"name": "other.net"})
	h.must(http.StatusOK, alice, "POST", "/domains", map[string]any{"name": "a.b.example.com"})
	wantError(t, h.do(bob, "POST", "/domains", map[string]any{"name": "example.com"}), http.StatusConflict, "conflict")
	// Changing isExternal of one's own domain is a conflict, not a silent switch.
	wantError(t, h.do(alice, "POST", "/domains", map[string]any{"name": "example.org", "isExternal": true}), http.StatusConflict, "conflict")
}

// TestOtherUsersDomainIsNotFound: every route answers 404 for a domain
// someone else owns, exactly as for one nobody owns.
func TestOtherUsersDomainIsNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice, bob := h.user("alice"), h.user("bob")
	h.must(http.StatusOK, alice, "POST", "/domains", map[string]any{"name": "example.org"})
	rec := h.must(http.StatusOK, alice, "POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "192.0.2.1"}})
	recID := rec.body["uid"].(string)

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/domains/example.org/records", nil},
		{"POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "x", "type": "A", "value": "192.0.2.2"}}},
		{"DELETE", "/domains/example.org/records/" + recID, nil},
		{"DELETE", "/domains/example.org", nil},
		{"GET", "/domains/nobody.org/records", nil},
		{"DELETE", "/domains/nobody.org", nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			wantError(t, h.do(bob, tc.method, tc.path, tc.body), http.StatusNotFound, "not_found")
		})
	}
	if r := h.must(http.StatusOK, bob, "GET", "/domains", nil); len(r.body["domains"].([]any)) != 0 {
		t.Fatalf("bob sees alice's domain: %s", r.raw)
	}
	if r := h.must(http.StatusOK, alice, "GET", "/domains/example.org/records", nil); len(r.body["records"].([]any)) != 1 {
		t.Fatalf("bob changed alice's records: %s", r.raw)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	h.user("alice")
	routes := []struct{ method, path string }{
		{"GET", "/domains"},
		{"POST", "/domains"},
		{"DELETE", "/domains/example.org"},
		{"GET", "/domains/example.org/records"},
		{"POST", "/domains/example.org/records"},
		{"DELETE", "/domains/example.org/records/rec_x"},
	}
	for _, cred := range []struct{ name, header string }{
		{"none", ""},
		{"unknown token", "Bearer paas_unknown0000000000000000000000000000"},
		{"garbage bearer", "Bearer nonsense"},
		{"wrong password", "Basic YWxpY2U6d3Jvbmc="}, // alice:wrong
		{"unknown scheme", "Digest abc"},
	} {
		for _, rt := range routes {
			t.Run(cred.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, h.tp.URL()+rt.path, nil)
				if cred.header != "" {
					req.Header.Set("Authorization", cred.header)
				}
				resp, err := h.tp.Server.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r := decode(t, resp)
				wantError(t, r, http.StatusForbidden, "authentication_error")
				if r.header.Get("X-Rate-Limit-Limit") == "" {
					t.Error("no rate-limit headers on an authentication failure")
				}
			})
		}
	}
}

func TestBasicAuthWorksToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	req, _ := http.NewRequest("GET", h.tp.URL()+"/domains", nil)
	req.SetBasicAuth("admin", paastest.AdminPassword)
	resp, err := h.tp.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, resp); r.status != http.StatusOK {
		t.Fatalf("Basic auth: %d %s", r.status, r.raw)
	}
}

func TestTeamIDIsNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/domains?teamId=team_123"},
		{"POST", "/domains?teamId=team_123"},
		{"GET", "/domains/example.org/records?teamId=team_123"},
	} {
		r := h.do(tok, rt.method, rt.path, map[string]any{"name": "example.org"})
		wantError(t, r, http.StatusNotFound, "not_found")
		if msg := r.body["error"].(map[string]any)["message"]; msg != `team "team_123" not found` {
			t.Errorf("message %q", msg)
		}
	}
	if r := h.must(http.StatusOK, tok, "GET", "/domains", nil); len(r.body["domains"].([]any)) != 0 {
		t.Fatalf("a team POST created a domain: %s", r.raw)
	}
}

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestRateLimit: each key (a principal, or the client address when
// authentication fails) has its own window, starting at its first request;
// X-Rate-Limit-Reset is the end of that window.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 5, 1, 12, 0, 10, 0, time.UTC)
	clock := &fakeClock{t: start}
	h := newHarness(t, harnessConfig{opts: []now.Option{now.WithRateLimit(3, time.Minute), now.WithClock(clock.now)}})
	alice, bob := h.user("alice"), h.user("bob")
	unix := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	reset := unix(start.Add(time.Minute)) // alice's window: her first request + 1 minute

	for i, wantRemaining := range []string{"2", "1", "0"} {
		if i > 0 {
			clock.t = clock.t.Add(time.Second) // later requests do not move the window
		}
		r := h.must(http.StatusOK, alice, "GET", "/domains", nil)
		if got := r.header.Get("X-Rate-Limit-Remaining"); got != wantRemaining {
			t.Errorf("request %d: remaining %s, want %s", i+1, got, wantRemaining)
		}
		if r.header.Get("X-Rate-Limit-Limit") != "3" || r.header.Get("X-Rate-Limit-Reset") != reset {
			t.Errorf("request %d: headers %v, want reset %s", i+1, r.header, reset)
		}
	}
	// 12:00:12: 58 seconds left in alice's window.
	r := h.do(alice, "GET", "/domains", nil)
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("X-Rate-Limit-Remaining") != "0" || r.header.Get("X-Rate-Limit-Reset") != reset || r.header.Get("Retry-After") != "58" {
		t.Errorf("429 headers %v", r.header)
	}
	// A limited request changes nothing.
	wantError(t, h.do(alice, "POST", "/domains", map[string]any{"name": "example.org"}), http.StatusTooManyRequests, "rate_limited")

	// The limit is per principal, and bob's window starts at his own first
	// request, 30 seconds after alice's.
	clock.t = start.Add(30 * time.Second)
	r = h.must(http.StatusOK, bob, "GET", "/domains", nil)
	if r.header.Get("X-Rate-Limit-Remaining") != "2" || r.header.Get("X-Rate-Limit-Reset") != unix(clock.t.Add(time.Minute)) {
		t.Errorf("bob's first request: headers %v", r.header)
	}

	// Unauthenticated requests count per client address.
	for range 3 {
		wantError(t, h.do("", "GET", "/domains", nil), http.StatusForbidden, "authentication_error")
	}
	wantError(t, h.do("", "GET", "/domains", nil), http.StatusTooManyRequests, "rate_limited")

	// A second before alice's window ends she is still limited ...
	clock.t = start.Add(time.Minute - time.Second)
	r = h.do(alice, "GET", "/domains", nil)
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q a second before the reset, want 1", r.header.Get("Retry-After"))
	}
	// ... and at its end a new window starts, at that request.
	clock.t = start.Add(time.Minute)
	r = h.must(http.StatusOK, alice, "GET", "/domains", nil)
	if r.header.Get("X-Rate-Limit-Remaining") != "2" || r.header.Get("X-Rate-Limit-Reset") != unix(clock.t.Add(time.Minute)) ||
		len(r.body["domains"].([]any)) != 0 {
		t.Errorf("new window: %v %s", r.header, r.raw)
	}
	// Bob's window is still the one that started at his first request.
	r = h.must(http.StatusOK, bob, "GET", "/domains", nil)
	if r.header.Get("X-Rate-Limit-Remaining") != "1" || r.header.Get("X-Rate-Limit-Reset") != unix(start.Add(30*time.Second+time.Minute)) {
		t.Errorf("bob's second request: headers %v", r.header)
	}
}

// TestExternalDomainVerification runs the document's flow against a real
// DNS server standing in for the resolver: register, get a token, publish
// it at _now.<domain>, retry the same POST.
func TestExternalDomainVerification(t *testing.T) {
	t.Parallel()
	resolver := dns.NewServer(dns.Config{Addr: "127.0.0.1:0"})
	zone := dns.Zone{Origin: "awesome-now.us", Serial: 1, Records: []dns.Record{{Name: "", Type: "A", Value: "192.0.2.10"}}}
	if err := resolver.SetZones([]dns.Zone{zone}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- resolver.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-resolver.Ready():
	case err := <-done:
		t.Fatal(err)
	}

	h := newHarness(t, harnessConfig{resolver: resolver.UDPAddr().String()})
	tok := h.user("alice")
	body := map[string]any{"name": "awesome-now.us", "isExternal": true}

	first := h.must(http.StatusOK, tok, "POST", "/domains", body)
	if got := keys(first.body); got != "created,uid,verified,verifyToken" {
		t.Fatalf("keys %s: %s", got, first.raw)
	}
	token, _ := first.body["verifyToken"].(string)
	if first.body["verified"] != false || !tokenRE.MatchString(token) {
		t.Fatalf("first POST: %s", first.raw)
	}

	// No TXT record yet, then a wrong one: still unverified, same token.
	for _, txt := range []string{"", "not-the-token"} {
		if txt != "" {
			zone.Records = append(zone.Records, dns.Record{Name: "_now", Type: "TXT", Value: txt})
			if err := resolver.SetZones([]dns.Zone{zone}); err != nil {
				t.Fatal(err)
			}
		}
		r := h.must(http.StatusOK, tok, "POST", "/domains", body)
		if r.body["verified"] != false || r.body["verifyToken"] != token || r.body["uid"] != first.body["uid"] {
			t.Fatalf("retry with TXT %q: %s", txt, r.raw)
		}
	}

	zone.Records = append(zone.Records, dns.Record{Name: "_now", Type: "TXT", Value: token})
	if err := resolver.SetZones([]dns.Zone{zone}); err != nil {
		t.Fatal(err)
	}
	ok := h.must(http.StatusOK, tok, "POST", "/domains", body)
	if got := keys(ok.body); got != "created,uid,verified" || ok.body["verified"] != true || ok.body["uid"] != first.body["uid"] {
		t.Fatalf("verified retry: %s", ok.raw)
	}
	list := h.must(http.StatusOK, tok, "GET", "/domains", nil)
	d := list.body["domains"].([]any)[0].(map[string]any)
	if d["verified"] != true || d["isExternal"] != true {
		t.Fatalf("GET /domains after verification: %s", list.raw)
	}

	// External domains keep their DNS elsewhere: this server does not serve them.
	zones, err := h.tp.Zones()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		if z.Origin == "awesome-now.us" {
			t.Fatal("an external domain is served")
		}
	}
}

// TestDeletedUsersDomainsAreFreed: deleting an account deletes its domains
// and records with it, so the names stop being served and another user can
// register them.
func TestDeletedUsersDomainsAreFreed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice, bob := h.user("alice"), h.user("bob")
	h.must(http.StatusOK, alice, "POST", "/domains", map[string]any{"name": "example.org"})
	h.must(http.StatusOK, alice, "POST", "/domains/example.org/records", map[string]any{"name": "www", "type": "A", "value": "192.0.2.1"})
	if err := h.tp.DeleteUser(context.Background(), h.tp.AdminPrincipal(t), "alice"); err != nil {
		t.Fatal(err)
	}
	zones, err := h.tp.Zones()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		if z.Origin == "example.org" {
			t.Fatalf("the deleted user's zone is still served: %+v", z)
		}
	}
	h.must(http.StatusOK, bob, "POST", "/domains", map[string]any{"name": "example.org"})
	if recs := h.must(http.StatusOK, bob, "GET", "/domains/example.org/records", nil).body["records"].([]any); len(recs) != 0 {
		t.Errorf("the new owner inherited records: %v", recs)
	}
}

// TestSquattedDomainStaysPending: a domain outside the platform zone is a
// user's only with proof; an unproven claim is pending, not served, carries
// no records, and blocks nobody else's claim; an admin's is proven at once.
func TestSquattedDomainStaysPending(t *testing.T) {
	t.Parallel()
	// A resolver that knows nothing: no TXT, no delegation.
	nowhere := dns.NewServer(dns.Config{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nowhere.ListenAndServe(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-nowhere.Ready()
	h := newHarness(t, harnessConfig{resolver: nowhere.UDPAddr().String()})
	mallory, bob := h.user("mallory"), h.user("bob")
	for _, tok := range []string{mallory, bob} {
		r := h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "google.com"})
		if r.body["verified"] != false || r.body["verifyToken"] == nil {
			t.Fatalf("an unproven claim: %s", r.raw)
		}
	}
	wantError(t, h.do(mallory, "POST", "/domains/google.com/records", map[string]any{"name": "www", "type": "A", "value": "192.0.2.66"}), http.StatusConflict, "conflict")
	zones, err := h.tp.Zones()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		if z.Origin == "google.com" {
			t.Fatal("the platform answers for an unproven claim")
		}
	}
	adminToken, _, err := h.tp.Store.CreateToken("admin", "tok", false)
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"name": "google.com"}
	if res := h.must(http.StatusOK, adminToken, "POST", "/domains", req); res.body["verified"] != true {
		t.Fatalf("an admin's registration: %s", res.raw)
	}
	// The admin's proven domain ends the pending claims.
	list := h.must(http.StatusOK, mallory, "GET", "/domains", nil)
	if ds, _ := list.body["domains"].([]any); len(ds) != 0 {
		t.Errorf("mallory's claim survived: %s", list.raw)
	}
	wantError(t, h.do(bob, "POST", "/domains", req), http.StatusConflict, "conflict")
}
