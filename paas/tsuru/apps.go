package tsuru

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// The one platform and pool of this installation, as Tsuru names them.
const (
	platformName = "node"
	defaultPool  = "default"
)

// appHandler is a route on one app, found by its platform-wide name.
type appHandler func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, a paas.App) error

func (f *Face) app(h appHandler) api.AuthedFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
		a, err := f.p.AppNamed(r.Context(), pr, ps.ByName("app"))
		if err != nil {
			return err
		}
		return h(w, r, ps, pr, a)
	}
}

// unitView is a unit as the client decodes it.
type unitView struct {
	ID          string
	Name        string
	Status      string
	ProcessName string
	Ip          string
}

type planView struct {
	Name     string `json:"name"`
	Memory   int64  `json:"memory"`
	Swap     int64  `json:"swap"`
	CpuShare int    `json:"cpushare"`
	Default  bool   `json:"default"`
	Router   string `json:"router"`
}

type lockView struct {
	Locked      bool
	Reason      string
	Owner       string
	AcquireDate string
}

// appView is an app as the client decodes it (a wrong type fails the
// whole command): units, teams, cname, plan, lock and ip, the address
// users reach it at.
type appView struct {
	Name       string     `json:"name"`
	Platform   string     `json:"platform"`
	Repository string     `json:"repository"`
	Teams      []string   `json:"teams"`
	Units      []unitView `json:"units"`
	Ip         string     `json:"ip"`
	Cname      []string   `json:"cname"`
	Owner      string     `json:"owner"`
	TeamOwner  string     `json:"teamowner"`
	Deploys    uint       `json:"deploys"`
	Plan       planView   `json:"plan"`
	Lock       lockView   `json:"lock"`
	Pool       string     `json:"pool"`
	State      string     `json:"state"`
}

func (f *Face) host(a paas.App) string { return a.Subdomain + "." + f.p.Config().Domain }

func (f *Face) view(ctx context.Context, pr *paas.Principal, a paas.App) appView {
	rel, ok, err := f.p.Release(ctx, pr, a.Owner, a.Name)
	deploys, _ := f.p.SnapshotCount(ctx, pr, a.Owner, a.Name)
	return f.viewOf(a, rel, ok && err == nil, deploys)
}

// viewOf is the app's view from what serves it and its snapshot count.
func (f *Face) viewOf(a paas.App, rel paas.Release, serving bool, deploys int) appView {
	v := appView{Name: a.Name, Platform: platformName, Teams: []string{a.Owner}, Units: []unitView{}, Ip: f.host(a),
		Cname: []string{}, Owner: a.Owner, TeamOwner: a.Owner, Pool: poolOf(a), State: string(a.State),
		Plan: planView{Name: "default", Memory: int64(a.EffectiveMemoryMB()) << 20, CpuShare: 1024, Default: true},
		Lock: lockView{AcquireDate: time.Time{}.Format(time.RFC3339)}}
	if serving {
		for _, u := range rel.Units {
			status := "stopped"
			if u.Running {
				status = "started"
			}
			v.Units = append(v.Units, unitView{ID: shortID(u.ID), Name: fmt.Sprintf("%s/%d", a.Name, u.Index),
				Status: status, ProcessName: "web", Ip: v.Ip})
		}
	}
	v.Deploys = uint(deploys)
	return v
}

// shortID is a unit id as Docker shows it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (f *Face) listApps(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	apps, err := f.p.VisibleAppListing(r.Context(), pr)
	if err != nil {
		return err
	}
	if len(apps) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		out = append(out, f.viewOf(a.App, a.Release, a.Serving, a.Snapshots))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createApp answers map[string]string, as the client decodes it. The
