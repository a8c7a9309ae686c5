package ingress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The lean path: most requests (no body, or a small one of known length,
// and no protocol upgrade) are sent to the unit by the goroutine serving
// the client, over a pooled keep-alive connection, and the answer is copied
// back by the same goroutine. http.Transport hands every request to a
// connection's writer goroutine and its response back from a reader
// goroutine, and ReverseProxy clones the request and its headers before
// that: on two cores those hand-offs and copies were most of the
// ingress's own cost (see BenchmarkProxy and the README). Everything else
// (WebSockets, streamed or large uploads, Expect: 100-continue) still goes
// through ReverseProxy, which handles those well and is not the hot path.
const (
	// maxLeanBody is the largest request body the lean path sends. It fits
	// a socket's send buffer, so writing it cannot wait on a unit that
	// answers before reading, which only a concurrent writer would handle.
	maxLeanBody = 64 << 10
	// maxResponseHeaderBytes bounds what a unit may send before its body:
	// the memory one request can make the ingress hold (nginx refuses
	// more than a few KiB).
	maxResponseHeaderBytes = 1 << 20
	// idleConnTimeout closes keep-alive connections unused for this long.
	idleConnTimeout = 90 * time.Second
	// checkIdleAfter is how long a connection may sit idle before it is
	// checked for a close by the unit (one non-blocking peek) before
	// reuse: servers close idle connections (node after 5 s), and a
	// request written to one is lost.
	checkIdleAfter = 50 * time.Millisecond
	// maxIdlePerBackend is how many idle connections are kept per unit.
	maxIdlePerBackend = 256
	// dialTimeout: a unit that does not accept within 5 s is down; fail
	// fast to a 502 rather than hold the client.
	dialTimeout = 5 * time.Second
)

// leanEligible reports whether r can take the lean path.
func leanEligible(r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > maxLeanBody {
		return false
	}
	// CONNECT names no path to send on; it keeps ReverseProxy's handling.
	if r.Method == http.MethodConnect || len(r.Header["Upgrade"]) > 0 || len(r.Header["Expect"]) > 0 {
		return false
	}
	return true
}

// upstream is the pool of keep-alive connections to units.
type upstream struct {
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*upConn // by backend address, most recently used last
}

func newUpstream() *upstream {
	return &upstream{
		dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		idle:   map[string][]*upConn{},
	}
}

// upConn is one keep-alive connection to a unit.
type upConn struct {
	nc     net.Conn
	src    countingReader
	br     *bufio.Reader
	bw     *bufio.Writer
	addr   string
	idleAt time.Time
	reused bool
}

// countingReader is the connection as the response reader sees it: it
// counts what arrived (a request that got nothing back on a reused
// connection may be sent again) and bounds the response head.
type countingReader struct {
	nc    net.Conn
	total int64
	limit int64 // total may not pass this; < 0: no limit
}

var errHeaderTooLarge = errors.New("response header too large")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.limit >= 0 {
		left := c.limit - c.total
		if left <= 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := c.nc.Read(p)
	c.total += int64(n)
	return n, err
}

// get returns an idle connection to addr that is still open, or dials one.
func (u *upstream) get(ctx context.Context, addr string) (*upConn, error) {
	for {
		c := u.takeIdle(addr)
		if c == nil {
			break
		}
		if time.Since(c.idleAt) < checkIdleAfter || peerOpen(c.nc) {
			return c, nil
		}
		c.nc.Close()
	}
	return u.dial(ctx, addr)
}

func (u *upstream) dial(ctx context.Context, addr string) (*upConn, error) {
	nc, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err // a *net.OpError with Op "dial": retried elsewhere
	}
	c := &upConn{nc: nc, addr: addr, bw: bufio.NewWriterSize(nc, 4<<10)}
	c.src = countingReader{nc: nc, limit: -1}
	c.br = bufio.NewReaderSize(&c.src, 4<<10)
	return c, nil
}

func (u *upstream) takeIdle(addr string) *upConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	u.idle[addr] = list[:len(list)-1]
	c.reused = true
	return c
}

// put returns c to the pool. The oldest idle connection of its unit is
// closed when it passed idleConnTimeout: a pool that is used keeps itself
// trimmed without a goroutine; one that is not is emptied by forget.
func (u *upstream) put(c *upConn) {
	c.idleAt = time.Now()
	u.mu.Lock()
	list := u.idle[c.addr]
	var stale *upConn
	if len(list) > 0 && c.idleAt.Sub(list[0].idleAt) > idleConnTimeout {
		stale = list[0]
		list = append(list[:0], list[1:]...)
	}
	full := len(list) >= maxIdlePerBackend
	if !full {
		list = append(list, c)
	}
	u.idle[c.addr] = list
	u.mu.Unlock()
	if stale != nil {
		stale.nc.Close()
	}
	if full {
		c.nc.Close()
	}
}

