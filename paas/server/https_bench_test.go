package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
)

// BenchmarkHTTPS compares, in one run, requests through the ingress over
// plain HTTP and over HTTPS (keep-alive, HTTP/1.1 and HTTP/2), and new TLS
// handshakes per second (no keep-alive), to an app of the fake runtime (an
// in-process backend, so the figures are the ingress's own):
//
//	go test ./paas/server -run '^$' -bench HTTPS -benchtime 3s
func BenchmarkHTTPS(b *testing.B) {
	s, addr, roots := httpsServer(b)
	s.waitStatus("web.localhost", http.StatusOK, 10*time.Second)
	tlsTransport := func(h2, keepAlive bool) *http.Transport {
		tr := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, ClientSessionCache: nil},
			ForceAttemptHTTP2:   h2,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 1024,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return tr
	}
	b.Run("http", func(b *testing.B) { paastest.Load(b, "http://"+s.ingress+"/", "web.localhost") })
	b.Run("https-http1", func(b *testing.B) {
		paastest.LoadWith(b, tlsTransport(false, true), "https://web.localhost/", "web.localhost")
	})
	b.Run("https-h2", func(b *testing.B) {
		paastest.LoadWith(b, tlsTransport(true, true), "https://web.localhost/", "web.localhost")
	})
	b.Run("https-new-handshakes", func(b *testing.B) {
		paastest.LoadWith(b, tlsTransport(false, false), "https://web.localhost/", "web.localhost")
	})
}
