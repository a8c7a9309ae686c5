// Package ingress is the Host-routing reverse proxy in front of app units.
//
// The platform core owns the truth about which apps exist and which units are
// healthy; it pushes a complete [Table] with [Proxy.SetRoutes] whenever that
// changes. The proxy itself never discovers, health-checks or mutates routes,
// which keeps the request path lock-free: a request loads one immutable
// snapshot and never looks at the table again.
//
// This package deliberately imports nothing else from the repository so it
// can be tested and benchmarked on its own.
package ingress

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Route is where requests for one hostname go.
type Route struct {
	// App is the app key; it only labels logs.
	App string
	// Stopped means the app exists but is not running. The proxy answers 503
	// instead of 404 so users can tell "stopped" from "mistyped".
	Stopped bool
	// Backends are host:port addresses of healthy units, plain HTTP/1.1.
	// An empty list on a running app also answers 503 (e.g. during a
	// restart, before the first unit passes its health check).
	Backends []string
	// RedirectHTTPS sends plain-HTTP requests to the same URL over HTTPS
	// (308, so the method and body are kept); HSTS adds
	// Strict-Transport-Security to HTTPS answers. Both are the app's opt-in.
	RedirectHTTPS, HSTS bool
	// Asleep means the app's units are stopped (scaled to zero) or still
	// starting: a request is held while Options.Wake starts them, and then
	// served by the route the table has once it has backends.
	Asleep bool
	// Activity, when not nil, gets the time (Unix nanoseconds) of each
	// request routed here: what the platform's idle check reads.
	Activity *atomic.Int64
}

// hstsValue is the Strict-Transport-Security of an app that opted in: a
// year, the value browsers' preload rules ask for, without preload itself.
const hstsValue = "max-age=31536000"

// Table maps a hostname to its route. Keys should be lowercase hostnames
// without port or trailing dot (e.g. "myapp.localhost"); SetRoutes normalises
// them anyway so a sloppy key cannot silently become unreachable.
type Table map[string]Route

// Options configures a Proxy. The zero value is usable.
type Options struct {
	// Logger receives proxy errors and retries. Nil discards them.
	Logger *slog.Logger
	// HTTPSPort is the port clients reach the HTTPS ingress on, for
	// redirects ("" or "443": none in the URL).
	HTTPSPort string
	// Wake starts the units of an Asleep route's app and returns once they
	// serve (or it failed, or ctx ended). Concurrent calls for one app are
	// the caller's to coalesce. Nil: Asleep routes answer 503.
	Wake func(ctx context.Context, app string) error
	// WakeTimeout bounds how long a request is held for a wake (0: 60s).
	WakeTimeout time.Duration
}

// Stats are cumulative counters since New. They are read with individual
// atomic loads, so a snapshot taken under load may be off by a few between
// fields.
type Stats struct {
	Requests    uint64 // every request that reached ServeHTTP
	NotFound    uint64 // 404: no route for the host
	Unavailable uint64 // 503: app stopped or no backends
	BadGateway  uint64 // 502: backend unreachable or failed before a response
	Retries     uint64 // requests re-sent to a second backend after a dial failure
	ClientGone  uint64 // client disconnected before the backend answered (not a 502)
	BadRequest  uint64 // 400: the client's own body could not be read (malformed chunking, say)
	Redirects   uint64 // 308: plain HTTP sent to HTTPS (the app's opt-in)
	Woken       uint64 // requests held while their app's units were started
}

