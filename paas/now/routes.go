// Package now is the ZEIT now API face (document 004), served at /domains,
// /now/certs and /certs (and, in later issues, the rest of /now/…), as
// the now-client library and the now CLI use it. Its specifics, all handled here: errors carry a help url, failed
// authentication answers 403 authentication_error, internal errors are
// internal_server_error, every response carries the X-Rate-Limit-* headers,
// and ?teamId= selects a team the caller belongs to (any other: 404).
package now

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
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
	p       *platform.Platform
	auth    *api.Authenticator
	a       *api.Adapter
	limiter *api.Limiter
	window  time.Duration
	now     func() time.Time
	router  *api.Router
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
// rate limit and the team check, with the caller and the owner it acts for
// (the caller, or the team of ?teamId=).
type handlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error

// New returns the face, serving /domains/… (and, in later issues, /now/…).
func New(p *platform.Platform, auth *api.Authenticator, log *slog.Logger, opts ...Option) *Face {
	o := options{limit: DefaultRateLimit, window: DefaultRateWindow, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	f := &Face{p: p, auth: auth, limiter: api.NewLimiter(o.limit, o.window, o.now), window: o.window, now: o.now,
		a: &api.Adapter{Log: log, Remap: remap, ErrorURL: func(code string) string { return ErrorURLBase + code }}}
	f.router = f.a.NewRouter(f.routes())
	return f
}

func (f *Face) routes() []api.Route {
	h := f.handle
	return []api.Route{
		// Domains. httprouter needs one wildcard name per position, so the
		// document's /domains/:name is /domains/:domain here.
		{Method: "GET", Path: "/domains", Name: "listDomains", Handle: h(f.listDomains)},
		{Method: "POST", Path: "/domains", Name: "createDomain", Handle: h(f.createDomain)},
		{Method: "GET", Path: "/domains/:domain", Name: "getDomain", Handle: h(f.getDomain)},
		{Method: "DELETE", Path: "/domains/:domain", Name: "deleteDomain", Handle: h(f.deleteDomain)},

		// DNS records.
		{Method: "GET", Path: "/domains/:domain/records", Name: "listRecords", Handle: h(f.listRecords)},
		{Method: "POST", Path: "/domains/:domain/records", Name: "createRecord", Handle: h(f.createRecord)},
		{Method: "DELETE", Path: "/domains/:domain/records/:recId", Name: "deleteRecord", Handle: h(f.deleteRecord)},

		// Certificates, and the two paths now-client 1.1 lists them at
		// (a bug of the client, kept working).
		{Method: "GET", Path: "/now/certs", Name: "listCerts", Handle: h(f.listCerts)},
		{Method: "GET", Path: "/now/certs/:cn", Name: "getCert", Handle: h(f.getCert)},
		{Method: "POST", Path: "/now/certs", Name: "createCert", Handle: h(f.createCert)},
		{Method: "PUT", Path: "/now/certs", Name: "putCert", Handle: h(f.putCert)},
		{Method: "DELETE", Path: "/now/certs/:cn", Name: "deleteCert", Handle: h(f.deleteCert)},
		{Method: "GET", Path: "/certs", Name: "listCertsClientBug", Handle: h(f.listCerts)},

		// Deployments.
		{Method: "GET", Path: "/now/deployments", Name: "listDeployments", Handle: h(f.listDeployments)},
		{Method: "POST", Path: "/now/deployments", Name: "createDeployment", Handle: h(f.createDeployment)},
		{Method: "GET", Path: "/now/deployments/:id", Name: "getDeployment", Handle: h(f.getDeployment)},
		{Method: "DELETE", Path: "/now/deployments/:id", Name: "deleteDeployment", Handle: h(f.deleteDeployment)},
		{Method: "GET", Path: "/now/deployments/:id/files", Name: "listDeploymentFiles", Handle: h(f.listDeploymentFiles)},
		{Method: "GET", Path: "/now/deployments/:id/files/:file", Name: "getDeploymentFile", Handle: h(f.getDeploymentFile)},

		// The now CLI 3.x's own deployment endpoints.
		{Method: "POST", Path: "/now/create", Name: "nowCreate", Handle: h(f.nowCreate)},
		{Method: "POST", Path: "/now/sync", Name: "nowSync", Handle: h(f.nowSync)},
		{Method: "GET", Path: "/now/list", Name: "nowList", Handle: h(f.nowList)},
		{Method: "DELETE", Path: "/now/remove", Name: "nowRemove", Handle: h(f.nowRemove)},

		// Login by email.
		{Method: "POST", Path: "/now/registration", Name: "register", Handle: f.public(f.register)},
		{Method: "GET", Path: "/now/registration/verify", Name: "verifyRegistration", Handle: f.public(f.verifyRegistration)},
		{Method: "GET", Path: "/now/registration/confirm", Name: "confirmRegistration", Handle: f.public(f.confirmRegistration)},

		// Aliases.
		{Method: "GET", Path: "/now/aliases", Name: "listAliases", Handle: h(f.listAliases)},
		{Method: "DELETE", Path: "/now/aliases/:alias", Name: "deleteAlias", Handle: h(f.deleteAlias)},
		{Method: "GET", Path: "/now/deployments/:id/aliases", Name: "listDeploymentAliases", Handle: h(f.listDeploymentAliases)},
		{Method: "POST", Path: "/now/deployments/:id/aliases", Name: "createAlias", Handle: h(f.createAlias)},

		// Secrets, by uid or name.
		{Method: "GET", Path: "/now/secrets", Name: "listSecrets", Handle: h(f.listSecrets)},
		{Method: "POST", Path: "/now/secrets", Name: "createSecret", Handle: h(f.createSecret)},
		{Method: "PATCH", Path: "/now/secrets/:secret", Name: "renameSecret", Handle: h(f.renameSecret)},
		{Method: "DELETE", Path: "/now/secrets/:secret", Name: "deleteSecret", Handle: h(f.deleteSecret)},
		{Method: "GET", Path: "/certs/now/:cn", Name: "getCertClientBug", Handle: h(f.getCert)},
	}
}

// Handler serves the face.
func (f *Face) Handler() http.Handler { return f.router }

// Routes lists every route of the face.
func (f *Face) Routes() []api.Route { return f.router.Routes() }

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
// bad credentials are limited too), resolves ?teamId= to a team the caller
// belongs to (others' teams are 404, as the document answers for objects
// of other tenants) and runs h.
func (f *Face) handle(h handlerFunc) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		pr, authErr := f.auth.Require(r)
		key := "ip:" + api.ClientIP(r)
		if authErr == nil {
			key = "user:" + pr.User.Name
		}
		q := f.limiter.Take(key)
		api.SetHeaders(w, q, f.now())
		if !q.Allowed {
			return api.RateLimited(q, f.window)
		}
		if authErr != nil {
			return authErr
		}
		owner := pr.User.Name
		if query := r.URL.Query(); query.Has("teamId") {
			t, err := f.p.Team(r.Context(), pr, query.Get("teamId"))
			if err != nil {
				return err
			}
			owner = t.Name
		}
		return h(w, r, ps, pr, owner)
	}
}

// public is handle for the routes that need no credentials (the login by
// email): counted against the client address's rate limit.
func (f *Face) public(h func(w http.ResponseWriter, r *http.Request) error) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		q := f.limiter.Take("ip:" + api.ClientIP(r))
		api.SetHeaders(w, q, f.now())
		if !q.Allowed {
			return api.RateLimited(q, f.window)
		}
		return h(w, r)
	}
}

// isoTime is the document's timestamp form: 2016-09-23T11:53:38.600Z.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
