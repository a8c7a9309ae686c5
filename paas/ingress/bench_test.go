package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/selfhost/paas/paas/ingress"
	"github.com/selfhost/paas/paas/paastest"
)

func benchBackend(b *testing.B) *httptest.Server {
	b.Helper()
	body := []byte("hello from the app\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkDirect is the baseline: the same clients straight to the backend.
func BenchmarkDirect(b *testing.B) {
	app := benchBackend(b)
	paastest.Load(b, app.URL, "")
}

// BenchmarkProxy sends the same load through the proxy on its own listener,
// so the difference to BenchmarkDirect is the full cost of one extra hop:
// on the lean path, and all through httputil.ReverseProxy (the baseline).
func BenchmarkProxy(b *testing.B) {
	for _, bc := range []struct {
		name     string
		baseline bool
	}{{"lean", false}, {"reverseproxy", true}} {
		b.Run(bc.name, func(b *testing.B) {
			app := benchBackend(b)
			p := ingress.New(ingress.Options{})
			if bc.baseline {
				ingress.ReverseProxyOnly(p)
			}
			p.SetRoutes(ingress.Table{"bench.localhost": {App: "bench", Backends: []string{app.Listener.Addr().String()}}})
			front := httptest.NewServer(p)
			b.Cleanup(func() {
				front.Close()
				p.Close()
			})
			paastest.Load(b, front.URL, "bench.localhost")
			if st := p.Stats(); st.BadGateway != 0 || st.NotFound != 0 {
				b.Fatalf("proxy errors during benchmark: %+v", st)
			}
		})
	}
}