// Proxy routes requests by Host to app backends. It is safe for concurrent
// use; the zero value is not usable, call New.
type Proxy struct {
	routes atomic.Pointer[snapshot]
	// up carries the common requests (see upstream.go); rp, over tr, the
	// rest: protocol upgrades, streamed and large uploads.
	up   *upstream
	rp   *httputil.ReverseProxy
	tr   *http.Transport
	bufs *bufferPool
	log  *slog.Logger
	// reverseProxyOnly sends everything through rp: the baseline the
	// benchmarks measure the lean path against.
	reverseProxyOnly bool

	requests, notFound, unavailable, badGateway, retries, clientGone, badRequest, redirects, woken atomic.Uint64
	httpsPort                                                                                      string

	wake        func(ctx context.Context, app string) error
	wakeTimeout time.Duration
	// changed is closed, and replaced, by each SetRoutes: what a request
	// held for a wake waits on for the table that serves it.
	changed atomic.Pointer[chan struct{}]
}

// snapshot is an immutable compiled Table. Only the round-robin counters
// inside entries change, and those are atomic.
type snapshot struct {
	table   Table
	entries map[string]*entry
}

type entry struct {
	route Route
	// next is per table entry rather than per hostname-for-all-time: a new
	// table restarts rotation, which is harmless and avoids carrying state
	// across swaps.
	next atomic.Uint64
}

// target is the backend choice for one request, carried in its context from
// ServeHTTP through Rewrite to the transport and the error handler. It is
// only touched by the goroutine serving the request (ReverseProxy calls
// RoundTrip synchronously), so it needs no locking.
type target struct {
	app      string
	backends []string
	first    int
	used     string // backend of the last attempt, for error logs
	body     *clientBody
	hsts     bool // answer with Strict-Transport-Security
}

type targetKey struct{}

// statusClientClosedRequest is nginx's 499. It is written (to nobody) when the
// client has gone, so an access log wrapped around the proxy does not record
// a 502 or, worse, the implicit 200 of a handler that wrote nothing.
const statusClientClosedRequest = 499

// New returns a Proxy with an empty route table: every host is 404 until
// SetRoutes is called. New starts no goroutines; Close releases idle
// backend connections.
func New(opts Options) *Proxy {
	up := newUpstream()
	p := &Proxy{log: opts.Logger, up: up, tr: newTransport(&up.dialer), bufs: &bufferPool{},
		httpsPort: opts.HTTPSPort, wake: opts.Wake, wakeTimeout: opts.WakeTimeout}
	if p.wakeTimeout == 0 {
		p.wakeTimeout = 60 * time.Second
	}
	ch := make(chan struct{})
	p.changed.Store(&ch)
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.routes.Store(&snapshot{table: Table{}, entries: map[string]*entry{}})
	p.rp = &httputil.ReverseProxy{
		Rewrite: p.rewrite,
		ModifyResponse: func(res *http.Response) error {
			if t, _ := res.Request.Context().Value(targetKey{}).(*target); t != nil && t.hsts {
				res.Header.Set("Strict-Transport-Security", hstsValue)
			}
			return nil
		},
		Transport: &retryTransport{next: p.tr, p: p},
		// SSE and responses of unknown length (chunked progress, long
		// polls) are flushed at every write whatever this says; a response
		// of known length written bit by bit is flushed within 5 ms. Not
		// at every write (-1): a small response then cost a write syscall
		// for its header and another for its body, where it now leaves in
		// one (BenchmarkProxy: 21,200 → 23,900 req/s, p99 3.7 → 3.1 ms).
		FlushInterval: 5 * time.Millisecond,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t, _ := r.Context().Value(targetKey{}).(*target)
			p.backendFailed(w, r, t, err)
		},
		// Without a pool every request allocates a fresh 32 KiB copy buffer.
		BufferPool: p.bufs,
		// ReverseProxy logs mid-body copy failures here; almost all of them
		// are clients closing tabs during streams, so they are debug noise.
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p
}

