// Package now is the ZEIT now API face (document 004), served at /domains
// and (in later issues) /now/…, as the now-client library and the now CLI
// use it. Its specifics, all handled here: errors carry a help url, failed
// authentication answers 403 authentication_error, internal errors are
// internal_server_error, every response carries the X-Rate-Limit-* headers,
// and ?teamId= selects a team (teams do not exist yet: 404).
package now

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// ErrorURLBase prefixes the error code in the url of every error body, as
// in the document's examples.
const ErrorURLBase = "https://zeit.co/errors/"

// Default rate limit: requests per principal (or per client address when
// unauthenticated) per window.
const (
	DefaultRateLimit  = 600
	DefaultRateWindow = time.Minute
)

// Face holds the face's dependencies.
type Face struct {
	p       *paas.Platform
	auth    *api.Authenticator
	a       *api.Adapter
	limiter *limiter
}

// Option changes a face setting (tests use small limits and a fake clock).
type Option func(*options)

type options struct {
	limit  int
	window time.Duration
	now    func() time.Time
}

// WithRateLimit sets the number of requests allowed per window.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(o *options) { o.limit, o.window = limit, window }
}

// WithClock sets the clock the rate limiter reads.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// handlerFunc is a route of this face: it runs after authentication, the
// rate limit and the team check, with the caller.
type handlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error

// Routes registers every route of the face on r.
func Routes(r *httprouter.Router, p *paas.Platform, auth *api.Authenticator, log *slog.Logger, opts ...Option) *Face {
	o := options{limit: DefaultRateLimit, window: DefaultRateWindow, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	f := &Face{p: p, auth: auth, limiter: newLimiter(o.limit, o.window, o.now),
		a: &api.Adapter{Log: log, Remap: remap, ErrorURL: func(code string) string { return ErrorURLBase + code }}}
	h := f.handle

	// Domains. httprouter needs one wildcard name per position, so the
	// document's /domains/:name is /domains/:domain here.
	r.GET("/domains", h(f.listDomains))
	r.POST("/domains", h(f.createDomain))
	r.DELETE("/domains/:domain", h(f.deleteDomain))

	// DNS records.
	r.GET("/domains/:domain/records", h(f.listRecords))
	r.POST("/domains/:domain/records", h(f.createRecord))
	r.DELETE("/domains/:domain/records/:recId", h(f.deleteRecord))
	return f
}

// Adapter exposes the face's error writer.
func (f *Face) Adapter() *api.Adapter { return f.a }

// remap turns the shared error codes into the document's: failed
// authentication is 403 authentication_error, internal errors are
// internal_server_error.
func remap(status int, code string) (int, string) {
	switch {
	case status == http.StatusUnauthorized:
		return http.StatusForbidden, "authentication_error"
	case code == "internal_error":
		return status, "internal_server_error"
	}
	return status, code
}

// handle authenticates, counts the request against the caller's rate limit
// (the principal's, or the client address's when authentication failed, so
// bad credentials are limited too), rejects ?teamId= and runs h.
func (f *Face) handle(h handlerFunc) httprouter.Handle {
	return f.a.Handle(func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		pr, authErr := f.auth.Require(r)
		key := "ip:" + api.ClientIP(r)
		if authErr == nil {
			key = "user:" + pr.User.Name
		}
		if err := f.limiter.take(w, key); err != nil {
			return err
		}
		if authErr != nil {
			return authErr
		}
		if q := r.URL.Query(); q.Has("teamId") {
			return paas.NotFound("team %q not found", q.Get("teamId"))
		}
		return h(w, r, ps, pr)
	})
}

// isoTime is the document's timestamp form: 2016-09-23T11:53:38.600Z.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
