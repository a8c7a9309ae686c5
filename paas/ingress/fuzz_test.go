package ingress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHostRouting: whatever Host a client sends, the proxy answers with a
// status of its own (routed, 404, 503) and never panics; a Host that names
// a route in any spelling the router accepts reaches that route.
func FuzzHostRouting(f *testing.F) {
	for _, s := range []string{"myapp.localhost", "MYAPP.localhost:80", "myapp.localhost.", "[::1]:8080", "", ":", "a..b", "myapp.localhost\x00", strings.Repeat("a.", 200)} {
		f.Add(s)
	}
	p := New(Options{})
	defer p.Close()
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Stopped: true}})
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusServiceUnavailable: // the stopped app
			if hostKey(host) != "myapp.localhost" {
				t.Fatalf("host %q reached myapp (key %q)", host, hostKey(host))
			}
		case http.StatusNotFound:
			if hostKey(host) == "myapp.localhost" {
				t.Fatalf("host %q is myapp's, yet 404", host)
			}
		default:
			t.Fatalf("host %q: status %d", host, w.Code)
		}
	})
}
