// Package nodejitsu is the Nodejitsu JSON API face, served at the root path,
// as documented and as the nodejitsu-api 0.6 client and the jitsu CLI use it.
// Every response carries "X-Powered-By: Nodejitsu": the client rejects
// responses without it.
package nodejitsu

import (
	"log/slog"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// Face holds the face's dependencies.
type Face struct {
	p    *paas.Platform
	auth *api.Authenticator
	a    *api.Adapter
}

// PoweredBy sets the header the nodejitsu-api client requires.
func PoweredBy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Powered-By", "Nodejitsu")
}

// Routes registers every route of the face on r.
func Routes(r *httprouter.Router, p *paas.Platform, auth *api.Authenticator, log *slog.Logger) *Face {
	f := &Face{p: p, auth: auth, a: &api.Adapter{Log: log, Before: PoweredBy}}
	h := f.a.Handle

	r.GET("/auth", h(f.getAuth))
	r.GET("/endpoints", h(f.getEndpoints))

	// Users. POST /users/email/taken shares its shape with /users/:user/…,
	// which httprouter cannot tell apart, so it lands on emailTaken with user "email".
	r.POST("/users/:user", h(f.createUser))
	r.GET("/users/:user", h(f.getUser))
	r.PUT("/users/:user", h(f.updateUser))
	r.DELETE("/users/:user", h(f.deleteUser))
	r.GET("/users/:user/available", h(f.userAvailable))
	r.POST("/users/:user/taken", h(f.emailTaken))
	r.POST("/users/:user/confirm", h(f.confirmUser))
	r.POST("/users/:user/forgot", h(f.forgotPassword))

	r.GET("/users/:user/tokens", h(f.listTokens))
	r.POST("/users/:user/tokens", h(f.createToken))
	r.PUT("/users/:user/tokens", h(f.createToken))
	r.PUT("/users/:user/tokens/:token", h(f.createToken))
	r.POST("/users/:user/tokens/:token", h(f.createToken))
	r.DELETE("/users/:user/tokens/:token", h(f.deleteToken))

	r.GET("/users/:user/thirdparty", h(f.listThirdParty))
	r.POST("/users/:user/thirdparty", h(f.createThirdParty))
	r.DELETE("/users/:user/thirdparty/:id", h(f.deleteThirdParty))

	r.GET("/users/:user/keys", h(f.listKeys))
	r.POST("/users/:user/keys", h(f.putKey))
	r.GET("/users/:user/keys/:id", h(f.getKey))
	r.PUT("/users/:user/keys/:id", h(f.putKey))
	r.POST("/users/:user/keys/:id", h(f.putKey))
	r.DELETE("/users/:user/keys/:id", h(f.deleteKey))

	// Apps.
	r.GET("/apps/:user", h(f.listApps))
	r.POST("/apps/:user", h(f.createApp))
	r.PUT("/apps/:user", h(f.updateApp))
	r.GET("/apps/:user/:app", h(f.getApp))
	r.POST("/apps/:user/:app", h(f.createApp))
	r.PUT("/apps/:user/:app", h(f.updateApp))
	r.DELETE("/apps/:user/:app", h(f.deleteApp))
	r.POST("/apps/:user/:app/available", h(f.appAvailable))
	r.POST("/apps/:user/:app/start", h(f.appAction((*paas.Platform).StartApp)))
	r.POST("/apps/:user/:app/stop", h(f.appAction((*paas.Platform).StopApp)))
	r.POST("/apps/:user/:app/restart", h(f.appAction((*paas.Platform).RestartApp)))
	r.GET("/apps/:user/:app/cloud", h(f.getCloud))
	r.POST("/apps/:user/:app/cloud", h(f.setCloud))
	r.GET("/apps/:user/:app/logs", h(f.streamLogs))

	// Snapshots. GET …/snapshots/:id.tgz downloads the archive.
	r.GET("/apps/:user/:app/snapshots", h(f.listSnapshots))
	r.GET("/apps/:user/:app/snapshots/:id", h(f.getSnapshot))
	r.POST("/apps/:user/:app/snapshots/:id", h(f.uploadSnapshot))
	r.PUT("/apps/:user/:app/snapshots/:id", h(f.uploadSnapshot))
	r.DELETE("/apps/:user/:app/snapshots/:id", h(f.deleteSnapshot))
	r.POST("/apps/:user/:app/snapshots/:id/activate", h(f.activateSnapshot))

	// Databases.
	r.GET("/databases/:user", h(f.listDatabases))
	r.GET("/databases/:user/:db", h(f.getDatabase))
	r.POST("/databases/:user/:db", h(f.createDatabase))
	r.DELETE("/databases/:user/:db", h(f.deleteDatabase))

	// Logs: POST with {from, until, rows} (0.4 clients), GET …[/:amount] (0.5+).
	r.POST("/logs/:user", h(f.userLogs))
	r.GET("/logs/:user", h(f.userLogs))
	r.POST("/logs/:user/:app", h(f.appLogs))
	r.GET("/logs/:user/:app", h(f.appLogs))
	r.GET("/logs/:user/:app/:amount", h(f.appLogs))
	return f
}

// Adapter exposes the face's error writer for the router's fallbacks.
func (f *Face) Adapter() *api.Adapter { return f.a }

// principal authenticates and checks the caller may act for the :user in the path.
func (f *Face) principal(r *http.Request, ps httprouter.Params) (*paas.Principal, string, error) {
	p, err := f.auth.Require(r)
	if err != nil {
		return nil, "", err
	}
	owner := paas.NormalizeUserName(ps.ByName("user"))
	if err := p.CanActFor(owner); err != nil {
		return nil, "", err
	}
	if p.User.Name != owner {
		// An admin acting for another user: the user must exist.
		if _, err := f.p.Store.User(owner); err != nil {
			return nil, "", err
		}
	}
	return p, owner, nil
}

// app authenticates and returns the app named in the path, owned by :user.
func (f *Face) app(r *http.Request, ps httprouter.Params) (paas.App, error) {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return paas.App{}, err
	}
	return f.p.Store.App(owner, ps.ByName("app"))
}

// accountPrincipal is principal for profile, password and token routes,
// which API tokens may not use.
func (f *Face) accountPrincipal(r *http.Request, ps httprouter.Params) (*paas.Principal, string, error) {
	p, owner, err := f.principal(r, ps)
	if err != nil {
		return nil, "", err
	}
	if err := p.CanManageAccount(owner); err != nil {
		return nil, "", err
	}
	return p, owner, nil
}
