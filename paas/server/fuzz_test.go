package server_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
)

// FuzzAPI sends arbitrary methods, paths and bodies, as the admin, to the
// whole API: no input may crash a handler or produce an internal error.
func FuzzAPI(f *testing.F) {
	tp := paastest.NewPlatform(f)
	h := server.NewHandler(tp.Platform, slog.New(slog.DiscardHandler))
	for _, seed := range []struct{ method, path, body string }{
		{"POST", "/apps/admin", `{"name":"x"}`},
		{"PUT", "/apps/admin/x", `{"env":{"A":"b"},"drones":2}`},
		{"POST", "/apps/admin/x/cloud", `[{"drones":3}]`},
		{"POST", "/logs/admin/x", `{"from":"NOW-3YEARS","until":"NOW","rows":"5"}`},
		{"POST", "/users/bob", `{"email":"b@example.com","password":"password1"}`},
		{"POST", "/databases/admin/db", `{"type":"redis"}`},
		{"PUT", "/users/admin/tokens/t1", `{}`},
		{"POST", "/domains", `{"name":"example.org","isExternal":false}`},
		{"POST", "/domains/example.org/records", `{"data":{"name":"www","type":"A","value":"1.2.3.4"}}`},
		{"POST", "/apps/admin/x/snapshots/v1", "\x1f\x8b\x08"},
	} {
		f.Add(seed.method, seed.path, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		req, err := http.NewRequest(method, "http://api"+path, bytes.NewReader([]byte(body)))
		if err != nil || req.URL.Path == "" || path == "" || path[0] != '/' {
			return
		}
		if req.URL.Path == "/admin/backup" {
			return // a valid request that returns the whole database; not interesting
		}
		req.SetBasicAuth("admin", paastest.AdminPassword)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q → %d %s", method, path, body, rec.Code, rec.Body.String())
		}
	})
}
