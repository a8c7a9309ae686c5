package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// Route is one entry of a face's route table: the face's routes.go lists
// them all, and its tests walk the same list.
type Route struct {
	Method string
	Path   string // an httprouter pattern
	Name   string // the handler's name, reported to route probes
	Handle HandlerFunc
}

// Router is one face's HTTP handler. httprouter v1.3 cannot hold a static
// segment beside a parameter in one tree (/api/me beside
// /api/:workspace/config/:type panics), so a face's routes come in groups,
// each a tree of its own, tried in order: the first group that has a route
// for the request's method and path serves it. A face puts the routes with
// the static segment in a group before the one with the parameter, and says
// in its routes.go which collision each extra group exists for.
type Router struct {
	groups []*httprouter.Router
	routes []Route
	a      *Adapter
}

// NewRouter builds a face's router from its route groups. Every answer the
// router gives itself (404, 405) goes through a, so it has the face's
// headers and error shape; the router never redirects, answers OPTIONS or
// changes a method (a redirect would turn POST /logs/:user/ into a GET).
func (a *Adapter) NewRouter(groups ...[]Route) *Router {
	rt := &Router{a: a}
	for _, g := range groups {
		r := httprouter.New()
		r.RedirectTrailingSlash = false
		r.RedirectFixedPath = false
		r.HandleOPTIONS = false
		r.HandleMethodNotAllowed = true
		r.NotFound = a.NotFoundHandler()
		r.MethodNotAllowed = a.MethodNotAllowedHandler()
		for _, route := range g {
			r.Handle(route.Method, route.Path, a.handleNamed(route.Name, route.Handle))
			rt.routes = append(rt.routes, route)
		}
		rt.groups = append(rt.groups, r)
	}
	return rt
}

// Routes lists every route of the router, group by group.
func (rt *Router) Routes() []Route { return rt.routes }

// ServeHTTP serves the request with the first group that has its route; a
// path that some group knows under another method is 405 there; anything
// else is the last group's 404.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	for _, g := range rt.groups {
		if h, _, _ := g.Lookup(r.Method, path); h != nil {
			g.ServeHTTP(w, r)
			return
		}
	}
	for _, g := range rt.groups {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead} {
			if h, _, _ := g.Lookup(m, path); h != nil {
				g.ServeHTTP(w, r) // its MethodNotAllowed answers
				return
			}
		}
	}
	rt.a.NotFoundHandler().ServeHTTP(w, r)
}

// StripTrailingSlash serves "/x/" as "/x": the documents write some paths
// with a trailing slash (POST /logs/:user-id/).
func StripTrailingSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
			r.URL.Path = strings.TrimRight(r.URL.Path, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			r.URL.RawPath = ""
		}
		h.ServeHTTP(w, r)
	})
}

type probeKey struct{}

// WithRouteProbe returns ctx carrying probe: the route that a request with
// this context reaches writes its name there and answers 204 without
// running its handler. Tests use it to prove every route of a table
// reaches its own handler, with no side effects.
func WithRouteProbe(ctx context.Context, probe *string) context.Context {
	return context.WithValue(ctx, probeKey{}, probe)
}

func reportRoute(w http.ResponseWriter, r *http.Request, name string) bool {
	p, ok := r.Context().Value(probeKey{}).(*string)
	if ok {
		*p = name
		w.WriteHeader(http.StatusNoContent)
	}
	return ok
}
