// Package tsuru is the Tsuru API face (document 003), served under
// /tsuru, as the tsuru CLI 0.17/0.18 uses it (clients.md wins where it and
// the document differ). Its specifics, all here: every answer carries
// Supported-Tsuru; apps are addressed by their platform-wide name; users
// log in by email and get a session token; streamed answers are one JSON
// object per line ({"Message"} or a final {"Error"}), and a deploy's is
// plain text ending "\nOK\n".
package tsuru

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// Prefix is where the face is served.
const Prefix = "/tsuru"

// SupportedClient is the oldest client version the face supports (the
// Supported-Tsuru header): tsuru-client 0.17 speaks the document's API.
const SupportedClient = "0.17.1"

// Login attempts allowed per client address and email per window.
const (
	loginLimit  = 20
	loginWindow = time.Minute
)

// Face holds the face's dependencies.
type Face struct {
	p       *platform.Platform
	auth    *api.Authenticator
	a       *api.Adapter
	router  *api.Router
	logins  *api.Limiter // failed logins per address and email
	signups *api.Limiter // sign-ups and resets per address: each costs a hash and a mail
	window  time.Duration
}

// Option changes a face setting (tests raise the sign-up limit).
type Option func(*Face)

// WithSignupLimit sets the sign-ups and reset requests allowed per client
// address per window.
func WithSignupLimit(n int, window time.Duration) Option {
	return func(f *Face) { f.signups, f.window = api.NewLimiter(n, window, nil), window }
}

// New returns the face.
func New(p *platform.Platform, auth *api.Authenticator, log *slog.Logger, opts ...Option) *Face {
	f := &Face{p: p, auth: auth, logins: api.NewLimiter(loginLimit, loginWindow, nil),
		signups: api.NewLimiter(10, time.Minute, nil), window: time.Minute,
		a: &api.Adapter{Log: log, Before: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Supported-Tsuru", SupportedClient)
		}}}
	for _, o := range opts {
		o(f)
	}
	// httprouter cannot hold /users/info beside /users/:email/tokens: the
	// static user paths are a group of their own, tried first.
	// Likewise …/instances/:instance/status beside …/instances/:instance/:app.
	f.router = f.a.NewRouter(f.staticUserRoutes(), []api.Route{
		{Method: "GET", Path: Prefix + "/services/instances/:instance/status", Name: "instanceStatus", Handle: f.auth.With(f.instance(f.instanceStatus))},
	}, []api.Route{
		// …/services/:service/doc beside …/services/:service/:team.
		{Method: "GET", Path: Prefix + "/services/:service/doc", Name: "serviceDoc", Handle: f.auth.With(f.serviceDoc)},
		{Method: "PUT", Path: Prefix + "/services/:service/doc", Name: "setServiceDoc", Handle: f.auth.With(f.setServiceDoc)},
	}, f.staticServiceRoutes(), f.routes())
	return f
}

func (f *Face) staticUserRoutes() []api.Route {
	w := f.auth.With
	return []api.Route{
		{Method: "DELETE", Path: Prefix + "/users/tokens", Name: "logout", Handle: w(f.logout)},
		{Method: "GET", Path: Prefix + "/users/info", Name: "userInfo", Handle: w(f.userInfo)},
		{Method: "PUT", Path: Prefix + "/users/password", Name: "changePassword", Handle: w(f.changePassword)},
		{Method: "POST", Path: Prefix + "/users/keys", Name: "addKey", Handle: w(f.addKey)},
		{Method: "DELETE", Path: Prefix + "/users/keys", Name: "removeKey", Handle: w(f.removeKey)},
		{Method: "GET", Path: Prefix + "/users/api-key", Name: "showAPIKey", Handle: w(f.apiKey(false))},
		{Method: "POST", Path: Prefix + "/users/api-key", Name: "regenerateAPIKey", Handle: w(f.apiKey(true))},
	}
}