// SetRoutes atomically replaces the route table. Requests already past
// routing keep their backend; new requests see t. Nothing is closed, so
// in-flight requests, streams and upgraded connections to backends that are
// no longer listed run to completion. The caller must not modify t (or its
// Backends slices) afterwards. A nil t routes nothing.
func (p *Proxy) SetRoutes(t Table) {
	s := &snapshot{table: t, entries: make(map[string]*entry, len(t))}
	for k, r := range t {
		key := hostKey(k)
		if _, dup := s.entries[key]; dup {
			// Map order makes the winner arbitrary; say so rather than
			// route unpredictably in silence.
			p.log.Warn("ingress: duplicate host after normalising, one route ignored",
				"host", key, "key", k, "app", r.App)
		}
		s.entries[key] = &entry{route: r}
	}
	if s.table == nil {
		s.table = Table{}
	}
	p.routes.Store(s)
	// Idle connections to units no longer routed to would wait out their
	// idle timeout holding the stopped unit's sockets.
	p.up.forget(func(addr string) bool { return s.routes(addr) })
	next := make(chan struct{})
	close(*p.changed.Swap(&next))
}

// Routes returns the table last passed to SetRoutes (an empty one before
// that). It is shared, not copied: treat it as read-only.
func (p *Proxy) Routes() Table {
	return p.routes.Load().table
}

// SetHTTPSPort sets Options.HTTPSPort, for a port known only once the
// HTTPS listener is bound. Call it before serving.
func (p *Proxy) SetHTTPSPort(port string) { p.httpsPort = port }

// Serves reports whether host (any spelling the router accepts) has a
// route: the names certificates may be issued for.
func (p *Proxy) Serves(host string) bool {
	return p.routes.Load().entries[hostKey(host)] != nil
}

// Stats returns the cumulative counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests:    p.requests.Load(),
		NotFound:    p.notFound.Load(),
		Unavailable: p.unavailable.Load(),
		BadGateway:  p.badGateway.Load(),
		Retries:     p.retries.Load(),
		ClientGone:  p.clientGone.Load(),
		BadRequest:  p.badRequest.Load(),
		Redirects:   p.redirects.Load(),
		Woken:       p.woken.Load(),
	}
}

// Close drops idle keep-alive connections to backends (and with them the
// transport's per-connection goroutines). It does not touch active requests
// or upgraded connections: shut the http.Server down first. The Proxy still
// works after Close; it just dials anew.
func (p *Proxy) Close() {
	p.tr.CloseIdleConnections()
	p.up.forget(nil)
}

