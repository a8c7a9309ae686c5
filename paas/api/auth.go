package api

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
)

// Authenticator resolves a request's credentials to a principal: HTTP Basic
// with a password or an API token, or "Bearer <token>" (any case, as the
// Tsuru CLI sends "bearer"). Failed attempts are limited per client address.
type Authenticator struct {
	Platform *paas.Platform
	limiter  failLimiter
}

// Principal returns the caller, nil when the request has no credentials,
// or an error for bad credentials (401), a throttled client (429) or an
// unconfirmed account (403).
func (a *Authenticator) Principal(r *http.Request) (*paas.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	ip := ClientIP(r)
	if a.limiter.blocked(ip) {
		return nil, paas.RateLimited("too many failed authentication attempts; try again in a minute")
	}
	var p *paas.Principal
	var err error
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, paas.Unauthorized("malformed Basic credentials")
		}
		p, err = a.Platform.AuthenticateBasic(user, pass)
	case "bearer", "token":
		p, err = a.Platform.AuthenticateBearer(strings.TrimSpace(rest))
	default:
		return nil, paas.Unauthorized("unsupported authorization scheme %q", scheme)
	}
	if err != nil {
		if _, apiErr, ok := paas.ErrorStatus(err); ok && apiErr.Status == http.StatusUnauthorized {
			a.limiter.fail(ip)
		}
		return nil, err
	}
	return p, nil
}

// Require is Principal that demands credentials.
func (a *Authenticator) Require(r *http.Request) (*paas.Principal, error) {
	p, err := a.Principal(r)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, paas.Unauthorized("authentication required: use HTTP Basic (user and password or API token) or a Bearer token")
	}
	return p, nil
}

// ClientIP is the address of the peer the request came from (the direct
// peer: no forwarding header is trusted).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failLimiter allows failLimit failed attempts per address per failWindow.
type failLimiter struct {
	mu    sync.Mutex
	fails map[string]*failCount
}

type failCount struct {
	n     int
	start time.Time
}

const (
	failLimit  = 20
	failWindow = time.Minute
)

func (l *failLimiter) blocked(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.fails[ip]
	return c != nil && time.Since(c.start) < failWindow && c.n >= failLimit
}

func (l *failLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil || len(l.fails) > 100000 {
		l.fails = map[string]*failCount{}
	}
	c := l.fails[ip]
	if c == nil || time.Since(c.start) >= failWindow {
		c = &failCount{start: time.Now()}
		l.fails[ip] = c
	}
	c.n++
}
