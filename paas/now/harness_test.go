package now_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/julienschmidt/httprouter"
	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/now"
	"github.com/selfhost/paas/runtime"
)

const (
	platformDomain = "paas.test"
	adminPassword  = "adminpass123"
)

// harness is the now face over a real store in a temp dir, the fake
// runtime and a real HTTP server.
type harness struct {
	t      *testing.T
	p      *paas.Platform
	srv    *httptest.Server
	mailer *codeMailer
}

type harnessConfig struct {
	resolver string // paas.Config.Resolver
	opts     []now.Option
}

func newHarness(t *testing.T, hc harnessConfig) *harness {
	t.Helper()
	store, err := paas.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	m := &codeMailer{codes: map[string]string{}}
	p := paas.New(store, runtime.NewFake(), paas.Config{Domain: platformDomain, Mailer: m, Resolver: hc.resolver, PasswordCost: bcrypt.MinCost}, log)
	if _, err := p.EnsureAdmin(adminPassword); err != nil {
		t.Fatal(err)
	}
	r := httprouter.New()
	now.Routes(r, p, &api.Authenticator{Platform: p}, log, hc.opts...)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &harness{t: t, p: p, srv: srv, mailer: m}
}

// codeMailer keeps the invite codes sent, by user name.
type codeMailer struct {
	mu    sync.Mutex
	codes map[string]string
}

var inviteRE = regexp.MustCompile(`invite code for user (\S+) is: (\S+)`)

func (m *codeMailer) Send(to, subject, body string) error {
	if g := inviteRE.FindStringSubmatch(body); g != nil {
		m.mu.Lock()
		m.codes[g[1]] = g[2]
		m.mu.Unlock()
	}
	return nil
}

// user signs up and confirms name and returns an API token for it.
func (h *harness) user(name string) string {
	h.t.Helper()
	if _, err := h.p.SignUp(name, name+"@example.com", "password-"+name); err != nil {
		h.t.Fatal(err)
	}
	h.mailer.mu.Lock()
	code := h.mailer.codes[name]
	h.mailer.mu.Unlock()
	if _, err := h.p.Confirm(name, code, ""); err != nil {
		h.t.Fatal(err)
	}
	secret, _, err := h.p.Store.CreateToken(name, "test", false)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with a Bearer token ("" for none) and a JSON body
// (a string is sent as is, anything else marshalled; nil for none).
func (h *harness) do(token, method, path string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			h.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// must is do that fails the test unless the status is want.
func (h *harness) must(want int, token, method, path string, body any) response {
	h.t.Helper()
	r := h.do(token, method, path, body)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// wantError checks the now error shape: status, code and the help url.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.raw)
	}
	if e["code"] != code {
		t.Errorf("code %v, want %s: %s", e["code"], code, r.raw)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("empty message: %s", r.raw)
	}
	if e["url"] != now.ErrorURLBase+code {
		t.Errorf("url %v, want %s", e["url"], now.ErrorURLBase+code)
	}
}

// keys returns the sorted keys of a JSON object.
func keys(v any) string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}