// staticServiceRoutes: /services/instances beside /services/:name.
func (f *Face) staticServiceRoutes() []api.Route {
	w := f.auth.With
	return []api.Route{
		{Method: "GET", Path: Prefix + "/services/instances", Name: "listInstances", Handle: w(f.listInstances)},
		{Method: "POST", Path: Prefix + "/services/instances", Name: "createInstance", Handle: w(f.createInstance)},
		{Method: "GET", Path: Prefix + "/services/instances/:instance", Name: "instanceInfo", Handle: w(f.instance(f.instanceInfo))},
		{Method: "DELETE", Path: Prefix + "/services/instances/:instance", Name: "removeInstance", Handle: w(f.instance(f.removeInstance))},
		{Method: "PUT", Path: Prefix + "/services/instances/:instance/:app", Name: "bindInstance", Handle: w(f.instance(f.bindInstance))},
		{Method: "DELETE", Path: Prefix + "/services/instances/:instance/:app", Name: "unbindInstance", Handle: w(f.instance(f.unbindInstance))},
	}
}

func (f *Face) routes() []api.Route {
	w := f.auth.With
	return []api.Route{
		{Method: "GET", Path: Prefix + "/auth/scheme", Name: "authScheme", Handle: f.authScheme},
		{Method: "GET", Path: Prefix + "/info", Name: "info", Handle: f.info},

		// Users.
		{Method: "POST", Path: Prefix + "/users", Name: "createUser", Handle: f.createUser},
		{Method: "DELETE", Path: Prefix + "/users", Name: "removeUser", Handle: w(f.removeUser)},
		{Method: "POST", Path: Prefix + "/users/:email/tokens", Name: "login", Handle: f.login},
		{Method: "POST", Path: Prefix + "/users/:email/password", Name: "resetPassword", Handle: f.resetPassword},

		// Teams.
		{Method: "GET", Path: Prefix + "/teams", Name: "listTeams", Handle: w(f.listTeams)},
		{Method: "POST", Path: Prefix + "/teams", Name: "createTeam", Handle: w(f.createTeam)},
		{Method: "GET", Path: Prefix + "/teams/:team", Name: "teamInfo", Handle: w(f.teamInfo)},
		{Method: "DELETE", Path: Prefix + "/teams/:team", Name: "removeTeam", Handle: w(f.removeTeam)},
		{Method: "PUT", Path: Prefix + "/teams/:team/:user", Name: "addTeamUser", Handle: w(f.addTeamUser)},
		{Method: "DELETE", Path: Prefix + "/teams/:team/:user", Name: "removeTeamUser", Handle: w(f.removeTeamUser)},

		// Apps.
		{Method: "GET", Path: Prefix + "/apps", Name: "listApps", Handle: w(f.listApps)},
		{Method: "POST", Path: Prefix + "/apps", Name: "createApp", Handle: w(f.createApp)},
		{Method: "GET", Path: Prefix + "/apps/:app", Name: "appInfo", Handle: w(f.app(f.appInfo))},
		{Method: "DELETE", Path: Prefix + "/apps/:app", Name: "removeApp", Handle: w(f.app(f.removeApp))},
		{Method: "GET", Path: Prefix + "/apps/:app/start", Name: "startApp", Handle: w(f.app(f.lifecycle((*platform.Platform).StartApp, "started")))},
		{Method: "POST", Path: Prefix + "/apps/:app/start", Name: "startApp", Handle: w(f.app(f.lifecycle((*platform.Platform).StartApp, "started")))},
		{Method: "GET", Path: Prefix + "/apps/:app/stop", Name: "stopApp", Handle: w(f.app(f.lifecycle((*platform.Platform).StopApp, "stopped")))},
		{Method: "POST", Path: Prefix + "/apps/:app/stop", Name: "stopApp", Handle: w(f.app(f.lifecycle((*platform.Platform).StopApp, "stopped")))},
		{Method: "GET", Path: Prefix + "/apps/:app/restart", Name: "restartApp", Handle: w(f.app(f.lifecycle((*platform.Platform).RestartApp, "restarted")))},
		{Method: "POST", Path: Prefix + "/apps/:app/restart", Name: "restartApp", Handle: w(f.app(f.lifecycle((*platform.Platform).RestartApp, "restarted")))},
		{Method: "GET", Path: Prefix + "/apps/:app/env", Name: "getEnv", Handle: w(f.app(f.getEnv))},
		{Method: "POST", Path: Prefix + "/apps/:app/env", Name: "setEnv", Handle: w(f.app(f.setEnv))},
		{Method: "DELETE", Path: Prefix + "/apps/:app/env", Name: "unsetEnv", Handle: w(f.app(f.unsetEnv))},
		{Method: "GET", Path: Prefix + "/apps/:app/log", Name: "appLog", Handle: w(f.app(f.appLog))},
		{Method: "PUT", Path: Prefix + "/apps/:app/units", Name: "addUnits", Handle: w(f.app(f.changeUnits(+1)))},
		{Method: "DELETE", Path: Prefix + "/apps/:app/units", Name: "removeUnits", Handle: w(f.app(f.changeUnits(-1)))},
		{Method: "POST", Path: Prefix + "/apps/:app/deploy", Name: "deploy", Handle: w(f.app(f.deploy))},
		{Method: "POST", Path: Prefix + "/apps/:app/deploy/rollback", Name: "rollback", Handle: w(f.app(f.rollback))},
		{Method: "GET", Path: Prefix + "/apps/:app/quota", Name: "appQuota", Handle: w(f.app(f.appQuota))},
		{Method: "POST", Path: Prefix + "/apps/:app/run", Name: "run", Handle: w(f.app(f.run))},
		{Method: "POST", Path: Prefix + "/apps/:app/pool", Name: "changePool", Handle: w(f.app(f.changePool))},
		{Method: "PUT", Path: Prefix + "/swap", Name: "swap", Handle: w(f.swap)},

		// Deploys.
		{Method: "GET", Path: Prefix + "/deploys", Name: "listDeploys", Handle: w(f.listDeploys)},
		{Method: "GET", Path: Prefix + "/deploys/:id", Name: "deployInfo", Handle: w(f.deployInfo)},

		// Services (built-in: the database servers the platform runs).
		{Method: "GET", Path: Prefix + "/services", Name: "listServices", Handle: w(f.listServices)},
		{Method: "POST", Path: Prefix + "/services", Name: "createService", Handle: w(f.createService)},
		{Method: "PUT", Path: Prefix + "/services", Name: "updateService", Handle: w(f.updateService)},
		{Method: "GET", Path: Prefix + "/services/:service", Name: "serviceInfo", Handle: w(f.serviceInfo)},
		{Method: "DELETE", Path: Prefix + "/services/:service", Name: "removeService", Handle: w(f.removeService)},
		{Method: "PUT", Path: Prefix + "/services/:service/:team", Name: "grantService", Handle: w(f.serviceTeam(true))},
		{Method: "DELETE", Path: Prefix + "/services/:service/:team", Name: "revokeService", Handle: w(f.serviceTeam(false))},

		// The installation.
		{Method: "GET", Path: Prefix + "/healers", Name: "listHealers", Handle: w(f.listHealers)},
		{Method: "GET", Path: Prefix + "/healers/:healer", Name: "runHealer", Handle: w(f.runHealer)},
		{Method: "GET", Path: Prefix + "/quota/:user", Name: "userQuota", Handle: w(f.userQuota)},
		{Method: "GET", Path: Prefix + "/platforms", Name: "listPlatforms", Handle: w(f.listPlatforms)},
		{Method: "GET", Path: Prefix + "/pools", Name: "listPools", Handle: w(f.listPools)},
	}
}

// Handler serves the face.
func (f *Face) Handler() http.Handler { return f.router }

// Routes lists every route of the face.
func (f *Face) Routes() []api.Route { return f.router.Routes() }

// Adapter exposes the face's error writer.
func (f *Face) Adapter() *api.Adapter { return f.a }
