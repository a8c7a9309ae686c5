package nodejitsu

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

func databaseView(d paas.Database) map[string]any {
	return map[string]any{"name": d.Name, "type": d.Type, "user": d.Owner, "status": d.Status,
		"message": d.Message, "ctime": d.Created.UnixMilli()}
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
