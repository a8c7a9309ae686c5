package api

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/platform"
)

// Authenticator resolves a request's credentials to a principal: HTTP Basic
// with a password or an API token, or "Bearer <token>" (any case, as the
// Tsuru CLI sends "bearer"). Failed attempts are limited per client address.
type Authenticator struct {
	p     *platform.Platform
	fails *Limiter // failed attempts per client address
}

// Failed authentications allowed per client address and user name per
// window; then that user's password is refused from that address (429).
// Other users behind the same address (a NAT) are not affected, and a
// valid API token is never refused for anyone's failures: tokens are
// random, so failures with them are counted only to slow a scan down.
const (
	failLimit  = 20
	failWindow = time.Minute
)

// NewAuthenticator authenticates against p.
func NewAuthenticator(p *platform.Platform) *Authenticator {
	return &Authenticator{p: p, fails: NewLimiter(failLimit, failWindow, nil)}
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
	var p *paas.Principal
	var err error
	var key string
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, paas.Unauthorized("malformed Basic credentials")
		}
		key = ip + "\x00user\x00" + paas.NormalizeUserName(user)
		if !a.fails.Peek(key).Allowed {
			return nil, paas.RateLimited("too many failed authentication attempts for %q; try again in a minute", paas.NormalizeUserName(user))
		}
		p, err = a.p.AuthenticateBasic(user, pass)
	case "bearer", "token":
		key = ip + "\x00bearer"
		p, err = a.p.AuthenticateBearer(strings.TrimSpace(rest))
		if err != nil && !a.fails.Peek(key).Allowed {
			return nil, paas.RateLimited("too many failed authentication attempts; try again in a minute")
		}
	default:
		return nil, paas.Unauthorized("unsupported authorization scheme %q", scheme)
	}
	if err != nil {
		if _, apiErr, ok := paas.ErrorStatus(err); ok && apiErr.Status == http.StatusUnauthorized {
			a.fails.Take(key)
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

// AuthedFunc is a handler that runs with the authenticated caller.
type AuthedFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error

// With returns a handler that demands credentials and runs h with the caller.
func (a *Authenticator) With(h AuthedFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		pr, err := a.Require(r)
		if err != nil {
			return err
		}
		return h(w, r, ps, pr)
	}
}
