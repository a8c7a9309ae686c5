package now_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas/paastest"
)

var confirmLinkRE = regexp.MustCompile(`/now/registration/confirm\?(\S+)`)

// confirmQuery is the query of the confirmation link mailed to email.
func confirmQuery(t *testing.T, tp *paastest.Platform, email string) url.Values {
	t.Helper()
	m := confirmLinkRE.FindStringSubmatch(tp.Mail.Last(t, email).Body)
	if m == nil {
		t.Fatalf("no confirmation link in %q", tp.Mail.Last(t, email).Body)
	}
	q, err := url.ParseQuery(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRegistration: the now CLI's login by email. The CLI gets a token to
// poll with and a security code the mail shows too; polling before the
// mail's link is followed is refused; after it, the poll gets an API token
// once, which works; an unknown email gets a new account the same way.
func TestRegistration(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	tp := h.tp
	alice := h.account("alice")
	email := "alice@example.com"
	if u, err := tp.Store.User(alice.Name); err != nil || u.Email != email {
		t.Fatalf("alice: %+v %v", u, err)
	}
	for _, who := range []string{email, "newcomer@example.org"} {
		r := tp.Do(t, "POST", "/now/registration", nil, map[string]string{"email": who, "tokenName": "Now CLI 3.1"})
		reg := decodeRaw(t, r.Status, r.Header, r.Body)
		token, _ := reg.body["token"].(string)
		code, _ := reg.body["securityCode"].(string)
		if r.Status != 200 || token == "" || code == "" {
			t.Fatalf("%s: POST /now/registration: %d %s", who, r.Status, r.Body)
		}
		if mail := tp.Mail.Last(t, who); !strings.Contains(mail.Subject+mail.Body, code) {
			t.Errorf("the mail does not show the security code %s: %+v", code, mail)
		}
		verify := "/now/registration/verify?" + url.Values{"email": {who}, "token": {token}}.Encode()
		if r := tp.Do(t, "GET", verify, nil, nil); r.Status != 400 || !strings.Contains(string(r.Body), "registration_not_verified") {
			t.Errorf("%s: verify before the confirmation: %d %s", who, r.Status, r.Body)
		}
		q := confirmQuery(t, tp, who)
		wrong := url.Values{"email": {who}, "code": {"nope"}}
		if r := tp.Do(t, "GET", "/now/registration/confirm?"+wrong.Encode(), nil, nil); r.Status != 400 {
			t.Errorf("%s: a wrong code: %d %s", who, r.Status, r.Body)
		}
		if r := tp.Do(t, "GET", "/now/registration/confirm?"+q.Encode(), nil, nil); r.Status != 200 {
			t.Fatalf("%s: confirm: %d %s", who, r.Status, r.Body)
		}
		r = tp.Do(t, "GET", verify, nil, nil)
		apiToken, _ := decodeRaw(t, r.Status, r.Header, r.Body).body["token"].(string)
		if r.Status != 200 || apiToken == "" {
			t.Fatalf("%s: verify: %d %s", who, r.Status, r.Body)
		}
		bearer := func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+apiToken) }
		if r := tp.Do(t, "GET", "/now/deployments", bearer, nil); r.Status != 200 {
			t.Errorf("%s: the token: %d %s", who, r.Status, r.Body)
		}
		if r := tp.Do(t, "GET", verify, nil, nil); r.Status != 404 {
			t.Errorf("%s: a second verify: %d %s, want 404 (handed out once)", who, r.Status, r.Body)
		}
	}
	if u, err := tp.Store.UserByEmail("newcomer@example.org"); err != nil || !u.Confirmed || u.Name != "newcomer" {
		t.Errorf("the newcomer's account: %+v %v", u, err)
	}
}
