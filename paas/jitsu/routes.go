// Package jitsu is the Jitsu management API face (document 002), served at
// /api, as jitsu-cli 1.10 and the Jitsu console use it: workspaces (the
// caller's own and its teams'), config objects (streams, destinations,
// functions, links) checked against the JSON Schemas it serves, and the
// caller's API keys, used as "Authorization: Bearer <keyId>:<secret>".
// Its specifics, all here: JSON bodies are read whatever their
// Content-Type; schema routes need no credentials; /api/me answers
// {"auth":false} to a caller without any.
package jitsu

import (
	"log/slog"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// Prefix is where the face is served.
const Prefix = "/api"

// Face holds the face's dependencies.
type Face struct {
	p      *platform.Platform
	auth   *api.Authenticator
	a      *api.Adapter
	router *api.Router
}

// New returns the face.
func New(p *platform.Platform, auth *api.Authenticator, log *slog.Logger) *Face {
	f := &Face{p: p, auth: auth, a: &api.Adapter{Log: log}}
	w := f.auth.With
	ws := f.inWorkspace
	// httprouter cannot hold /api/me and the other static paths beside
	// /api/:workspace/…: they are a group of their own, tried first.
	f.router = f.a.NewRouter([]api.Route{
		{Method: "GET", Path: Prefix + "/schema", Name: "schemas", Handle: f.schemas},
		{Method: "GET", Path: Prefix + "/schema/:type", Name: "schema", Handle: f.schema},
		{Method: "GET", Path: Prefix + "/schema/:type/:subtype", Name: "subSchema", Handle: f.schema},
		{Method: "GET", Path: Prefix + "/me", Name: "me", Handle: f.me},
		{Method: "GET", Path: Prefix + "/workspace", Name: "workspaces", Handle: w(f.workspaces)},
		{Method: "GET", Path: Prefix + "/user/keys", Name: "listKeys", Handle: w(f.listKeys)},
		{Method: "POST", Path: Prefix + "/user/keys", Name: "setKeys", Handle: w(f.setKeys)},
		// Ingest, in Jitsu's style: the write key authenticates.
		{Method: "POST", Path: Prefix + "/s/:type", Name: "ingest", Handle: f.ingest},
		{Method: "POST", Path: Prefix + "/s/:type/:event", Name: "ingestS2S", Handle: f.ingest},
	}, []api.Route{
		{Method: "GET", Path: Prefix + "/:workspace/config/:type", Name: "listConfig", Handle: ws(f.listConfig)},
		{Method: "POST", Path: Prefix + "/:workspace/config/:type", Name: "createConfig", Handle: ws(f.createConfig)},
		// Links are also changed and deleted at the type's path, with
		// the id in the body or the query.
		{Method: "PUT", Path: Prefix + "/:workspace/config/:type", Name: "updateLink", Handle: ws(f.updateLink)},
		{Method: "DELETE", Path: Prefix + "/:workspace/config/:type", Name: "deleteLinks", Handle: ws(f.deleteLinks)},
		{Method: "GET", Path: Prefix + "/:workspace/config/:type/:id", Name: "getConfig", Handle: ws(f.getConfig)},
		{Method: "PUT", Path: Prefix + "/:workspace/config/:type/:id", Name: "updateConfig", Handle: ws(f.updateConfig)},
		{Method: "DELETE", Path: Prefix + "/:workspace/config/:type/:id", Name: "deleteConfig", Handle: ws(f.deleteConfig)},
	})
	return f
}

// Handler serves the face.
func (f *Face) Handler() http.Handler { return f.router }

// Routes lists every route of the face.
func (f *Face) Routes() []api.Route { return f.router.Routes() }

// workspaceFunc is a route in a workspace: it runs with the caller and the
// workspace's owner.
type workspaceFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error

// inWorkspace authenticates and resolves :workspace (an id or a slug) to
// an owner the caller may act for; others are 404.
func (f *Face) inWorkspace(h workspaceFunc) api.HandlerFunc {
	return f.auth.With(func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
		owner, err := f.p.WorkspaceOwner(r.Context(), pr, ps.ByName("workspace"))
		if err != nil {
			return err
		}
		return h(w, r, ps, pr, owner)
	})
}
