// Package web is the platform's small web UI: plain HTML, CSS and
// JavaScript modules embedded in the binary (no build step), served at
// /ui/ on the API listener. The page talks to the platform through the
// same HTTP API the faces serve; /ui/api/ adds only what no face has: a
// sign-in by user name that answers a session token, and a stream of
// change notifications for live views.
//
// The token is kept in the page's memory and sent as a Bearer header,
// never in a cookie: the browser holds no ambient credential another site
// could ride (CSRF). The sign-in itself takes JSON only and refuses
// another origin, so no other site can sign a visitor in either.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// Prefix is where the UI is served.
const Prefix = "/ui"

//go:embed static
var static embed.FS

// Security headers of every UI answer: no inline script or style, nothing
// from elsewhere, never framed.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Sign-in attempts allowed per client address and user per window.
const (
	signinLimit  = 10
	signinWindow = time.Minute
)

// keepAlive is how often the change stream writes when nothing changes, so
// proxies keep it open and a gone client is noticed.
const keepAlive = 25 * time.Second

type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

// UI is the web UI's handler.
type UI struct {
	p       *platform.Platform
	auth    *api.Authenticator
	router  *api.Router
	assets  map[string]*asset // by name under static/
	signins *api.Limiter
}

var assetRef = regexp.MustCompile(`\{\{asset:([a-z0-9._-]+)\}\}`)

// New builds the UI over p.
func New(p *platform.Platform, auth *api.Authenticator, log *slog.Logger) *UI {
	u := &UI{p: p, auth: auth, assets: map[string]*asset{}, signins: api.NewLimiter(signinLimit, signinWindow, nil)}
	entries, _ := fs.ReadDir(static, "static")
	for _, e := range entries {
		b, _ := static.ReadFile("static/" + e.Name())
		u.assets[e.Name()] = newAsset(e.Name(), b)
	}
	// The page names each asset with its content hash: a new binary's
	// page asks for new URLs, and every asset URL can be cached forever.
	if idx := u.assets["index.html"]; idx != nil {
		page := assetRef.ReplaceAllFunc(idx.body, func(m []byte) []byte {
			name := string(assetRef.FindSubmatch(m)[1])
			a := u.assets[name]
			if a == nil {
				return m
			}
			return []byte(Prefix + "/assets/" + name + "?h=" + a.etag)
		})
		u.assets["index.html"] = newAsset("index.html", page)
	}
	a := &api.Adapter{Log: log, Before: func(w http.ResponseWriter, _ *http.Request) { securityHeaders(w.Header()) }}
	u.router = a.NewRouter([]api.Route{
		{Method: "GET", Path: Prefix, Name: "uiIndex", Handle: u.index},
		{Method: "GET", Path: Prefix + "/assets/:name", Name: "uiAsset", Handle: u.asset},
		{Method: "POST", Path: Prefix + "/api/login", Name: "uiSignIn", Handle: u.signIn},
		{Method: "DELETE", Path: Prefix + "/api/login", Name: "uiSignOut", Handle: auth.With(u.signOut)},
		{Method: "GET", Path: Prefix + "/api/changes", Name: "uiChanges", Handle: auth.With(u.changes)},
		{Method: "GET", Path: Prefix + "/api/users", Name: "uiUsers", Handle: auth.With(u.users)},
	})
	return u
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	ctype := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".js" {
		ctype = "text/javascript; charset=utf-8"
	}
	return &asset{body: body, gz: gz.Bytes(), etag: hex.EncodeToString(sum[:8]), ctype: ctype}
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// Handler serves the UI.
func (u *UI) Handler() http.Handler { return u.router }

// Routes lists the UI's routes.
func (u *UI) Routes() []api.Route { return u.router.Routes() }

func (u *UI) index(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	// The page is small and revalidated each time; what it names is immutable.
	return u.serve(w, r, u.assets["index.html"], "no-cache")
}

func (u *UI) asset(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	a := u.assets[ps.ByName("name")]
	if a == nil || ps.ByName("name") == "index.html" {
		return paas.NotFound("no such asset")
	}
	cache := "no-cache"
	if r.URL.Query().Get("h") == a.etag {
		cache = "public, max-age=31536000, immutable"
	}
	return u.serve(w, r, a, cache)
}

func (u *UI) serve(w http.ResponseWriter, r *http.Request, a *asset, cache string) error {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", `"`+a.etag+`"`)
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match == `"`+a.etag+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// signIn takes {user, password} as JSON from this origin only, and answers
// {token, user}: a session token for the page to keep in memory.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		// A form another site posts cannot be JSON without a preflight.
		return paas.BadRequest("sign in with a JSON body (Content-Type: application/json)")
	}
	if o := r.Header.Get("Origin"); o != "" {
		if ou, err := url.Parse(o); err != nil || ou.Host != r.Host {
			return paas.Forbidden("sign-in from another origin (%s) is refused", o)
		}
	}
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	key := api.ClientIP(r) + "\x00" + paas.NormalizeUserName(body.User)
	if !u.signins.Peek(key).Allowed {
		return paas.RateLimited("too many failed sign-ins for %q; try again in a minute", body.User)
	}
	token, err := u.p.LoginUser(r.Context(), body.User, body.Password)
	if err != nil {
		u.signins.Take(key)
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": token, "user": paas.NormalizeUserName(body.User)})
	return nil
}

func (u *UI) signOut(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	if err := u.p.Logout(r.Context(), pr); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// changes streams one JSON line per change of apps or their units (and
// one at once), until the client goes or its credential does.
func (u *UI) changes(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	changed, stop, err := u.p.Changes(pr)
	if err != nil {
		return err
	}
	defer stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		var line string
		select {
		case <-r.Context().Done():
			return nil
		case <-changed:
			line = `{"changed":true}` + "\n"
		case <-tick.C:
			if err := u.p.StillValid(r.Context(), pr); err != nil {
				return nil // signed out or gone: the stream ends
			}
			line = "\n"
		}
		if _, err := w.Write([]byte(line)); err != nil {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// users lists the accounts for an admin: no face lists users.
func (u *UI) users(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	users, err := u.p.Users(r.Context(), pr)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, x := range users {
		out = append(out, map[string]any{"name": x.Name, "email": x.Email, "confirmed": x.Confirmed, "admin": x.Admin, "created": x.Created})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}
