package nodejitsu_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/paastest"
)

// harness is the shared test platform (paastest) with what is particular
// to this face: every answer checked for what the Nodejitsu client needs,
// answers decoded as its document shapes them, and fixtures made through
// the service as the admin.
type harness struct {
	*paastest.Platform
	asAdmin *paas.Principal // the admin as a caller, for fixtures
	seq     atomic.Int64
}

// newHarness builds a test platform; cfg adjusts it.
func newHarness(t *testing.T, cfg ...paastest.Config) *harness {
	t.Helper()
	tp := paastest.NewPlatform(t, cfg...)
	return &harness{Platform: tp, asAdmin: tp.AdminPrincipal(t)}
}

// tag returns a name part unique within the harness.
func (h *harness) tag() string { return fmt.Sprintf("x%d", h.seq.Add(1)) }

// resp is an answer read in full, with the face's decoding helpers.
type resp paastest.Response

func (r resp) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// arr decodes the body as a JSON array.
func (r resp) arr(t *testing.T) []any {
	t.Helper()
	var v []any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not a JSON array: %v: %s", err, r.Body)
	}
	return v
}

// errMessage returns the error message of an error response.
func (r resp) errMessage(t *testing.T) string {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body: %v: %s", err, r.Body)
	}
	return e.Error.Message
}

// do sends a request (body as paastest.Platform.Do takes it) and checks
// the answer with checkCommon.
func (h *harness) do(t *testing.T, method, path string, c paastest.Cred, body any) resp {
	t.Helper()
	r := h.Do(t, method, path, c, body)
	checkCommon(t, method+" "+path, r)
	return resp(r)
}

// checkCommon asserts what every response of the face must have: the
// X-Powered-By header the client insists on and, for errors, the error
// shape as JSON, never an internal error.
func checkCommon(t *testing.T, what string, r paastest.Response) {
	t.Helper()
	if got := r.Header.Get("X-Powered-By"); got != "Nodejitsu" {
		t.Errorf("%s: X-Powered-By = %q, want Nodejitsu (status %d)", what, got, r.Status)
	}
	if r.Status >= 400 {
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: status %d without the error shape {\"error\":{\"code\",\"message\"}}: %s", what, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: error Content-Type = %q", what, ct)
		}
		if strings.Contains(string(r.Body), "internal_error") {
			t.Errorf("%s: internal error: %s", what, r.Body)
		}
	}
}

// want fails unless the response has the given status.
func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// get returns a nested value of a decoded JSON document, e.g.
// get(m, "app", "running", "filename").
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

// hasKey decodes an object and fails for each key it lacks.
func hasKey(t *testing.T, r resp, keys ...string) map[string]any {
	t.Helper()
	m := r.obj(t)
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("response has no %q: %s", k, r.Body)
		}
	}
	return m
}

// isList returns the list under key of an object answer.
func isList(t *testing.T, r resp, key string) []any {
	t.Helper()
	l, ok := r.obj(t)[key].([]any)
	if !ok {
		t.Fatalf("response %q is not a list: %s", key, r.Body)
	}
	return l
}

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

// appOf is the name of the app the fixtures give owner. App names are
// unique platform-wide, so each owner's is its own: alice's app1, bob's
// app2, and any other owner's (fresh users, teams) named after it.
func appOf(owner string) string {
	switch owner {
	case "alice":
		return "app1"
	case "bob":
		return "app2"
	}
	return owner
}

// createApp creates owner's (a user's or a team's) app through the service.
func (h *harness) createApp(t *testing.T, owner, name string) paas.App {
	t.Helper()
	a, err := h.CreateApp(t.Context(), h.asAdmin, owner, paas.AppSpec{Name: name})
	if err != nil {
		t.Fatalf("CreateApp %s/%s: %v", owner, name, err)
	}
	return a
}

// uploadSnapshot stores a snapshot of the hello app through the service.
func (h *harness) uploadSnapshot(t *testing.T, owner, app, id string) paas.Snapshot {
	t.Helper()
	sn, err := h.UploadSnapshot(t.Context(), h.asAdmin, owner, app, id, bytes.NewReader(appTgz(t, helloFiles(app, id))))
	if err != nil {
		t.Fatalf("UploadSnapshot %s/%s %s: %v", owner, app, id, err)
	}
	return sn
}

const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI test@example"

// ownerObjects gives owner (a user or a team) the app appOf(owner) with
// snapshot 0.0.1 (stopped), a database db1 and two log lines.
func (h *harness) ownerObjects(t *testing.T, owner string) {
	t.Helper()
	app := appOf(owner)
	h.createApp(t, owner, app)
	h.uploadSnapshot(t, owner, app, "0.0.1")
	if _, err := h.Store.CreateDatabase(paas.Database{Owner: owner, Name: "db1", Type: "redis", Status: paas.DatabaseStatusPending}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := h.Store.AppendLogs(owner+"/"+app, []paas.LogEntry{
		{Time: now.Add(-2 * time.Minute), Source: "app", Stream: "stdout", Text: "first"},
		{Time: now.Add(-time.Minute), Source: "app", Stream: "stderr", Text: "second"},
	}); err != nil {
		t.Fatal(err)
	}
}

// userObjects gives user its ownerObjects and the account's own: an SSH
// key k1 and a third-party token tp1.
func (h *harness) userObjects(t *testing.T, user string) {
	t.Helper()
	h.ownerObjects(t, user)
	if _, err := h.Store.PutSSHKey(user, paas.SSHKey{ID: "k1", Key: testSSHKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.PutThirdParty(user, paas.ThirdPartyToken{ID: "tp1", Provider: "github", Token: "ghp_fixture_" + user + "_0123456789"}); err != nil {
		t.Fatal(err)
	}
}
