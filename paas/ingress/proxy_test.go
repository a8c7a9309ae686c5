package ingress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// safety bounds how long a test may block on the proxy before failing with a
// useful message instead of a whole-binary timeout. No assertion depends on
// it; ordering is done with channels.
const safety = 10 * time.Second

// backend is an httptest server that counts hits and answers with its name.
type backend struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return b.Listener.Addr().String() }

// front starts the proxy on a real listener so requests go through net/http
// exactly as in production (hijacking, flushing, context cancellation).
func front(t *testing.T, p *Proxy) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return srv
}

type result struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, srv *httptest.Server, method, host, body string, hdr http.Header) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+"/path?q=1", rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, host, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{status: res.StatusCode, body: string(b), header: res.Header}
}

func TestRouting(t *testing.T) {
	live := newBackend(t, "live")
	dead := deadAddr(t)

	p := New(Options{})
	p.SetRoutes(Table{
		"myapp.localhost":   {App: "myapp", Backends: []string{live.addr()}},
		"Mixed.Localhost.":  {App: "mixed", Backends: []string{live.addr()}}, // normalised by SetRoutes
		"stopped.localhost": {App: "stopped", Stopped: true, Backends: []string{live.addr()}},
		"empty.localhost":   {App: "empty"},
		"dead.localhost":    {App: "dead", Backends: []string{dead}},
		"garbage.localhost": {App: "garbage", Backends: []string{"not a host:port"}},
	})
	srv := front(t, p)

	const textPlain = "text/plain; charset=utf-8"
	tests := []struct {
		name       string
		host       string
		wantStatus int
		wantBody   string
		wantCT     string
	}{
		{"unknown host", "nope.localhost", http.StatusNotFound, "no app at this address\n", textPlain},
		{"empty host header", "", http.StatusNotFound, "no app at this address\n", textPlain},
		{"stopped", "stopped.localhost", http.StatusServiceUnavailable, "app is stopped\n", textPlain},
		{"no backends", "empty.localhost", http.StatusServiceUnavailable, "app has no running instances\n", textPlain},
		{"dead backend", "dead.localhost", http.StatusBadGateway, "app is not responding\n", textPlain},
		{"malformed backend", "garbage.localhost", http.StatusBadGateway, "app is not responding\n", textPlain},
		{"exact host", "myapp.localhost", http.StatusOK, "live", ""},
		{"host with port", "myapp.localhost:8080", http.StatusOK, "live", ""},
		{"mixed case", "MyApp.LOCALHOST", http.StatusOK, "live", ""},
		{"mixed case, port and trailing dot", "MYAPP.localhost.:443", http.StatusOK, "live", ""},
		{"key normalised", "mixed.localhost", http.StatusOK, "live", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res result
			if tc.host == "" {
				res = rawEmptyHost(t, srv)
			} else {
				res = do(t, srv, http.MethodGet, tc.host, "", nil)
			}
			if res.status != tc.wantStatus || res.body != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", res.status, res.body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantCT != "" && res.header.Get("Content-Type") != tc.wantCT {
				t.Errorf("Content-Type = %q, want %q", res.header.Get("Content-Type"), tc.wantCT)
			}
		})
	}
}

// rawEmptyHost sends an HTTP/1.0 request without Host, which Go's client
// cannot produce.
func rawEmptyHost(t *testing.T, srv *httptest.Server) result {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(safety))
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return result{status: res.StatusCode, body: string(b), header: res.Header}
}

func TestHostKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"myapp.localhost", "myapp.localhost"},
		{"MyApp.LocalHost:8080", "myapp.localhost"},
		{"myapp.localhost.", "myapp.localhost"},
		{"myapp.localhost.:80", "myapp.localhost"},
		{"[::1]:8080", "::1"},
		{"[::1]", "::1"},
		{"127.0.0.1:80", "127.0.0.1"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := hostKey(tc.in); got != tc.want {
			t.Errorf("hostKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	type seen struct {
		host, xff, xfh, xfp, xhop string
	}
	got := make(chan seen, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{
			host: r.Host,
			xff:  r.Header.Get("X-Forwarded-For"),
			xfh:  r.Header.Get("X-Forwarded-Host"),
			xfp:  r.Header.Get("X-Forwarded-Proto"),
			xhop: r.Header.Get("X-Hop"),
		}
	}))
	t.Cleanup(app.Close)

	p := New(Options{})
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{app.Listener.Addr().String()}}})
	plain := front(t, p)
	tlsSrv := httptest.NewTLSServer(p)
	t.Cleanup(tlsSrv.Close)

	tests := []struct {
		name  string
		srv   *httptest.Server
		host  string
		hdr   http.Header
		want  seen
		proto string
	}{
		{
			name: "plain, no prior chain",
			srv:  plain, host: "MyApp.localhost:8080",
			hdr:  http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}},
			want: seen{host: "MyApp.localhost:8080", xff: "127.0.0.1", xfh: "MyApp.localhost:8080", xfp: "http"},
		},
		{
			name: "plain, appends to client chain",
			srv:  plain, host: "myapp.localhost",
			hdr:  http.Header{"X-Forwarded-For": {"203.0.113.7"}},
			want: seen{host: "myapp.localhost", xff: "203.0.113.7, 127.0.0.1", xfh: "myapp.localhost", xfp: "http"},
		},
		{
			name: "tls",
			srv:  tlsSrv, host: "myapp.localhost",
			// Hop-by-hop: named in Connection, so it must not reach the app.
			hdr:  http.Header{"Connection": {"X-Hop"}, "X-Hop": {"secret"}},
			want: seen{host: "myapp.localhost", xff: "127.0.0.1", xfh: "myapp.localhost", xfp: "https"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if res := do(t, tc.srv, http.MethodGet, tc.host, "", tc.hdr); res.status != http.StatusOK {
				t.Fatalf("status %d %q", res.status, res.body)
			}
			if s := <-got; s != tc.want {
				t.Errorf("backend saw %+v, want %+v", s, tc.want)
			}
		})
	}
}

func TestSpreadAcrossBackends(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := New(Options{})
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{a.addr(), b.addr()}}})
	srv := front(t, p)

	const n = 20
	for i := 0; i < n; i++ {
		if res := do(t, srv, http.MethodGet, "myapp.localhost", "", nil); res.status != http.StatusOK {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
	}
	// Sequential requests over a round robin split exactly evenly.
	if a.hits.Load() != n/2 || b.hits.Load() != n/2 {
		t.Errorf("hits a=%d b=%d, want %d each", a.hits.Load(), b.hits.Load(), n/2)
	}
}

func TestRetryOnDialFailure(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		body        string
		wantStatus  int
		wantHits    int64
		wantRetries uint64
	}{
		{"GET retried", http.MethodGet, "", http.StatusOK, 1, 1},
		{"HEAD retried", http.MethodHead, "", http.StatusOK, 1, 1},
		{"OPTIONS retried", http.MethodOptions, "", http.StatusOK, 1, 1},
		{"POST not retried", http.MethodPost, "payload", http.StatusBadGateway, 0, 0},
		{"bodiless DELETE not retried", http.MethodDelete, "", http.StatusBadGateway, 0, 0},
		{"GET with body not retried", http.MethodGet, "payload", http.StatusBadGateway, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := newBackend(t, "live")
			p := New(Options{})
			// A fresh table restarts rotation at index 0, so the dead
			// backend is always tried first.
			p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{deadAddr(t), live.addr()}}})
			srv := front(t, p)

			res := do(t, srv, tc.method, "myapp.localhost", tc.body, nil)
			if res.status != tc.wantStatus {
				t.Fatalf("status %d %q, want %d", res.status, res.body, tc.wantStatus)
			}
			if h := live.hits.Load(); h != tc.wantHits {
				t.Errorf("live backend hits %d, want %d", h, tc.wantHits)
			}
			st := p.Stats()
			if st.Retries != tc.wantRetries {
				t.Errorf("retries %d, want %d", st.Retries, tc.wantRetries)
			}
			if want := uint64(1) - tc.wantRetries; st.BadGateway != want {
				t.Errorf("502 count %d, want %d", st.BadGateway, want)
			}
		})
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	// A raw backend: hijack, answer 101, then echo lines until EOF. This is
	// what a WebSocket server does at the transport level; framing is
	// irrelevant to the proxy.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
			!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "expected upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Host: %s\r\n\r\n", r.Host)
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	}))
	t.Cleanup(app.Close)

	p := New(Options{})
	p.SetRoutes(Table{"ws.localhost": {App: "ws", Backends: []string{app.Listener.Addr().String()}}})
	srv := front(t, p)

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(safety))
	io.WriteString(c, "GET /socket HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("X-Host") != "ws.localhost" {
		t.Fatalf("got %d, X-Host %q; want 101 with original host", res.StatusCode, res.Header.Get("X-Host"))
	}
	for _, msg := range []string{"hello\n", "second frame\n"} {
		io.WriteString(c, msg)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read echo: %v", err)
		}
		if line != "echo "+msg {
			t.Fatalf("echo = %q, want %q", line, "echo "+msg)
		}
	}
}

