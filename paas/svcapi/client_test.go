package svcapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas/svcapi"
)

// TestPublicOnly: a user's endpoint is never dialled on a loopback or
// private address, whatever its name resolves to, and no endpoint's
// redirect is followed.
func TestPublicOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/resources/x/status" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	ctx := context.Background()
	user := svcapi.Client{Endpoint: srv.URL, Username: "u", Password: "p", PublicOnly: true}
	if err := user.Create(ctx, "x", "team"); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("a user's loopback endpoint was called: %v", err)
	}
	admin := svcapi.Client{Endpoint: srv.URL, Username: "u", Password: "p"}
	if err := admin.Create(ctx, "x", "team"); err != nil {
		t.Errorf("an admin's loopback endpoint: %v", err)
	}
	if err := admin.Status(ctx, "x"); err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("a redirect was followed, or not reported: %v", err)
	}
}
