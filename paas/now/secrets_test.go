package now_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSecrets: a secret's value is never shown; names are unique per
// owner; bad input is a 4xx in the document's error shape and changes
// nothing; each owner has its own namespace.
func TestSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	alice, bob := h.user("alice"), h.user("bob")
	created := h.must(http.StatusOK, alice, "POST", "/now/secrets", map[string]string{"name": "api-key", "value": "s3cr3t"})
	uid, _ := created.body["uid"].(string)
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/now/secrets", map[string]string{"name": "api-key", "value": "again"}, 409},
		{"POST", "/now/secrets", map[string]string{"name": "bad name", "value": "x"}, 400},
		{"POST", "/now/secrets", map[string]string{"name": "big", "value": strings.Repeat("x", 70<<10)}, 400},
		{"PATCH", "/now/secrets/nope", map[string]string{"name": "x"}, 404},
		{"PATCH", "/now/secrets/api-key", map[string]string{"name": "bad name"}, 400},
		{"DELETE", "/now/secrets/nope", nil, 404},
	} {
		before := h.tp.Digest(t, "alice")
		r := h.do(alice, tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.raw)
			continue
		}
		checkErrorShape(t, r)
		if h.tp.Digest(t, "alice") != before {
			t.Errorf("%s %s: a refused call changed alice's data", tc.method, tc.path)
		}
	}
	h.must(http.StatusOK, bob, "POST", "/now/secrets", map[string]string{"name": "api-key", "value": "bobs"}) // bob's own namespace
	h.must(http.StatusNotFound, bob, "DELETE", "/now/secrets/"+uid, nil)
	list := h.must(http.StatusOK, alice, "GET", "/now/secrets", nil)
	if strings.Contains(string(list.raw), "s3cr3t") || !strings.Contains(string(list.raw), uid) {
		t.Errorf("list: %s", list.raw)
	}
	h.must(http.StatusOK, alice, "POST", "/now/secrets", map[string]string{"name": "other", "value": "x"})
	h.must(http.StatusConflict, alice, "PATCH", "/now/secrets/"+uid, map[string]string{"name": "other"})
	renamed := h.must(http.StatusOK, alice, "PATCH", "/now/secrets/"+uid, map[string]string{"name": "key2"})
	if renamed.body["oldName"] != "api-key" || renamed.body["uid"] != uid {
		t.Errorf("rename: %s", renamed.raw)
	}
	if del := h.must(http.StatusOK, alice, "DELETE", "/now/secrets/key2", nil); del.body["name"] != "key2" {
		t.Errorf("delete: %s", del.raw)
	}
}
