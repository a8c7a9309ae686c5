package nodejitsu_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
)

// adminPassword is the password EnsureAdmin gets in every harness.
const adminPassword = "adminpass123"

// harness is one complete Nodejitsu face over a real store in a temp dir, the
// fake runtime and a real HTTP server.
type harness struct {
	dir   string
	store *paas.Store
	fake  *runtime.Fake
	p     *paas.Platform
	srv   *httptest.Server
	mail  *recordingMailer
	log   *lockedBuffer
	admin account

	closeOnce sync.Once
	seq       atomic.Int64
}

// tag returns a name part unique within the harness.
func (h *harness) tag() string { return fmt.Sprintf("x%d", h.seq.Add(1)) }

// newHarness builds a harness; opts may adjust the platform config.
func newHarness(t *testing.T, opts ...func(*paas.Config)) *harness {
	t.Helper()
	h := &harness{dir: t.TempDir(), mail: &recordingMailer{}, log: &lockedBuffer{}}
	store, err := paas.OpenStore(h.dir)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	h.store = store
	h.fake = runtime.NewFake()
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := paas.Config{Domain: "localhost", BaseImage: "test", HealthTimeout: 5 * time.Second, Mailer: h.mail, PasswordCost: bcrypt.MinCost}
	for _, o := range opts {
		o(&cfg)
	}
	h.p = paas.New(store, h.fake, cfg, logger)
	// The production handler, so the router's own answers (404, 405,
	// redirects) are tested as clients get them.
	h.srv = httptest.NewServer(server.NewHandler(h.p, logger))
	t.Cleanup(func() {
		h.close()
		if t.Failed() && h.log.Len() > 0 {
			t.Logf("server log:\n%s", h.log.String())
		}
	})
	if _, err := h.p.EnsureAdmin(adminPassword); err != nil {
		t.Fatalf("EnsureAdmin: %v", err)
	}
	h.admin = account{name: "admin", password: adminPassword}
	return h
}

// close shuts everything down: the server, every app's units (which ends log
// capture), the fake engine and the store. It is safe to call twice.
func (h *harness) close() {
	h.closeOnce.Do(func() {
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if apps, err := h.store.AllApps(); err == nil {
			for _, a := range apps {
				_ = h.p.Deployer.Remove(ctx, a.Key())
			}
		}
		h.fake.Close()
		h.store.Close()
	})
}

// recordingMailer keeps every message so tests can read invite and reset codes.
type recordingMailer struct {
	mu   sync.Mutex
	msgs []mailMsg
}

type mailMsg struct{ to, subject, body string }

func (m *recordingMailer) Send(to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, mailMsg{to, subject, body})
	return nil
}

var codeRE = regexp.MustCompile(`is: (\S+)`)

// lastCode returns the code in the newest message sent to `to`.
func (m *recordingMailer) lastCode(t *testing.T, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].to == to {
			if sm := codeRE.FindStringSubmatch(m.msgs[i].body); sm != nil {
				return sm[1]
			}
			t.Fatalf("message to %s has no code: %q", to, m.msgs[i].body)
		}
	}
	t.Fatalf("no message was sent to %s", to)
	return ""
}

func (m *recordingMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// account is a user with the credentials a caller may use.
type account struct {
	name, password, token string
}

// cred sets credentials on a request; nil is an anonymous caller.
type cred func(r *http.Request)

func basicCred(user, secret string) cred {
	return func(r *http.Request) { r.SetBasicAuth(user, secret) }
}

func bearerCred(tok string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func (a account) basic() cred      { return basicCred(a.name, a.password) }
func (a account) tokenBasic() cred { return basicCred(a.name, a.token) }
func (a account) bearer() cred     { return bearerCred(a.token) }
func (a account) email() string    { return a.name + "@example.com" }

// newUser stores a confirmed user (the sign-up and confirmation flows have
// their own tests; a cheap bcrypt cost keeps the many fixtures fast under
// -race) and gives it an API token with id "tok".
func (h *harness) newUser(t *testing.T, name string) account {
	t.Helper()
	a := account{name: name, password: "pw-" + name + "-secret"}
	hash, err := bcrypt.GenerateFromPassword([]byte(a.password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateUser(paas.User{Name: name, Email: a.email(), PasswordHash: hash, Confirmed: true}); err != nil {
		t.Fatalf("CreateUser %s: %v", name, err)
	}
	tok, _, err := h.store.CreateToken(name, "tok", false)
	if err != nil {
		t.Fatalf("CreateToken %s: %v", name, err)
	}
	a.token = tok
	return a
}

// resp is a response read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// arr decodes the body as a JSON array.
func (r resp) arr(t *testing.T) []any {
	t.Helper()
	var v []any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not a JSON array: %v: %s", err, r.body)
	}
	return v
}

// errMessage returns the error message of an error response.
func (r resp) errMessage(t *testing.T) string {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body: %v: %s", err, r.body)
	}
	return e.Error.Message
}

// do sends a request. body: nil (no body), []byte (raw, octet-stream), string
// (raw JSON text) or any other value (marshalled as JSON). Every response is
// checked for X-Powered-By and, when it is an error, for the error shape.
func (h *harness) do(t *testing.T, method, path string, c cred, body any) resp {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c != nil {
		c(req)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: data}
	checkCommon(t, method+" "+path, r)
	return r
}

// checkCommon asserts what every response of the face must have.
func checkCommon(t *testing.T, what string, r resp) {
	t.Helper()
	if got := r.header.Get("X-Powered-By"); got != "Nodejitsu" {
		t.Errorf("%s: X-Powered-By = %q, want Nodejitsu (status %d)", what, got, r.status)
	}
	if r.status >= 400 {
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: status %d without the error shape {\"error\":{\"code\",\"message\"}}: %s", what, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: error Content-Type = %q", what, ct)
		}
		if strings.Contains(string(r.body), "internal_error") {
			t.Errorf("%s: internal error: %s", what, r.body)
		}
	}
}

// want fails unless the response has the given status.
func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// tarEntry is one entry of a test archive.
// appTgz builds an npm-pack style archive: every file under "package/".
func appTgz(t *testing.T, files map[string]string) []byte { return paastest.TarGz(t, files) }

// helloFiles is a minimal app named name.
func helloFiles(name, version string) map[string]string {
	return map[string]string{
		"package.json": fmt.Sprintf(`{"name":%q,"version":%q,"scripts":{"start":"node server.js"}}`, name, version),
		"server.js":    "require('http').createServer((q, s) => s.end('hi " + version + "')).listen(process.env.PORT);\n",
		"lib/util.js":  "module.exports = " + fmt.Sprintf("%q", name+version) + ";\n",
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// createApp creates an app through the platform.
func (h *harness) createApp(t *testing.T, owner, name string) paas.App {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"subdomain":%q}`, name, paas.DefaultSubdomain(name)+"-"+owner)
	a, err := h.p.CreateApp(owner, name, []byte(body))
	if err != nil {
		t.Fatalf("CreateApp %s/%s: %v", owner, name, err)
	}
	return a
}

// uploadSnapshot stores a snapshot of the hello app through the platform.
func (h *harness) uploadSnapshot(t *testing.T, owner, app, id string) paas.Snapshot {
	t.Helper()
	sn, err := h.p.UploadSnapshot(owner, app, id, bytes.NewReader(appTgz(t, helloFiles(app, id))))
	if err != nil {
		t.Fatalf("UploadSnapshot %s/%s %s: %v", owner, app, id, err)
	}
	return sn
}

// path returns a nested value of a decoded JSON document, e.g. get(m, "app", "running", "filename").
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