// ServeHTTP routes r by its Host header. It answers 404 for unknown hosts,
// 503 for stopped apps or apps without backends and 502 when the backend
// cannot be reached; otherwise it proxies, including protocol upgrades.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	host := hostKey(r.Host)
	e := p.routes.Load().entries[host]
	if e != nil && e.route.Asleep {
		if e = p.awake(w, r, host); e == nil {
			return
		}
	}
	if a := e.activity(); a != nil {
		a.Store(time.Now().UnixNano())
	}
	switch {
	case e == nil:
		p.notFound.Add(1)
		plainError(w, http.StatusNotFound, "no app at this address")
		return
	case e.route.Stopped:
		p.unavailable.Add(1)
		plainError(w, http.StatusServiceUnavailable, "app is stopped")
		return
	case r.TLS == nil && e.route.RedirectHTTPS:
		p.redirects.Add(1)
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if p.httpsPort != "" && p.httpsPort != "443" {
			host = net.JoinHostPort(strings.Trim(host, "[]"), p.httpsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
		return
	case len(e.route.Backends) == 0:
		p.unavailable.Add(1)
		plainError(w, http.StatusServiceUnavailable, "app has no running instances")
		return
	}
	n := uint64(len(e.route.Backends))
	t := &target{
		app:      e.route.App,
		backends: e.route.Backends,
		first:    int((e.next.Add(1) - 1) % n),
		hsts:     r.TLS != nil && e.route.HSTS,
	}
	if r.Body != nil && r.Body != http.NoBody {
		// Remembers why reading the client's body failed: that is the
		// client's fault, not the app's (see backendFailed).
		t.body = &clientBody{ReadCloser: r.Body}
		r.Body = t.body
	}
	if !p.reverseProxyOnly && leanEligible(r) {
		p.serveLean(w, r, t)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
}

// routes reports whether some route of s sends requests to backend.
func (s *snapshot) routes(backend string) bool {
	for _, e := range s.entries {
		for _, b := range e.route.Backends {
			if b == backend {
				return true
			}
		}
	}
	return false
}

func (e *entry) activity() *atomic.Int64 {
	if e == nil {
		return nil
	}
	return e.route.Activity
}

// awake holds r, for host, while its app wakes, and returns the entry
// that then serves it; nil when it answered r itself (the wake failed or
// timed out, or the client went away).
func (p *Proxy) awake(w http.ResponseWriter, r *http.Request, host string) *entry {
	if p.wake == nil {
		p.unavailable.Add(1)
		plainError(w, http.StatusServiceUnavailable, "app is asleep")
		return nil
	}
	p.woken.Add(1)
	ctx, cancel := context.WithTimeout(r.Context(), p.wakeTimeout)
	defer cancel()
	// fail answers a request that cannot be served: the client's own
	// leaving is not the app's unavailability.
	fail := func(msg string) *entry {
		if r.Context().Err() != nil {
			p.clientGone.Add(1)
			w.WriteHeader(statusClientClosedRequest)
			return nil
		}
		p.unavailable.Add(1)
		plainError(w, http.StatusServiceUnavailable, msg)
		return nil
	}
	for {
		// The channel before the table: a SetRoutes in between closes it.
		changed := *p.changed.Load()
		cur := p.routes.Load().entries[host]
		switch {
		case cur == nil:
			p.notFound.Add(1)
			plainError(w, http.StatusNotFound, "no app at this address")
			return nil
		case !cur.route.Asleep:
			return cur
		}
		if err := p.wake(ctx, cur.route.App); err != nil {
			if r.Context().Err() == nil {
				p.log.Warn("ingress: wake failed", "app", cur.route.App, "host", r.Host, "err", err)
			}
			return fail("app could not be started")
		}
		// Awake: wait for the table that says so.
		select {
		case <-changed:
		case <-ctx.Done():
			return fail("app is still starting")
		}
	}
}

// clientBody is a request body that records its read error.
type clientBody struct {
	io.ReadCloser
	mu  sync.Mutex
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

func (b *clientBody) readErr() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*target)
	t.used = t.backends[t.first]
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = t.used
	// Apps build absolute URLs, cookies and virtual-host logic from Host, so
	// they must see what the browser sent, not the unit's address.
	pr.Out.Host = pr.In.Host
	// ReverseProxy strips inbound X-Forwarded-For before Rewrite; restore it
	// so SetXForwarded appends the peer to the chain instead of replacing it.
	// X-Forwarded-Host/Proto are overwritten, never trusted from the client.
	if prior, ok := pr.In.Header["X-Forwarded-For"]; ok {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
}

// backendFailed answers a request whose exchange with its unit failed
// before an answer began: 499, 400 or 502, by whose fault it was.
func (p *Proxy) backendFailed(w http.ResponseWriter, r *http.Request, t *target, err error) {
	var app, backend string
	if t != nil {
		app, backend = t.app, t.used
	}
	// The inbound context is cancelled when the client disconnects; the
	// resulting transport error says nothing about the app's health.
	if r.Context().Err() != nil {
		p.clientGone.Add(1)
		p.log.Debug("ingress: client went away", "app", app, "host", r.Host,
			"backend", backend, "err", err)
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	if t != nil {
		if bodyErr := t.body.readErr(); bodyErr != nil {
			p.badRequest.Add(1)
			p.log.Debug("ingress: unreadable request body from the client", "app", app, "host", r.Host, "err", bodyErr)
			plainError(w, http.StatusBadRequest, "malformed request body")
			return
		}
	}
	p.badGateway.Add(1)
	p.log.Warn("ingress: backend failed", "app", app, "host", r.Host,
		"method", r.Method, "path", r.URL.Path, "backend", backend, "err", err)
	plainError(w, http.StatusBadGateway, "app is not responding")
}

// plainError writes a short text body. http.Error also clears any
// Content-Length/Encoding a backend may already have put in the header map.
func plainError(w http.ResponseWriter, code int, msg string) {
	// A 503 during a deploy must not be cached by a CDN or browser.
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// retryTransport re-sends a request once to the next backend of the same
// route when the first one refused the connection. Only a failed dial is
// retried, because then the backend provably saw nothing; and only for
// bodiless idempotent methods, because that is the contract promised to
// apps regardless of where the failure happened.
type retryTransport struct {
	next http.RoundTripper
	p    *Proxy
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rt.next.RoundTrip(req)
	if err == nil {
		return res, nil
	}
	t, _ := req.Context().Value(targetKey{}).(*target)
	if !rt.p.nextBackend(req, t, err) {
		return nil, err
	}
	// RoundTrippers must not modify their request, so retry on a copy.
	req2 := req.Clone(req.Context())
	req2.URL.Host = t.used
	res, err2 := rt.next.RoundTrip(req2)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return res, nil
}

// nextBackend decides, for both upstream paths, whether a request that
// failed with err on t.used goes once more, to t's next backend: only after
// a refused dial (the backend provably saw nothing), for a repeatable
// request whose client is still there. A retry is counted, logged, and
// makes the next backend t.used.
func (p *Proxy) nextBackend(r *http.Request, t *target, err error) bool {
	if t == nil || len(t.backends) < 2 || !retryable(r) || !isDialError(err) || r.Context().Err() != nil {
		return false
	}
	alt := t.backends[(t.first+1)%len(t.backends)]
	p.retries.Add(1)
	p.log.Info("ingress: backend refused connection, retrying on another",
		"app", t.app, "failed", t.used, "backend", alt, "err", err)
	t.used = alt
	return true
}

func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	// ReverseProxy sets Body to nil when the inbound ContentLength is 0; a
	// non-nil body may already be partly consumed and cannot be replayed.
	return req.Body == nil || req.Body == http.NoBody
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// hostKey turns a Host header (or table key) into the lookup key: no port,
// no trailing dot, lowercase. Brackets of an IPv6 literal are dropped too.
func hostKey(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	h = strings.TrimSuffix(h, ".")
	// Most hosts are already lowercase; skip the allocation then.
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// bufferPool recycles ReverseProxy's body copy buffers. It stores *[]byte
// because sync.Pool wants pointer-shaped values; Put still allocates that
// 24-byte header, which is far cheaper than a fresh 32 KiB buffer per request.
type bufferPool struct{ pool sync.Pool }

const copyBufSize = 32 << 10

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyBufSize)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) != copyBufSize {
		return
	}
	b = b[:copyBufSize]
	bp.pool.Put(&b)
}

// newTransport returns an http.Transport tuned for a proxy talking to a
// handful of local backends under many concurrent clients; it dials as
// the lean path does (d).
func newTransport(d *net.Dialer) *http.Transport {
	return &http.Transport{
		// Never honour HTTP_PROXY: backends are local units.
		Proxy:       nil,
		DialContext: d.DialContext,
		// The default of 2 idle conns per host would make almost every
		// concurrent request dial anew.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: maxIdlePerBackend,
		IdleConnTimeout:     idleConnTimeout,
		// No ResponseHeaderTimeout: long-polling and slow handlers are the
		// app's business; the client's disconnect cancels the request.
		ExpectContinueTimeout: 1 * time.Second,
		// Pass Content-Encoding through untouched instead of having the
		// transport gunzip behind the app's back.
		DisableCompression: true,
		// Units speak HTTP/1.1; h2 negotiation would only apply to TLS
		// backends, which we do not have.
		ForceAttemptHTTP2: false,
	}
}
