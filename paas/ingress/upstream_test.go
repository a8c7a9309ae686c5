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

// rawBackend is a unit written at the byte level, for what net/http's
// server would never do: close a keep-alive connection without a word, or
// send an endless header. serve gets each connection and its reader.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(safety))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return l.Addr().String()
}

func leanProxy(t *testing.T, backends ...string) (*Proxy, *httptest.Server) {
	t.Helper()
	p := New(Options{})
	p.SetRoutes(Table{"lean.localhost": {App: "lean", Backends: backends}})
	return p, front(t, p)
}

// TestLeanStaleKeepAlive: a unit that closes each connection after one
// answer, without saying so, must not cost a request, whether the proxy
// notices the close before reusing the connection (it sat idle) or only
// when the request finds it closed (reused at once).
func TestLeanStaleKeepAlive(t *testing.T) {
	var conns atomic.Int64
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		n := conns.Add(1)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d", n)
	})
	p, srv := leanProxy(t, addr)
	for i, pause := range []time.Duration{0, 0, 2 * checkIdleAfter, 0, 2 * checkIdleAfter} {
		time.Sleep(pause)
		if r := do(t, srv, "GET", "lean.localhost", "", nil); r.status != 200 {
			t.Fatalf("request %d after %v: %d %q", i, pause, r.status, r.body)
		}
	}
	if st := p.Stats(); st.BadGateway != 0 {
		t.Errorf("stats %+v: a stale connection became a 502", st)
	}
	// A POST is never sent twice, so it relies on the check before reuse:
	// the connection sat idle and closed, and is not used.
	time.Sleep(2 * checkIdleAfter)
	if r := do(t, srv, "POST", "lean.localhost", "once", nil); r.status != 200 {
		t.Errorf("POST on a connection the unit had closed: %d %q", r.status, r.body)
	}
}

// TestLeanRequestAsSent: what the unit receives on the lean path is the
// client's request: method, target (not re-encoded), body and its length,
// end-to-end headers; hop-by-hop ones, and those the Connection header
// names, are dropped, and "TE: trailers" is kept.
func TestLeanRequestAsSent(t *testing.T) {
	got := make(chan string, 1)
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, 5)
		io.ReadFull(br, body)
		got <- head.String() + string(body)
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	_, srv := leanProxy(t, addr)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(safety))
	fmt.Fprint(conn, "PUT /a%2Fb?x=%20y HTTP/1.1\r\nHost: lean.localhost\r\nConnection: keep-alive, X-Secret\r\n"+
		"X-Secret: hop\r\nKeep-Alive: timeout=5\r\nTE: trailers, deflate\r\nProxy-Authorization: Basic eA==\r\n"+
		"X-App: end-to-end\r\nContent-Length: 5\r\n\r\nhello")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	head := <-got
	for _, want := range []string{"PUT /a%2Fb?x=%20y HTTP/1.1\r\n", "Host: lean.localhost\r\n", "X-App: end-to-end\r\n",
		"Content-Length: 5\r\n", "Te: trailers\r\n", "X-Forwarded-Host: lean.localhost\r\n", "X-Forwarded-Proto: http\r\n",
		"X-Forwarded-For: 127.0.0.1\r\n", "\r\n\r\nhello"} {
		if !strings.Contains(head, want) {
			t.Errorf("unit got no %q in\n%s", want, head)
		}
	}
	for _, hop := range []string{"X-Secret", "Keep-Alive", "Connection", "Proxy-Authorization", "deflate"} {
		if strings.Contains(head, hop) {
			t.Errorf("hop-by-hop %q reached the unit:\n%s", hop, head)
		}
	}
}

// TestLeanResponse: the unit's answer reaches the client as it was sent:
// early hints first, its end-to-end headers without the hop-by-hop ones,
// and trailers after the body.
func TestLeanResponse(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "hop")
		w.Header().Set("X-App", "kept")
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	}))
	t.Cleanup(app.Close)
	_, srv := leanProxy(t, app.Listener.Addr().String())
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(safety))
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: lean.localhost\r\n\r\n")
	br := bufio.NewReader(conn)
	hint, err := http.ReadResponse(br, nil)
	if err != nil || hint.StatusCode != http.StatusEarlyHints || hint.Header.Get("Link") == "" {
		t.Fatalf("first answer: %v %v, want 103 with its Link", hint, err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || string(body) != "body" {
		t.Fatalf("body %q, %v", body, err)
	}
	if res.StatusCode != 200 || res.Header.Get("X-App") != "kept" || res.Header.Get("X-Internal") != "" {
		t.Errorf("answer %d %v: want 200, X-App kept, X-Internal dropped", res.StatusCode, res.Header)
	}
	if res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailers %v, want X-Checksum: abc", res.Trailer)
	}
}