// forget closes the idle connections of every backend keep does not want
// (all of them for a nil keep): units leave the table when they stop.
func (u *upstream) forget(keep func(addr string) bool) {
	u.mu.Lock()
	var closing []*upConn
	for addr, list := range u.idle {
		if keep == nil || !keep(addr) {
			closing = append(closing, list...)
			delete(u.idle, addr)
		}
	}
	u.mu.Unlock()
	for _, c := range closing {
		c.nc.Close()
	}
}

// errNothingBack marks a failure on a reused connection before any byte
// of an answer arrived: the unit had closed it, and an idempotent request
// may go again on a new one.
type errNothingBack struct{ err error }

func (e errNothingBack) Error() string { return e.err.Error() }
func (e errNothingBack) Unwrap() error { return e.err }

// exchange sends r on c and reads the head of the answer (1xx answers
// included: the caller forwards those and calls readResponse again).
func (c *upConn) exchange(r *http.Request) (*http.Response, error) {
	before := c.src.total
	if err := c.writeRequest(r); err != nil {
		if c.reused && c.src.total == before {
			return nil, errNothingBack{err}
		}
		return nil, err
	}
	res, err := c.readResponse(r)
	if err != nil && c.reused && c.src.total == before {
		return nil, errNothingBack{err}
	}
	return res, err
}

func (c *upConn) readResponse(r *http.Request) (*http.Response, error) {
	c.src.limit = c.src.total + int64(c.br.Buffered()) + maxResponseHeaderBytes
	res, err := http.ReadResponse(c.br, r)
	c.src.limit = -1
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return res, nil
}

