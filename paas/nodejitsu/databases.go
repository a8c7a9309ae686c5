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

func (f *Face) listDatabases(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	dbs, err := f.p.Store.Databases(owner)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(dbs))
	for _, d := range dbs {
		out = append(out, databaseView(d))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"databases": out})
	return nil
}

func (f *Face) getDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	d, err := f.p.Store.Database(owner, ps.ByName("db"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"database": databaseView(d)})
	return nil
}

func (f *Face) createDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	var body struct {
		Type string `json:"type"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := paas.ValidateDatabase(ps.ByName("db"), body.Type); err != nil {
		return err
	}
	d, err := f.p.Store.CreateDatabase(paas.Database{Owner: owner, Name: ps.ByName("db"), Type: body.Type,
		Status: paas.DatabaseStatusPending, Message: paas.DatabasePendingMessage})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"database": databaseView(d)})
	return nil
}

func (f *Face) deleteDatabase(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	d, err := f.p.Store.DeleteDatabase(owner, ps.ByName("db"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "database": databaseView(d)})
	return nil
}
