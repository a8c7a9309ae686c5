package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// FuzzAPI sends arbitrary methods, paths and bodies, as the admin, to the
// whole API: no input may crash a handler or produce an internal error.
func FuzzAPI(f *testing.F) {
	store, err := paas.OpenStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	fake := runtime.NewFake()
	f.Cleanup(func() { fake.Close() })
	p := paas.New(store, fake, paas.Config{Domain: "localhost", BaseImage: "test", PasswordCost: bcrypt.MinCost}, slog.New(slog.DiscardHandler))
	if _, err := p.EnsureAdmin("admin-password-1"); err != nil {
		f.Fatal(err)
	}
	h := NewHandler(p, slog.New(slog.DiscardHandler))
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
		req.SetBasicAuth("admin", "admin-password-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q → %d %s", method, path, body, rec.Code, rec.Body.String())
		}
	})
}