// TestLeanBrokenAnswers: a unit that sends an endless header, or dies in
// the middle of its body, cannot make the proxy hold unbounded memory or
// pass a cut body off as whole.
func TestLeanBrokenAnswers(t *testing.T) {
	var wroteAll atomic.Bool
	endless := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Junk: " + strings.Repeat("j", 1000) + "\r\n"
		// Far more than any socket buffers: only a proxy that reads it
		// all lets it all be written.
		for i := 0; i < 64*maxResponseHeaderBytes/len(line); i++ {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
		wroteAll.Store(true)
	})
	// Chunked, so that the end of the answer is the terminating chunk
	// the proxy must not make up.
	cut := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nonly \r\n")
	})

	p, srv := leanProxy(t, endless)
	if r := do(t, srv, "GET", "lean.localhost", "", nil); r.status != http.StatusBadGateway {
		t.Errorf("endless header: %d, want 502", r.status)
	}
	if wroteAll.Load() {
		t.Error("the proxy read a 64 MiB response header")
	}
	p.SetRoutes(Table{"lean.localhost": {App: "lean", Backends: []string{cut}}})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Host = "lean.localhost"
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if body, err := io.ReadAll(res.Body); err == nil {
		t.Errorf("a body cut by the unit arrived whole: %q", body)
	}
}

// TestLeanSmallAndLargeBodies: a body within the lean path's bound and
// one beyond it (sent through ReverseProxy) both arrive intact, and a
// client that stops short of its Content-Length is not the unit's 502.
func TestLeanSmallAndLargeBodies(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d %d", r.ContentLength, len(b))
	}))
	t.Cleanup(app.Close)
	p, srv := leanProxy(t, app.Listener.Addr().String())
	for _, n := range []int{1, maxLeanBody, maxLeanBody + 1, 1 << 20} {
		if r := do(t, srv, "POST", "lean.localhost", strings.Repeat("x", n), nil); r.body != fmt.Sprintf("%d %d", n, n) {
			t.Errorf("%d-byte body: unit saw %q", n, r.body)
		}
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(safety))
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: lean.localhost\r\nContent-Length: 10\r\n\r\nhello")
	conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// A half-close is the client leaving, to net/http: nothing the unit
	// did wrong either way.
	if res.StatusCode != http.StatusBadRequest && res.StatusCode != statusClientClosedRequest {
		t.Errorf("short body: %d, want 400 or 499", res.StatusCode)
	}
	if st := p.Stats(); st.BadGateway != 0 {
		t.Errorf("stats %+v: want no 502", st)
	}
}

// TestLeanForgetsStoppedUnits: idle connections to a unit that left the
// table are closed at once, not after the idle timeout.
func TestLeanForgetsStoppedUnits(t *testing.T) {
	closed := make(chan struct{}, 1)
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	app.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default:
			}
		}
	}
	app.Start()
	t.Cleanup(app.Close)
	other := newBackend(t, "other")
	p, srv := leanProxy(t, app.Listener.Addr().String())
	if r := do(t, srv, "GET", "lean.localhost", "", nil); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	p.SetRoutes(Table{"lean.localhost": {App: "lean", Backends: []string{other.addr()}}})
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the idle connection to the removed unit stayed open")
	}
}

// TestLeanExtraBytesNotReused: a unit that sends a second answer after
// the first cannot have it served to the next request on that connection.
func TestLeanExtraBytesNotReused(t *testing.T) {
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"+
				"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
		}
	})
	_, srv := leanProxy(t, addr)
	for i := 0; i < 3; i++ {
		if r := do(t, srv, "GET", "lean.localhost", "", nil); r.status != 200 || r.body != "real" {
			t.Fatalf("request %d: %d %q, want the real answer", i, r.status, r.body)
		}
	}
}
