// Package nodejitsu is the Nodejitsu JSON API face, served at the root path,
// as documented and as the nodejitsu-api 0.6 client and the jitsu CLI use it.
// Every response carries "X-Powered-By: Nodejitsu": the client rejects
// responses without it.
//
// The face only translates: HTTP requests into calls on the platform
// service, and the service's results into the document's shapes. Who may
// do what is the service's business. The :user of /apps/:user/…,
// /databases/:user/… and /logs/:user/… is an owner: a user or a team the
// caller belongs to.
package nodejitsu

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// Face holds the face's dependencies.
type Face struct {
	p       *platform.Platform
	auth    *api.Authenticator
	a       *api.Adapter
	router  *api.Router
	signups *api.Limiter  // sign-ups and reset requests per client address: each costs a hash and a mail
	sockets primusSockets // the live tails open, per user

	signupWindow time.Duration
}

// Sign-ups (and password-reset requests) allowed per client address per
// window, by default.
const (
	DefaultSignupLimit  = 10
	DefaultSignupWindow = time.Minute
)

// Option changes a face setting.
type Option func(*options)

type options struct {
	signupLimit  int
	signupWindow time.Duration
}

// WithSignupLimit sets how many sign-ups and reset requests one client
// address may make per window (tests that sign up many users raise it).
func WithSignupLimit(n int, window time.Duration) Option {
	return func(o *options) { o.signupLimit, o.signupWindow = n, window }
}

// PoweredBy sets the header the nodejitsu-api client requires.
func PoweredBy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Powered-By", "Nodejitsu")
}

// New returns the face; its Handler serves every route below.
func New(p *platform.Platform, auth *api.Authenticator, log *slog.Logger, opts ...Option) *Face {
	o := options{signupLimit: DefaultSignupLimit, signupWindow: DefaultSignupWindow}
	for _, opt := range opts {
		opt(&o)
	}
	f := &Face{p: p, auth: auth, a: &api.Adapter{Log: log, Before: PoweredBy},
		signups: api.NewLimiter(o.signupLimit, o.signupWindow, nil), signupWindow: o.signupWindow}
	// POST /users/email/taken has a static segment where every other
	// /users/… route has :user, so it is a group of its own, tried first.
	f.router = f.a.NewRouter([]api.Route{
		{Method: "POST", Path: "/users/email/taken", Name: "emailTaken", Handle: f.emailTaken},
	}, f.routes())
	return f
}

// Handler serves the face (unknown paths answer in its error shape).
func (f *Face) Handler() http.Handler { return f.router }

// Routes lists every route of the face.
func (f *Face) Routes() []api.Route { return f.router.Routes() }

// Adapter exposes the face's error writer for the server's fallbacks.
func (f *Face) Adapter() *api.Adapter { return f.a }