func TestStreamingPassesThrough(t *testing.T) {
	tests := []struct {
		name, contentType string
	}{
		{"server-sent events", "text/event-stream"},
		{"chunked plain text", "text/plain"},
		// A declared length would normally let ReverseProxy buffer; the
		// proxy flushes it within a few milliseconds regardless.
		{"known length", "application/octet-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			const first, second = "data: first\n\n", "data: second\n\n"
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				if tc.name == "known length" {
					w.Header().Set("Content-Length", fmt.Sprint(len(first)+len(second)))
				}
				io.WriteString(w, first)
				http.NewResponseController(w).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, second)
			}))
			t.Cleanup(app.Close)
			// Unblock the handler even if the test fails early, so Close
			// does not wait on it.
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock)

			p := New(Options{})
			p.SetRoutes(Table{"s.localhost": {App: "s", Backends: []string{app.Listener.Addr().String()}}})
			srv := front(t, p)

			ctx, cancel := context.WithTimeout(context.Background(), safety)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			req.Host = "s.localhost"
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer res.Body.Close()
			buf := make([]byte, len(first))
			// The backend is still blocked on release, so this only
			// returns if the proxy forwarded the first chunk on its own.
			if _, err := io.ReadFull(res.Body, buf); err != nil {
				t.Fatalf("read first chunk (stream held back by the proxy?): %v", err)
			}
			if string(buf) != first {
				t.Fatalf("first chunk %q, want %q", buf, first)
			}
			unblock()
			rest, err := io.ReadAll(res.Body)
			if err != nil || string(rest) != second {
				t.Fatalf("rest = %q, %v; want %q", rest, err, second)
			}
		})
	}
}

func TestRouteSwitchKeepsInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var oldHits atomic.Int64
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oldHits.Add(1)
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "old")
	}))
	t.Cleanup(old.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before old.Close (LIFO)

	next := newBackend(t, "new")

	p := New(Options{})
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{old.Listener.Addr().String()}}})
	srv := front(t, p)

	inFlight := make(chan result, 1)
	go func() {
		// t.Fatal is not allowed off the test goroutine; report instead.
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Host = "myapp.localhost"
		res, err := srv.Client().Do(req)
		if err != nil {
			inFlight <- result{status: -1, body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		inFlight <- result{status: res.StatusCode, body: string(b)}
	}()

	select {
	case <-started:
	case r := <-inFlight:
		t.Fatalf("slow request finished before reaching the old backend: %+v", r)
	}

	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{next.addr()}}})
	if res := do(t, srv, http.MethodGet, "myapp.localhost", "", nil); res.status != http.StatusOK || res.body != "new" {
		t.Fatalf("new request got %d %q, want 200 \"new\"", res.status, res.body)
	}

	unblock()
	if r := <-inFlight; r.status != http.StatusOK || r.body != "old" {
		t.Fatalf("in-flight request got %d %q, want 200 \"old\"", r.status, r.body)
	}
	if oldHits.Load() != 1 {
		t.Errorf("old backend hits %d, want 1", oldHits.Load())
	}
}

func TestClientGoneIsNot502(t *testing.T) {
	started := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // the proxy cancels when its client leaves
	}))
	t.Cleanup(app.Close)

	p := New(Options{})
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{app.Listener.Addr().String()}}})
	served := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r)
		close(served)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Host = "myapp.localhost"
		res, err := srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled client request succeeded")
	}
	<-served
	st := p.Stats()
	if st.BadGateway != 0 || st.ClientGone != 1 {
		t.Errorf("stats %+v, want 0 BadGateway and 1 ClientGone", st)
	}
}

func TestRoutesReturnsTable(t *testing.T) {
	p := New(Options{})
	if got := p.Routes(); got == nil || len(got) != 0 {
		t.Fatalf("initial Routes() = %v, want empty non-nil", got)
	}
	tbl := Table{"a.localhost": {App: "a", Backends: []string{"127.0.0.1:1"}}}
	p.SetRoutes(tbl)
	if got := p.Routes(); len(got) != 1 || got["a.localhost"].App != "a" {
		t.Fatalf("Routes() = %v", got)
	}
	p.SetRoutes(nil)
	if got := p.Routes(); got == nil || len(got) != 0 {
		t.Fatalf("Routes() after nil = %v, want empty non-nil", got)
	}
}

