package nodejitsu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/runtime"
)

// The single provider/datacenter this server reports to cloud-aware clients.
const (
	provider   = "selfhost"
	datacenter = "local"
)

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// appView is the app as the Nodejitsu API shows it: its package.json fields
// with the platform's fields on top.
func (f *Face) appView(a paas.App) (map[string]any, error) {
	v := map[string]any{}
	if len(a.Package) > 0 {
		_ = json.Unmarshal(a.Package, &v)
	}
	snaps, err := f.p.Store.Snapshots(a.Owner, a.Name)
	if err != nil {
		return nil, err
	}
	snapViews := make([]any, 0, len(snaps))
	var running any
	for _, s := range snaps {
		snapViews = append(snapViews, snapshotSummary(s))
	}
	releaseID, releaseSnap, units := f.p.Deployer.Release(a.Key())
	if releaseID != "" {
		unitViews := make([]any, 0, len(units))
		for _, u := range units {
			unitViews = append(unitViews, map[string]any{"id": u.ID, "index": u.Index, "running": u.Running})
		}
		running = map[string]any{"snapshot": releaseSnap, "filename": a.Name + "-" + releaseSnap + ".tgz",
			"release": releaseID, "drones": unitViews}
	}
	env := a.Env
	if env == nil {
		env = map[string]string{}
	}
	for k, val := range map[string]any{
		"_id": a.Key(), "name": a.Name, "user": a.Owner, "subdomain": a.Subdomain, "state": string(a.State),
		"drones": a.Drones, "maxDrones": a.MaxDrones, "memory": memoryMB(a), "cpus": cpus(a), "snapshot": a.Snapshot, "snapshots": snapViews,
		"running": running, "env": env, "ctime": a.Created.UnixMilli(), "mtime": a.Updated.UnixMilli(),
		"config": map[string]any{"cloud": f.cloud(a)},
		"url":    "http://" + a.Subdomain + "." + f.p.Config().Domain,
	} {
		v[k] = val
	}
	if a.StateMessage != "" {
		v["stateMessage"] = a.StateMessage
	}
	return v, nil
}

// memoryMB and cpus are the limits each unit of a runs with.
func memoryMB(a paas.App) int {
	if a.MemoryMB > 0 {
		return a.MemoryMB
	}
	return runtime.DefaultMemoryBytes >> 20
}

func cpus(a paas.App) float64 {
	if a.CPUs > 0 {
		return a.CPUs
	}
	return float64(runtime.DefaultNanoCPUs) / 1e9
}

func (f *Face) cloud(a paas.App) []any {
	return []any{map[string]any{"provider": provider, "datacenter": datacenter, "drones": a.Drones}}
}

func (f *Face) listApps(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	apps, err := f.p.Store.Apps(owner)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(apps))
	for _, a := range apps {
		v, err := f.appView(a)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

func (f *Face) writeApp(w http.ResponseWriter, status int, a paas.App) error {
	v, err := f.appView(a)
	if err != nil {
		return err
	}
	api.WriteJSON(w, status, map[string]any{"app": v})
	return nil
}

func (f *Face) getApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	a, err := f.app(r, ps)
	if err != nil {
		return err
	}
	return f.writeApp(w, http.StatusOK, a)
}

func (f *Face) createApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	a, err := f.p.CreateApp(owner, ps.ByName("app"), raw)
	if err != nil {
		return err
	}
	return f.writeApp(w, http.StatusCreated, a)
}

// updateApp serves PUT /apps/:u/:app and PUT /apps/:u (name in the body).
func (f *Face) updateApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	name := ps.ByName("app")
	if name == "" {
		var body struct {
			Name string `json:"name"`
		}
		if err := api.Unmarshal(raw, &body); err != nil {
			return err
		}
		if body.Name == "" {
			return paas.BadRequest("package.json must have a name")
		}
		name = body.Name
	}
	a, err := f.p.UpdateApp(owner, name, raw)
	if err != nil {
		return err
	}
	return f.writeApp(w, http.StatusOK, a)
}

func (f *Face) deleteApp(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	a, err := f.p.DeleteApp(r.Context(), owner, ps.ByName("app"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "app": a.Name})
	return nil
}

func (f *Face) appAvailable(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	var body struct {
		Subdomain string `json:"subdomain"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	ok, err := f.p.AppAvailable(owner, ps.ByName("app"), body.Subdomain)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"available": ok})
	return nil
}

// appAction serves POST /apps/:u/:app/<action>: start, stop and restart.
func (f *Face) appAction(action func(p *paas.Platform, ctx context.Context, owner, name string) (paas.App, error)) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		_, owner, err := f.principal(r, ps)
		if err != nil {
			return err
		}
		a, err := action(f.p, r.Context(), owner, ps.ByName("app"))
		if err != nil {
			return err
		}
		return f.writeApp(w, http.StatusOK, a)
	}
}

func (f *Face) getCloud(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	a, err := f.app(r, ps)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, f.cloud(a))
	return nil
}

// setCloud scales: [{"drones":N, "provider":…, "datacenter":…}].
func (f *Face) setCloud(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
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
	a, err := f.p.SetDrones(r.Context(), owner, ps.ByName("app"), *s.Drones)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, f.cloud(a))
	return nil
}