// writeRequest writes r as the unit should see it: hop-by-hop headers
// dropped, X-Forwarded-* set as ReverseProxy.SetXForwarded does (the
// client's For chain kept and extended, Host and Proto ours).
func (c *upConn) writeRequest(r *http.Request) error {
	bw := c.bw
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI() // absolute-form, "*", or no raw target
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if hopByHop(k, conn) {
			if k == "Te" && teTrailers(vv) {
				bw.WriteString("Te: trailers\r\n")
			}
			continue
		}
		switch k {
		case "Content-Length", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		for _, prior := range r.Header["X-Forwarded-For"] {
			bw.WriteString(prior)
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	if r.ContentLength > 0 {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		if _, err := io.CopyN(bw, r.Body, r.ContentLength); err != nil {
			return fmt.Errorf("send body: %w", err)
		}
	} else {
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	return nil
}

// hopByHop reports whether header k concerns only this connection (RFC
// 9110 7.6.1): the fixed list, and whatever the Connection header names.
func hopByHop(k string, connection []string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	for _, v := range connection {
		if hasToken(v, k) {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds tok (in any
// case), without allocating: this runs for every header of every request.
func hasToken(v, tok string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(textproto.TrimString(t), tok) {
			return true
		}
	}
	return false
}

// teTrailers: "TE: trailers" is the one TE a proxy passes on (gRPC needs it).
func teTrailers(vv []string) bool {
	for _, v := range vv {
		if hasToken(v, "trailers") {
			return true
		}
	}
	return false
}

// serveLean proxies r to t's backends on the lean path.
func (p *Proxy) serveLean(w http.ResponseWriter, r *http.Request, t *target) {
	// A client that leaves cancels the request's context: that unblocks
	// whatever read or write the unit's connection is in, and the
	// connection is not reused.
	var guard connGuard
	stop := context.AfterFunc(r.Context(), guard.cut)
	var c *upConn
	reusable := false
	defer func() {
		if stop() && reusable {
			p.up.put(c)
		} else if c != nil {
			c.nc.Close()
		}
	}()
	c, res, err := p.leanRoundTrip(r, t, &guard)
	if err != nil {
		p.backendFailed(w, r, t, err)
		return
	}

	h := w.Header()
	for res.StatusCode >= 100 && res.StatusCode < 200 {
		if res.StatusCode == http.StatusSwitchingProtocols {
			// Never asked for on this path.
			p.backendFailed(w, r, t, errors.New("unit switched protocols unasked"))
			return
		}
		// 103 Early Hints and the like go on to the client; 100 Continue
		// answers an Expect this path never sends.
		if res.StatusCode != http.StatusContinue {
			copyResponseHeader(h, res.Header)
			w.WriteHeader(res.StatusCode)
			clear(h) // a 1xx does not clear the header map itself
		}
		if res, err = c.readResponse(r); err != nil {
			p.backendFailed(w, r, t, err)
			return
		}
	}

	copyResponseHeader(h, res.Header)
	if t.hsts {
		h.Set("Strict-Transport-Security", hstsValue)
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	if !p.copyBody(w, r, t, c, res) {
		return
	}
	if len(res.Trailer) > 0 {
		// Flushing forces a chunked answer: a short body would otherwise
		// get a Content-Length and the trailers would have nowhere to go.
		_ = http.NewResponseController(w).Flush()
		for k, vv := range res.Trailer {
			if len(res.Trailer) != announced {
				k = http.TrailerPrefix + k
			}
			h[k] = vv
		}
	}
	// Bytes after the answer are no answer to anything: a connection that
	// has them would hand them to the next request as its response.
	reusable = !res.Close && c.br.Buffered() == 0
}

// copyBody copies the unit's body to the client. What arrived is flushed
// whenever the unit has sent nothing more yet, so streams and server-sent
// events reach the client as they are written, while a body that arrives
// at once leaves in one write with its header. false: the exchange broke
// (the connection must not be reused).
func (p *Proxy) copyBody(w http.ResponseWriter, r *http.Request, t *target, c *upConn, res *http.Response) bool {
	buf := p.bufs.Get()
	defer p.bufs.Put(buf)
	var rc *http.ResponseController
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				p.clientGone.Add(1)
				p.log.Debug("ingress: client went away during the body", "app", t.app, "host", r.Host, "err", werr)
				return false
			}
		}
		switch {
		case rerr == io.EOF:
			return true
		case rerr != nil:
			if r.Context().Err() != nil {
				p.clientGone.Add(1)
				return false
			}
			p.log.Warn("ingress: backend failed during the body", "app", t.app, "host", r.Host, "backend", t.used, "err", rerr)
			// The client must not take a cut answer for a whole one:
			// ErrAbortHandler makes net/http drop the connection (or
			// reset the HTTP/2 stream) without logging a crash, as
			// ReverseProxy does in the same place.
			c.nc.Close()
			panic(http.ErrAbortHandler)
		}
		if c.br.Buffered() == 0 {
			if rc == nil {
				rc = http.NewResponseController(w)
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				p.clientGone.Add(1)
				return false
			}
		}
	}
}

// leanRoundTrip sends r to t's backend and, when that refused the
// connection and r may be repeated, to the next one; a reused connection
// the unit had closed is replaced by a new one under the same rule.
func (p *Proxy) leanRoundTrip(r *http.Request, t *target, guard *connGuard) (*upConn, *http.Response, error) {
	t.used = t.backends[t.first]
	c, res, err := p.sendTo(r, t.used, guard)
	if err == nil {
		return c, res, nil
	}
	if !p.nextBackend(r, t, err) {
		return nil, nil, err
	}
	c, res, err2 := p.sendTo(r, t.used, guard)
	if err2 != nil {
		return nil, nil, errors.Join(err, err2)
	}
	return c, res, nil
}

func (p *Proxy) sendTo(r *http.Request, addr string, guard *connGuard) (*upConn, *http.Response, error) {
	ctx := r.Context()
	c, err := p.up.get(ctx, addr)
	for err == nil {
		if err = guard.watch(c.nc); err != nil {
			break
		}
		var res *http.Response
		if res, err = c.exchange(r); err == nil {
			return c, res, nil
		}
		var stale errNothingBack
		if !errors.As(err, &stale) || !retryable(r) || ctx.Err() != nil {
			break
		}
		c.nc.Close()
		c, err = p.up.dial(ctx, addr)
	}
	if c != nil {
		c.nc.Close()
	}
	if ctx.Err() != nil {
		return nil, nil, errors.Join(err, ctx.Err())
	}
	return nil, nil, err
}

// connGuard cuts the connection a request is using when the client
// leaves; one per request, whatever connections its retries go through.
type connGuard struct {
	mu   sync.Mutex
	nc   net.Conn
	gone bool // the client left
}

// watch makes nc the connection to cut; an error if the client has
// already left.
func (g *connGuard) watch(nc net.Conn) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return context.Canceled
	}
	g.nc = nc
	return nil
}

func (g *connGuard) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gone = true
	if g.nc != nil {
		_ = g.nc.SetDeadline(time.Unix(1, 0))
	}
}

// copyResponseHeader puts the unit's header, less its hop-by-hop fields,
// into the client's answer. The slices are taken over, not copied: the
// response is this request's alone.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if !hopByHop(k, conn) {
			dst[k] = vv
		}
	}
}
