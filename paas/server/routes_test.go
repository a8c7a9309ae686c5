package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/paastest"
)

// TestEveryFaceRouteReachesItsHandler sends one request per route of every
// face through the server's dispatcher: each must reach its own face's
// handler (the first path segment picks the face, then its route groups).
func TestEveryFaceRouteReachesItsHandler(t *testing.T) {
	tp := paastest.NewPlatform(t)
	all := tp.Faces.Routes()
	for _, face := range []string{"nodejitsu", "now", "admin"} {
		if len(all[face]) == 0 {
			t.Fatalf("face %s lists no routes", face)
		}
		t.Run(face, func(t *testing.T) { paastest.CheckRoutesReachHandlers(t, tp.Faces.Handler(), all[face]) })
	}
}

// TestFacePrefixes: a path no route has answers in the error shape of the
// face that owns its prefix, so a client of one face never sees another's.
func TestFacePrefixes(t *testing.T) {
	tp := paastest.NewPlatform(t)
	cases := []struct {
		path        string
		poweredBy   string // the Nodejitsu header, on its face only
		errorHasURL bool   // the now document's errors carry a help url
	}{
		{"/nope", "Nodejitsu", false},
		{"/apps", "Nodejitsu", false},
		{"/domains/x/y/z/w", "", true},
		{"/now/nope", "", true},
		{"/admin/nope", "", false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tp.Faces.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("X-Powered-By"); got != c.poweredBy {
				t.Errorf("X-Powered-By = %q, want %q", got, c.poweredBy)
			}
			if got := strings.Contains(rec.Body.String(), `"url"`); got != c.errorHasURL {
				t.Errorf("error has url: %t, want %t: %s", got, c.errorHasURL, rec.Body)
			}
		})
	}
	// The probe itself must be able to fail: a name that no route has.
	var got string
	req := httptest.NewRequest(http.MethodGet, "/nope", nil)
	tp.Faces.Handler().ServeHTTP(httptest.NewRecorder(), req.WithContext(api.WithRouteProbe(req.Context(), &got)))
	if got != "" {
		t.Errorf("an unknown path reached route %q", got)
	}
}
