package now

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// listSecrets answers names and ids only: a value is never shown again.
func (f *Face) listSecrets(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	secs, err := f.p.Secrets(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(secs))
	for _, s := range secs {
		out = append(out, map[string]string{"uid": s.UID, "name": s.Name, "created": isoTime(s.Created)})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"secrets": out})
	return nil
}

func (f *Face) createSecret(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	s, err := f.p.CreateSecret(r.Context(), pr, owner, body.Name, body.Value)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": s.UID, "name": s.Name, "created": isoTime(s.Created)})
	return nil
}

func (f *Face) renameSecret(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	s, old, err := f.p.RenameSecret(r.Context(), pr, owner, ps.ByName("secret"), body.Name)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": s.UID, "name": s.Name, "oldName": old})
	return nil
}

// deleteSecret answers exactly 200 with the uid and the name (the CLI
// prints the name).
func (f *Face) deleteSecret(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	s, err := f.p.DeleteSecret(r.Context(), pr, owner, ps.ByName("secret"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": s.UID, "name": s.Name})
	return nil
}