// TestMalformedClientBodyIs400: a client's broken chunked body is the
// client's error (400), not the app's (502), and the app is not blamed.
func TestMalformedClientBodyIs400(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("read"))
	}))
	t.Cleanup(app.Close)
	p := New(Options{})
	p.SetRoutes(Table{"myapp.localhost": {App: "myapp", Backends: []string{app.Listener.Addr().String()}}})
	srv := front(t, p)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(safety))
	// A chunk announced as 5 bytes that carries other data: bad chunk framing.
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: myapp.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXXX\r\nzz\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", res.StatusCode)
	}
	if st := p.Stats(); st.BadGateway != 0 || st.BadRequest != 1 {
		t.Errorf("stats %+v, want no 502 and one 400", st)
	}
}

// TestHTTPSOptIns: an app that opted in has its plain-HTTP requests
// redirected to HTTPS (308: method and body kept, the HTTPS port in the
// URL), and its HTTPS answers carry HSTS; an app that did not, neither.
func TestHTTPSOptIns(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	t.Cleanup(app.Close)
	p := New(Options{HTTPSPort: "8443"})
	back := []string{app.Listener.Addr().String()}
	p.SetRoutes(Table{
		"secure.localhost": {App: "secure", Backends: back, RedirectHTTPS: true, HSTS: true},
		"plain.localhost":  {App: "plain", Backends: back},
	})
	plain := front(t, p)
	req, _ := http.NewRequest("POST", plain.URL+"/path?q=1", strings.NewReader("body"))
	req.Host = "secure.localhost"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "https://secure.localhost:8443/path?q=1" {
		t.Errorf("plain HTTP to an opted-in app: %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if r := do(t, plain, "GET", "plain.localhost", "", nil); r.status != 200 || r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("an app that did not opt in: %d %v", r.status, r.header)
	}

	tlsFront := httptest.NewTLSServer(p)
	t.Cleanup(tlsFront.Close)
	for host, want := range map[string]string{"secure.localhost": hstsValue, "plain.localhost": ""} {
		req, _ := http.NewRequest("GET", tlsFront.URL+"/", nil)
		req.Host = host
		res, err := tlsFront.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") != want {
			t.Errorf("HTTPS to %s: %d, HSTS %q, want %q", host, res.StatusCode, res.Header.Get("Strict-Transport-Security"), want)
		}
	}
	if st := p.Stats(); st.Redirects != 1 {
		t.Errorf("stats %+v, want 1 redirect", st)
	}
}

// TestWakeAsleepRoute: requests to an Asleep route are held while Wake
// starts the app and then served by the table that has its backends; a
// failed wake answers 503, as does an Asleep route without Wake; Activity
// records each routed request.
func TestWakeAsleepRoute(t *testing.T) {
	b := newBackend(t, "awake")
	var activity atomic.Int64
	var wakes atomic.Int64
	var p *Proxy
	p = New(Options{Wake: func(ctx context.Context, app string) error {
		wakes.Add(1)
		switch app {
		case "broken":
			return fmt.Errorf("no such luck")
		case "sleepy":
			go func() { // the platform publishes the new table on its own
				time.Sleep(50 * time.Millisecond)
				p.SetRoutes(Table{
					"sleepy.test": {App: "sleepy", Backends: []string{b.addr()}, Activity: &activity},
					"broken.test": {App: "broken", Asleep: true},
				})
			}()
		}
		return nil
	}})
	p.SetRoutes(Table{
		"sleepy.test": {App: "sleepy", Asleep: true, Activity: &activity},
		"broken.test": {App: "broken", Asleep: true},
	})
	srv := front(t, p)
	before := time.Now().UnixNano()
	var wg sync.WaitGroup
	results := make([]result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = do(t, srv, "GET", "sleepy.test", "", nil)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.status != 200 || r.body != "awake" {
			t.Errorf("request %d while waking: %d %q", i, r.status, r.body)
		}
	}
	if activity.Load() < before {
		t.Errorf("activity %d, want at least %d", activity.Load(), before)
	}
	if r := do(t, srv, "GET", "broken.test", "", nil); r.status != 503 {
		t.Errorf("failed wake: %d %q", r.status, r.body)
	}
	if st := p.Stats(); st.Woken != 9 || wakes.Load() < 2 {
		t.Errorf("woken %d, wakes %d", st.Woken, wakes.Load())
	}
	q := New(Options{})
	q.SetRoutes(Table{"x.test": {App: "x", Asleep: true}})
	if r := do(t, front(t, q), "GET", "x.test", "", nil); r.status != 503 {
		t.Errorf("asleep without Wake: %d", r.status)
	}
}
