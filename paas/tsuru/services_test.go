package tsuru_test

import (
	"context"
	"strings"
	"testing"
)

// TestServiceInstanceBadInput: every wrong call about instances is a
// clear 4xx and changes nothing.
func TestServiceInstanceBadInput(t *testing.T) {
	t.Parallel()
	tp := newPlatform(t)
	alice := tp.NewUser(t, "alice")
	newApp(t, tp, alice, "site")
	if _, err := tp.CreateDatabase(context.Background(), tp.Principal(t, alice), "alice", "cache", "redis"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tp.BindDatabase(context.Background(), tp.Principal(t, alice), "alice", "cache", "site"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		reason       string
	}{
		{"POST", "/tsuru/services/instances", map[string]string{"name": "x"}, 400, "service_name is required"},
		{"POST", "/tsuru/services/instances", map[string]string{"name": "x", "service_name": "mysql"}, 404, `mysql`},
		{"POST", "/tsuru/services/instances", map[string]string{"name": "bad name", "service_name": "redis"}, 400, "invalid database name"},
		{"POST", "/tsuru/services/instances", map[string]string{"name": "cache", "service_name": "redis"}, 409, "exists"},
		{"POST", "/tsuru/services/instances", map[string]string{"name": "x", "service_name": "redis", "owner": "nobody-team"}, 404, ""},
		{"PUT", "/tsuru/services/instances/cache/site", nil, 409, "already bound"},
		{"PUT", "/tsuru/services/instances/cache/nope", nil, 404, ""},
		{"PUT", "/tsuru/services/instances/nope/site", nil, 404, "not found"},
		{"DELETE", "/tsuru/services/instances/cache", nil, 409, "bound to"},
	} {
		before := tp.Digest(t, "alice")
		r := tp.Do(t, tc.method, tc.path, alice.Bearer(), tc.body)
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.reason) {
			t.Errorf("%s %s %v: %d %s; want %d with %q", tc.method, tc.path, tc.body, r.Status, r.Body, tc.status, tc.reason)
		}
		if after := tp.Digest(t, "alice"); after != before {
			t.Errorf("%s %s: a refused call changed alice's data", tc.method, tc.path)
		}
	}
	r := tp.Do(t, "DELETE", "/tsuru/services/instances/cache/site", alice.Bearer(), nil)
	if r.Status != 200 {
		t.Fatalf("unbind: %d %s", r.Status, r.Body)
	}
	if r := tp.Do(t, "DELETE", "/tsuru/services/instances/cache/site", alice.Bearer(), nil); r.Status != 404 {
		t.Errorf("unbind twice: %d %s", r.Status, r.Body)
	}
}
