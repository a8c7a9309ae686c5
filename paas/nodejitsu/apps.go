package nodejitsu

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// The single provider/datacenter this server reports to cloud-aware clients.
const (
	provider   = "selfhost"
	datacenter = "local"
)

// appView is the app as the Nodejitsu API shows it: its package.json fields
// with the platform's fields on top.
func (f *Face) appView(ctx context.Context, pr *paas.Principal, a paas.App) (map[string]any, error) {
	v := map[string]any{}
	if len(a.Package) > 0 {
		_ = json.Unmarshal(a.Package, &v)
	}
	snaps, err := f.p.Snapshots(ctx, pr, a.Owner, a.Name)
	if err != nil {
		return nil, err
	}
	snapViews := make([]any, 0, len(snaps))
	var running any
	for _, s := range snaps {
		snapViews = append(snapViews, snapshotSummary(s))
	}
	rel, ok, err := f.p.Release(ctx, pr, a.Owner, a.Name)
	if err != nil {
		return nil, err
	}
	if ok {
		unitViews := make([]any, 0, len(rel.Units))
		for _, u := range rel.Units {
			unitViews = append(unitViews, map[string]any{"id": u.ID, "index": u.Index, "running": u.Running})
		}
		running = map[string]any{"snapshot": rel.Snapshot, "filename": a.Name + "-" + rel.Snapshot + ".tgz",
			"release": rel.ID, "drones": unitViews}
	}
	env := a.Env
	if env == nil {
		env = map[string]string{}
	}
	for k, val := range map[string]any{
		"_id": a.Key(), "name": a.Name, "user": a.Owner, "subdomain": a.Subdomain, "state": string(a.State),
		"drones": a.Units, "maxDrones": a.MaxUnits, "memory": a.EffectiveMemoryMB(), "cpus": a.EffectiveCPUs(),
		"snapshot": a.Snapshot, "snapshots": snapViews,
		"running": running, "env": env, "ctime": a.Created.UnixMilli(), "mtime": a.Updated.UnixMilli(),
		"config": map[string]any{"cloud": cloud(a)}, "redirectHttps": a.RedirectHTTPS, "hsts": a.HSTS,
		"url": "http://" + a.Subdomain + "." + f.p.Config().Domain,
	} {
		v[k] = val
	}
	if a.StateMessage != "" {
		v["stateMessage"] = a.StateMessage
	}
	return v, nil
}

func cloud(a paas.App) []any {
	return []any{map[string]any{"provider": provider, "datacenter": datacenter, "drones": a.Units}}
}

// appBody is a package.json as the Nodejitsu API takes it: the fields the
// platform manages, typed, and everything else kept as the app's package.json.
type appBody struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Subdomain    string            `json:"subdomain"`
	Main         string            `json:"main"`
	Scripts      map[string]string `json:"scripts"`
	Dependencies map[string]string `json:"dependencies"`
	Env          map[string]string `json:"env"`
	Drones       *int              `json:"drones"`
	MaxDrones    *int              `json:"maxDrones"`
	Memory       *int              `json:"memory"` // MiB per unit
	CPUs         *float64          `json:"cpus"`   // cores per unit
	// HTTPS opt-ins (a platform extension, like memory and cpus).
	RedirectHTTPS *bool `json:"redirectHttps"`
	HSTS          *bool `json:"hsts"`
}

// platformFields are app fields the platform manages; a package.json
// carrying them does not overwrite them in the stored package.json.
var platformFields = map[string]bool{"env": true, "drones": true, "maxDrones": true, "memory": true, "cpus": true,
	"redirectHttps": true, "hsts": true,
	"state": true, "snapshot": true, "snapshots": true, "running": true, "config": true, "_id": true, "owner": true, "user": true}

// readAppBody reads a package.json body into the core's typed input.
func readAppBody(w http.ResponseWriter, r *http.Request) (paas.AppSpec, error) {
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return paas.AppSpec{}, err
	}
	var fields map[string]json.RawMessage
	if err := api.Unmarshal(raw, &fields); err != nil {
		return paas.AppSpec{}, paas.BadRequest("body must be a JSON object (package.json)")
	}
	var b appBody
	if err := api.Unmarshal(raw, &b); err != nil {
		return paas.AppSpec{}, paas.BadRequest("invalid package.json: %s", err.Error())
	}
	spec := paas.AppSpec{Name: b.Name, Units: b.Drones, MaxUnits: b.MaxDrones, MemoryMB: b.Memory, CPUs: b.CPUs,
		RedirectHTTPS: b.RedirectHTTPS, HSTS: b.HSTS, Metadata: map[string]json.RawMessage{}}
	if b.Subdomain != "" {
		spec.Subdomain = &b.Subdomain
	}
	if _, ok := fields["env"]; ok {
		spec.Env = &b.Env
	}
	for k, v := range fields {
		if !platformFields[k] {
			spec.Metadata[k] = v
		}
	}
	return spec, nil
}

