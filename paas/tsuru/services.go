package tsuru

import (
	"context"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

type serviceInstances struct {
	Service   string   `json:"service"`
	Instances []string `json:"instances"`
}

// listServices: every built-in service with the caller's instances of it.
func (f *Face) listServices(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	return f.writeInstances(w, r, pr, "")
}

// listInstances: the same, only instances bound to ?app= when given.
func (f *Face) listInstances(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	app := r.URL.Query().Get("app")
	if app != "" {
		if _, err := f.p.AppNamed(r.Context(), pr, app); err != nil {
			return err
		}
	}
	return f.writeInstances(w, r, pr, app)
}

func (f *Face) writeInstances(w http.ResponseWriter, r *http.Request, pr *paas.Principal, app string) error {
	dbs, err := f.p.VisibleDatabases(r.Context(), pr)
	if err != nil {
		return err
	}
	out := []serviceInstances{}
	for _, svc := range paas.Services() {
		si := serviceInstances{Service: svc, Instances: []string{}}
		for _, d := range dbs {
			if d.Service == svc && (app == "" || slices.ContainsFunc(d.Apps, func(k string) bool { return strings.HasSuffix(k, "/"+app) })) {
				si.Instances = append(si.Instances, d.Name)
			}
		}
		out = append(out, si)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createInstance: {name, service_name[, owner]} as JSON or a form; the
// owner is a team of the caller's, or the caller.
func (f *Face) createInstance(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Name        string `json:"name"`
		ServiceName string `json:"service_name"`
		Owner       string `json:"owner"`
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return paas.BadRequest("bad form body: %v", err)
		}
		body.Name, body.ServiceName, body.Owner = r.PostForm.Get("name"), r.PostForm.Get("service_name"), r.PostForm.Get("owner")
	} else if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.ServiceName == "" {
		return paas.BadRequest("service_name is required (services: %s)", strings.Join(paas.Services(), ", "))
	}
	if _, ok := paas.DatabaseTypes[body.ServiceName]; !ok && !f.usable(r.Context(), pr, body.ServiceName) {
		return paas.NotFound("service %q not found (services: %s)", body.ServiceName, strings.Join(paas.Services(), ", "))
	}
	owner, err := f.ownerFor(r.Context(), pr, body.Owner)
	if err != nil {
		return err
	}
	if _, err := f.p.CreateDatabase(r.Context(), pr, owner, body.Name, body.ServiceName); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// instance resolves :instance among the caller's.
func (f *Face) instance(h func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, d paas.Database) error) api.AuthedFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
		d, err := f.p.DatabaseNamed(r.Context(), pr, ps.ByName("instance"))
		if err != nil {
			return err
		}
		return h(w, r, ps, pr, d)
	}
}

func (f *Face) instanceInfo(w http.ResponseWriter, _ *http.Request, _ httprouter.Params, _ *paas.Principal, d paas.Database) error {
	apps := []string{}
	for _, k := range d.Apps {
		_, name, _ := strings.Cut(k, "/")
		apps = append(apps, name)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": d.Name, "servicename": d.Service, "teams": []string{d.Owner},
		"apps": apps, "status": d.Status, "message": d.Message})
	return nil
}

func (f *Face) removeInstance(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, d paas.Database) error {
	if _, err := f.p.DeleteDatabase(r.Context(), pr, d.Owner, d.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) instanceStatus(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, d paas.Database) error {
	if err := f.p.DatabaseStatus(r.Context(), pr, d.Owner, d.Name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("Service instance \"" + d.Name + "\" is up\n"))
	return err
}

// bindInstance answers the variables the app got, secrets masked.
func (f *Face) bindInstance(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, d paas.Database) error {
	d, _, err := f.p.BindDatabase(r.Context(), pr, d.Owner, d.Name, ps.ByName("app"))
	if err != nil {
		return err
	}
	out := map[string]string{}
	for k, v := range d.Env() {
		if d.Password != "" && strings.Contains(v, d.Password) {
			v = "*** (private variable)"
		}
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) unbindInstance(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, d paas.Database) error {
	if _, _, err := f.p.UnbindDatabase(r.Context(), pr, d.Owner, d.Name, ps.ByName("app")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// builtinDoc documents the built-in services.
var builtinDoc = map[string]string{
	paas.ServiceRedis:      "A redis server of your own, with its data on a volume. Binding gives the app REDIS_URL, REDIS_HOST, REDIS_PORT and REDIS_PASSWORD.\n",
	paas.ServicePostgreSQL: "A PostgreSQL server of your own (database and role \"app\"), with its data on a volume. Binding gives the app DATABASE_URL and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.\n",
	paas.ServiceMongoDB:    "A MongoDB server of your own (user \"app\" in the admin database, database \"app\"), with its data on a volume. Binding gives the app MONGODB_URI and MONGO_URL.\n",
	paas.ServiceCouchDB:    "CouchDB: instances are recorded; this release runs no CouchDB server yet.\n",
}

func builtin(name string) bool { _, ok := builtinDoc[name]; return ok }

// createService registers an external service from its YAML manifest.
func (f *Face) createService(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	raw, err := api.ReadBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	if _, err := f.p.CreateService(r.Context(), pr, raw); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// updateService replaces an external service's endpoint and credentials.
func (f *Face) updateService(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	raw, err := api.ReadBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	if _, err := f.p.UpdateService(r.Context(), pr, raw); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// serviceInfo lists the service's instances the caller sees.
func (f *Face) serviceInfo(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	name := ps.ByName("service")
	if !builtin(name) {
		if _, err := f.p.ManagedService(r.Context(), pr, name); err != nil {
			return err
		}
	}
	dbs, err := f.p.VisibleDatabases(r.Context(), pr)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, d := range dbs {
		if d.Service != name {
			continue
		}
		apps := []string{}
		for _, k := range d.Apps {
			_, app, _ := strings.Cut(k, "/")
			apps = append(apps, app)
		}
		out = append(out, map[string]any{"Name": d.Name, "Teams": []string{d.Owner}, "Apps": apps, "ServiceName": d.Service})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) removeService(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if builtin(ps.ByName("service")) {
		return paas.Forbidden("service %q is built in", ps.ByName("service"))
	}
	if err := f.p.DeleteService(r.Context(), pr, ps.ByName("service")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (f *Face) serviceDoc(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	doc, ok := builtinDoc[ps.ByName("service")]
	if !ok {
		svc, err := f.p.ManagedService(r.Context(), pr, ps.ByName("service"))
		if err != nil {
			return err
		}
		doc = svc.Doc
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, doc)
	return err
}

func (f *Face) setServiceDoc(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if builtin(ps.ByName("service")) {
		return paas.Forbidden("service %q is built in", ps.ByName("service"))
	}
	raw, err := api.ReadBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	if err := f.p.SetServiceDoc(r.Context(), pr, ps.ByName("service"), string(raw)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// serviceTeam grants (or revokes) a team the service.
func (f *Face) serviceTeam(grant bool) api.AuthedFunc {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
		if builtin(ps.ByName("service")) {
			return paas.Forbidden("service %q is built in: every team has it", ps.ByName("service"))
		}
		change := f.p.RevokeService
		if grant {
			change = f.p.GrantService
		}
		if err := change(r.Context(), pr, ps.ByName("service"), ps.ByName("team")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

// usable: name is an external service pr may use.
func (f *Face) usable(ctx context.Context, pr *paas.Principal, name string) bool {
	_, err := f.p.ManagedService(ctx, pr, name)
	return err == nil
}
