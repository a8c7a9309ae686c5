package nodejitsu

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// databaseView carries the metadata jitsu prints (a missing one crashes
// it): where a bound app reaches the server and with what credentials.
func databaseView(d paas.Database) map[string]any {
	meta := map[string]any{}
	switch d.Service {
	case paas.ServiceRedis:
		meta = map[string]any{"host": d.Host, "port": d.Port, "password": d.Password}
	case paas.ServicePostgreSQL:
		meta = map[string]any{"host": d.Host, "port": d.Port, "user": paas.PostgresUser, "password": d.Password,
			"dbname": paas.PostgresDatabase, "uri": d.Env()["DATABASE_URL"]}
	case paas.ServiceMongoDB:
		meta = map[string]any{"host": d.Host, "port": d.Port, "user": paas.MongoUser, "password": d.Password,
			"dbname": paas.MongoDatabase, "uri": d.Env()["MONGODB_URI"]}
	}
	apps := []string{}
	for _, k := range d.Apps {
		_, name, _ := strings.Cut(k, "/")
		apps = append(apps, name)
	}
	return map[string]any{"name": d.Name, "type": d.Type, "user": d.Owner, "status": d.Status,
		"message": d.Message, "ctime": d.Created.UnixMilli(), "metadata": meta, "apps": apps}
}

func (f *Face) listDatabases(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	dbs, err := f.p.Databases(r.Context(), pr, ps.ByName("user"))
	if err != nil {
		return err
	}
	return writeList(w, "databases", dbs, databaseView)
}

func (f *Face) getDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	d, err := f.p.Database(r.Context(), pr, ps.ByName("user"), ps.ByName("db"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"database": databaseView(d)})
	return nil
}

func (f *Face) createDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Type string `json:"type"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	d, err := f.p.CreateDatabase(r.Context(), pr, ps.ByName("user"), ps.ByName("db"), body.Type)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"database": databaseView(d)})
	return nil
}

func (f *Face) deleteDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	d, err := f.p.DeleteDatabase(r.Context(), pr, ps.ByName("user"), ps.ByName("db"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "database": databaseView(d)})
	return nil
}