func (f *Face) listApps(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	apps, err := f.p.Apps(r.Context(), pr, ps.ByName("user"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(apps))
	for _, a := range apps {
		v, err := f.appView(r.Context(), pr, a)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

func (f *Face) writeApp(w http.ResponseWriter, r *http.Request, pr *paas.Principal, status int, a paas.App) error {
	v, err := f.appView(r.Context(), pr, a)
	if err != nil {
		return err
	}
	api.WriteJSON(w, status, map[string]any{"app": v})
	return nil
}

func (f *Face) getApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	a, err := f.p.App(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	return f.writeApp(w, r, pr, http.StatusOK, a)
}

// createApp serves POST /apps/:u/:app and POST /apps/:u (name in the body).
func (f *Face) createApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	spec, err := readAppBody(w, r)
	if err != nil {
		return err
	}
	if name := ps.ByName("app"); name != "" {
		if spec.Name != "" && spec.Name != name {
			return paas.BadRequest("package.json name %q does not match the app name %q in the URL", spec.Name, name)
		}
		spec.Name = name
	}
	a, err := f.p.CreateApp(r.Context(), pr, ps.ByName("user"), spec)
	if err != nil {
		return err
	}
	return f.writeApp(w, r, pr, http.StatusCreated, a)
}

// updateApp serves PUT /apps/:u/:app and PUT /apps/:u (name in the body).
func (f *Face) updateApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	spec, err := readAppBody(w, r)
	if err != nil {
		return err
	}
	name := ps.ByName("app")
	if name == "" {
		if spec.Name == "" {
			return paas.BadRequest("package.json must have a name")
		}
		name = spec.Name
	}
	a, err := f.p.UpdateApp(r.Context(), pr, ps.ByName("user"), name, spec)
	if err != nil {
		return err
	}
	return f.writeApp(w, r, pr, http.StatusOK, a)
}

func (f *Face) deleteApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	a, err := f.p.DeleteApp(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "app": a.Name})
	return nil
}

func (f *Face) appAvailable(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Subdomain string `json:"subdomain"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	ok, err := f.p.AppAvailable(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), body.Subdomain)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"available": ok})
	return nil
}

// appAction serves POST /apps/:u/:app/<action>: start, stop and restart.
func (f *Face) appAction(action func(p *platform.Platform, ctx context.Context, pr *paas.Principal, owner, name string) (paas.App, error)) api.AuthedFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
		a, err := action(f.p, r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
		if err != nil {
			return err
		}
		return f.writeApp(w, r, pr, http.StatusOK, a)
	}
}

func (f *Face) getCloud(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	a, err := f.p.App(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, cloud(a))
	return nil
}

// setCloud scales: [{"drones":N, "provider":…, "datacenter":…}].
func (f *Face) setCloud(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	type cloudSpec struct {
		Drones     *int   `json:"drones"`
		Provider   string `json:"provider"`
		Datacenter string `json:"datacenter"`
	}
	var specs []cloudSpec
	if err := json.Unmarshal(raw, &specs); err != nil {
		var one cloudSpec
		if err2 := json.Unmarshal(raw, &one); err2 != nil {
			return paas.BadRequest("body must be [{\"drones\":N}] or {\"drones\":N}")
		}
		specs = []cloudSpec{one}
	}
	if len(specs) != 1 || specs[0].Drones == nil {
		return paas.BadRequest("give exactly one cloud entry with drones")
	}
	s := specs[0]
	if (s.Provider != "" && s.Provider != provider) || (s.Datacenter != "" && s.Datacenter != datacenter) {
		return paas.BadRequest("unknown provider/datacenter %q/%q: this server offers %s/%s", s.Provider, s.Datacenter, provider, datacenter)
	}
	a, err := f.p.ScaleApp(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), *s.Drones)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, cloud(a))
	return nil
}