func (f *Face) routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/auth", Name: "getAuth", Handle: f.auth.With(f.getAuth)},
		{Method: "GET", Path: "/endpoints", Name: "getEndpoints", Handle: f.getEndpoints},

		// Users and their credentials.
		{Method: "POST", Path: "/users/:user", Name: "createUser", Handle: f.createUser},
		{Method: "GET", Path: "/users/:user", Name: "getUser", Handle: f.auth.With(f.getUser)},
		{Method: "PUT", Path: "/users/:user", Name: "updateUser", Handle: f.auth.With(f.updateUser)},
		{Method: "DELETE", Path: "/users/:user", Name: "deleteUser", Handle: f.auth.With(f.deleteUser)},
		{Method: "GET", Path: "/users/:user/available", Name: "userAvailable", Handle: f.userAvailable},
		{Method: "POST", Path: "/users/:user/confirm", Name: "confirmUser", Handle: f.confirmUser},
		{Method: "POST", Path: "/users/:user/forgot", Name: "forgotPassword", Handle: f.forgotPassword},

		{Method: "GET", Path: "/users/:user/tokens", Name: "listTokens", Handle: f.auth.With(f.listTokens)},
		{Method: "POST", Path: "/users/:user/tokens", Name: "createToken", Handle: f.auth.With(f.createToken)},
		{Method: "PUT", Path: "/users/:user/tokens", Name: "createToken", Handle: f.auth.With(f.createToken)},
		{Method: "PUT", Path: "/users/:user/tokens/:token", Name: "createToken", Handle: f.auth.With(f.createToken)},
		{Method: "POST", Path: "/users/:user/tokens/:token", Name: "createToken", Handle: f.auth.With(f.createToken)},
		{Method: "DELETE", Path: "/users/:user/tokens/:token", Name: "deleteToken", Handle: f.auth.With(f.deleteToken)},

		{Method: "GET", Path: "/users/:user/thirdparty", Name: "listThirdParty", Handle: f.auth.With(f.listThirdParty)},
		{Method: "POST", Path: "/users/:user/thirdparty", Name: "createThirdParty", Handle: f.auth.With(f.createThirdParty)},
		{Method: "DELETE", Path: "/users/:user/thirdparty/:id", Name: "deleteThirdParty", Handle: f.auth.With(f.deleteThirdParty)},

		{Method: "GET", Path: "/users/:user/keys", Name: "listKeys", Handle: f.auth.With(f.listKeys)},
		{Method: "POST", Path: "/users/:user/keys", Name: "putKey", Handle: f.auth.With(f.putKey)},
		{Method: "GET", Path: "/users/:user/keys/:id", Name: "getKey", Handle: f.auth.With(f.getKey)},
		{Method: "PUT", Path: "/users/:user/keys/:id", Name: "putKey", Handle: f.auth.With(f.putKey)},
		{Method: "POST", Path: "/users/:user/keys/:id", Name: "putKey", Handle: f.auth.With(f.putKey)},
		{Method: "DELETE", Path: "/users/:user/keys/:id", Name: "deleteKey", Handle: f.auth.With(f.deleteKey)},

		// Apps.
		{Method: "GET", Path: "/apps/:user", Name: "listApps", Handle: f.auth.With(f.listApps)},
		{Method: "POST", Path: "/apps/:user", Name: "createApp", Handle: f.auth.With(f.createApp)},
		{Method: "PUT", Path: "/apps/:user", Name: "updateApp", Handle: f.auth.With(f.updateApp)},
		{Method: "GET", Path: "/apps/:user/:app", Name: "getApp", Handle: f.auth.With(f.getApp)},
		{Method: "POST", Path: "/apps/:user/:app", Name: "createApp", Handle: f.auth.With(f.createApp)},
		{Method: "PUT", Path: "/apps/:user/:app", Name: "updateApp", Handle: f.auth.With(f.updateApp)},
		{Method: "DELETE", Path: "/apps/:user/:app", Name: "deleteApp", Handle: f.auth.With(f.deleteApp)},
		{Method: "POST", Path: "/apps/:user/:app/available", Name: "appAvailable", Handle: f.auth.With(f.appAvailable)},
		{Method: "POST", Path: "/apps/:user/:app/start", Name: "startApp", Handle: f.auth.With(f.appAction((*platform.Platform).StartApp))},
		{Method: "POST", Path: "/apps/:user/:app/stop", Name: "stopApp", Handle: f.auth.With(f.appAction((*platform.Platform).StopApp))},
		{Method: "POST", Path: "/apps/:user/:app/restart", Name: "restartApp", Handle: f.auth.With(f.appAction((*platform.Platform).RestartApp))},
		{Method: "GET", Path: "/apps/:user/:app/cloud", Name: "getCloud", Handle: f.auth.With(f.getCloud)},
		{Method: "POST", Path: "/apps/:user/:app/cloud", Name: "setCloud", Handle: f.auth.With(f.setCloud)},
		{Method: "GET", Path: "/apps/:user/:app/logs", Name: "streamLogs", Handle: f.auth.With(f.streamLogs)},

		// Snapshots. GET …/snapshots/:id.tgz downloads the archive.
		{Method: "GET", Path: "/apps/:user/:app/snapshots", Name: "listSnapshots", Handle: f.auth.With(f.listSnapshots)},
		{Method: "GET", Path: "/apps/:user/:app/snapshots/:id", Name: "getSnapshot", Handle: f.auth.With(f.getSnapshot)},
		{Method: "POST", Path: "/apps/:user/:app/snapshots/:id", Name: "uploadSnapshot", Handle: f.auth.With(f.uploadSnapshot)},
		{Method: "PUT", Path: "/apps/:user/:app/snapshots/:id", Name: "uploadSnapshot", Handle: f.auth.With(f.uploadSnapshot)},
		{Method: "DELETE", Path: "/apps/:user/:app/snapshots/:id", Name: "deleteSnapshot", Handle: f.auth.With(f.deleteSnapshot)},
		{Method: "POST", Path: "/apps/:user/:app/snapshots/:id/activate", Name: "activateSnapshot", Handle: f.auth.With(f.activateSnapshot)},

		// Databases.
		{Method: "GET", Path: "/databases/:user", Name: "listDatabases", Handle: f.auth.With(f.listDatabases)},
		{Method: "GET", Path: "/databases/:user/:db", Name: "getDatabase", Handle: f.auth.With(f.getDatabase)},
		{Method: "POST", Path: "/databases/:user/:db", Name: "createDatabase", Handle: f.auth.With(f.createDatabase)},
		{Method: "DELETE", Path: "/databases/:user/:db", Name: "deleteDatabase", Handle: f.auth.With(f.deleteDatabase)},

		// Logs: POST with {from, until, rows} (0.4 clients), GET …[/:amount] (0.5+).
		{Method: "POST", Path: "/logs/:user", Name: "userLogs", Handle: f.auth.With(f.userLogs)},
		{Method: "GET", Path: "/logs/:user", Name: "userLogs", Handle: f.auth.With(f.userLogs)},
		{Method: "POST", Path: "/logs/:user/:app", Name: "appLogs", Handle: f.auth.With(f.appLogs)},
		// The 0.5+ client's live tail (a websocket; see primus.go).
		{Method: "GET", Path: "/primus", Name: "primus", Handle: f.auth.With(f.primus)},
		// The 0.5+ client's listing: an array, newest first (clients.md).
		{Method: "GET", Path: "/logs/:user/:app", Name: "appLogLines", Handle: f.auth.With(f.appLogLines)},
		{Method: "GET", Path: "/logs/:user/:app/:amount", Name: "appLogLines", Handle: f.auth.With(f.appLogLines)},
	}
}

// writeList answers {"<key>": [view(item), …]}, an empty list for none.
func writeList[T any](w http.ResponseWriter, key string, items []T, view func(T) map[string]any) error {
	out := make([]any, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: out})
	return nil
}

// limitSignups counts a sign-up or reset request of the client's address.
func (f *Face) limitSignups(r *http.Request) error {
	if q := f.signups.Take(api.ClientIP(r)); !q.Allowed {
		return api.RateLimited(q, f.signupWindow)
	}
	return nil
}