// owner is teamOwner (a team of the caller's) or the caller.
func (f *Face) createApp(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Name      string `json:"name"`
		Platform  string `json:"platform"`
		TeamOwner string `json:"teamOwner"`
		Pool      string `json:"pool"`
		Plan      struct {
			Name string `json:"name"`
		} `json:"plan"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Platform != "" && body.Platform != platformName {
		return paas.BadRequest("unknown platform %q: this platform runs %q apps", body.Platform, platformName)
	}
	if body.Plan.Name != "" && body.Plan.Name != "default" {
		return paas.BadRequest("unknown plan %q (plans: default)", body.Plan.Name)
	}
	owner, err := f.ownerFor(r.Context(), pr, body.TeamOwner)
	if err != nil {
		return err
	}
	spec := paas.AppSpec{Name: body.Name}
	if body.Pool != "" {
		spec.Pool = &body.Pool
	}
	a, err := f.p.CreateApp(r.Context(), pr, owner, spec)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"status": "success", "repository_url": "", "ip": f.host(a)})
	return nil
}

func (f *Face) appInfo(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	api.WriteJSON(w, http.StatusOK, f.view(r.Context(), pr, a))
	return nil
}

func (f *Face) removeApp(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	s := newStream(w)
	if _, err := f.p.DeleteApp(r.Context(), pr, a.Owner, a.Name); err != nil {
		return err
	}
	s.message("app %q removed: its units, code and routes are gone", a.Name)
	return nil
}

// lifecycle is start, stop or restart, streamed as the client reads it.
func (f *Face) lifecycle(action func(*platform.Platform, context.Context, *paas.Principal, string, string) (paas.App, error), done string) appHandler {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
		s := newStream(w)
		s.message("%s %s ...", strings.TrimSuffix(done, "ed"), a.Name)
		if _, err := action(f.p, r.Context(), pr, a.Owner, a.Name); err != nil {
			return s.fail(err)
		}
		s.message("app %s %s", a.Name, done)
		return nil
	}
}

// envVar is a variable as env-get shows it; private values are masked.
type envVar struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
}

// getEnv: the body (GET with a body, as the client sends it) is null or
// the names wanted.
func (f *Face) getEnv(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	var names []string
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &names); err != nil {
			return paas.BadRequest("body must be null or a JSON array of variable names: %v", err)
		}
	}
	out := []envVar{}
	for _, k := range sortedKeys(a.Env) {
		if len(names) > 0 && !slices.Contains(names, k) {
			continue
		}
		v := envVar{Name: k, Value: a.Env[k], Public: true}
		if slices.Contains(a.PrivateEnv, k) {
			v.Value, v.Public = "*** (private variable)", false
		}
		out = append(out, v)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// setEnv: an object of variables; ?private=1|true marks them private,
// ?noRestart=true leaves the app running as it is.
func (f *Face) setEnv(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	var vars map[string]string
	if err := api.DecodeJSON(w, r, &vars); err != nil {
		return err
	}
	if len(vars) == 0 {
		return paas.BadRequest("no variables to set")
	}
	s := newStream(w)
	s.message("setting %d environment variable(s)", len(vars))
	if _, err := f.p.SetEnv(r.Context(), pr, a.Owner, a.Name, vars, boolParam(r, "private"), boolParam(r, "noRestart")); err != nil {
		return s.fail(err)
	}
	s.message("done")
	return nil
}

// unsetEnv: the names are ?env=A&env=B or a JSON array body.
func (f *Face) unsetEnv(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	names := r.URL.Query()["env"]
	if len(names) == 0 {
		raw, err := api.ReadBody(w, r, api.MaxJSONBody)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &names); err != nil || len(names) == 0 {
			return paas.BadRequest("give the variables to unset as ?env=NAME or a JSON array body")
		}
	}
	s := newStream(w)
	s.message("unsetting %d environment variable(s)", len(names))
	if _, err := f.p.UnsetEnv(r.Context(), pr, a.Owner, a.Name, names, boolParam(r, "noRestart")); err != nil {
		return s.fail(err)
	}
	s.message("done")
	return nil
}

// changeUnits adds (sign +1) or removes (-1) the ?units= / form units=N.
func (f *Face) changeUnits(sign int) appHandler {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return paas.BadRequest("bad form body: %v", err)
		}
		n, err := strconv.Atoi(r.Form.Get("units"))
		if err != nil || n <= 0 {
			return paas.BadRequest("units must be a positive number")
		}
		target := a.Units + sign*n
		s := newStream(w)
		s.message("scaling %s from %d to %d unit(s)", a.Name, a.Units, target)
		if _, err := f.p.ScaleApp(r.Context(), pr, a.Owner, a.Name, target); err != nil {
			return s.fail(err)
		}
		s.message("done")
		return nil
	}
}

// appQuota: units in use against the app's limit.
func (f *Face) appQuota(w http.ResponseWriter, _ *http.Request, _ httprouter.Params, _ *paas.Principal, a paas.App) error {
	api.WriteJSON(w, http.StatusOK, map[string]int{"limit": a.MaxUnits, "inuse": a.Units})
	return nil
}

func (f *Face) listPlatforms(w http.ResponseWriter, _ *http.Request, _ httprouter.Params, _ *paas.Principal) error {
	api.WriteJSON(w, http.StatusOK, []map[string]string{{"Name": platformName}})
	return nil
}

// listPools answers the client's shape (not the document's array): the
// team pools of the caller's teams, and the public pool.
func (f *Face) listPools(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	byTeam, err := f.p.Pools(r.Context(), pr)
	if err != nil {
		return err
	}
	teams := make([]string, 0, len(byTeam))
	for t := range byTeam {
		teams = append(teams, t)
	}
	slices.Sort(teams)
	out := []map[string]any{}
	for _, t := range teams {
		out = append(out, map[string]any{"Team": t, "Pools": byTeam[t]})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"pools_by_team": out, "public_pools": []map[string]string{{"Name": defaultPool}}})
	return nil
}

// swap exchanges the addresses of ?app1= and ?app2=.
func (f *Face) swap(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	q := r.URL.Query()
	if q.Get("app1") == "" || q.Get("app2") == "" {
		return paas.BadRequest("app1 and app2 are required")
	}
	if err := f.p.SwapApps(r.Context(), pr, q.Get("app1"), q.Get("app2")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// changePool moves the app to the pool named by the body (a team pool
// of its owner's, or the default public one).
func (f *Face) changePool(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	raw, err := api.ReadBody(w, r, 4096)
	if err != nil {
		return err
	}
	pool := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if v, err := url.ParseQuery(pool); err == nil && v.Get("pool") != "" {
		pool = v.Get("pool") // a form body (later clients)
	}
	if _, err := f.p.SetPool(r.Context(), pr, a.Owner, a.Name, pool); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func poolOf(a paas.App) string {
	if a.Pool == "" {
		return defaultPool
	}
	return a.Pool
}

// ownerFor is who a new object belongs to: team (one of the caller's),
// or the caller when team is empty or the caller's own name.
func (f *Face) ownerFor(ctx context.Context, pr *paas.Principal, team string) (string, error) {
	if team == "" || team == pr.User.Name {
		return pr.User.Name, nil
	}
	t, err := f.p.Team(ctx, pr, team)
	if err != nil {
		return "", err
	}
	return t.Name, nil
}
