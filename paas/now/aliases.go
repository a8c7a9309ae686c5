package now

import (
	"errors"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

func (f *Face) listAliases(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	aliases, err := f.p.Aliases(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, map[string]string{"uid": a.UID, "alias": a.Host, "created": isoTime(a.Created), "deploymentId": a.Deployment})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"aliases": out})
	return nil
}

func (f *Face) listDeploymentAliases(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	aliases, err := f.p.DeploymentAliases(r.Context(), pr, owner, ps.ByName("id"))
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, map[string]string{"uid": a.UID, "alias": a.Host, "created": isoTime(a.Created)})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"aliases": out})
	return nil
}

// createAlias answers 200 with the alias's uid (and oldId when it moved
// from another deployment); an alias already pointing at the deployment is
// 409 with its uid in the error, which the now CLI takes as done.
func (f *Face) createAlias(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Alias string `json:"alias"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	a, old, err := f.p.SetAlias(r.Context(), pr, owner, ps.ByName("id"), body.Alias)
	if errors.Is(err, platform.ErrAliasUnchanged) {
		api.WriteJSON(w, http.StatusConflict, map[string]any{"error": map[string]string{"code": "not_modified",
			"message": "the alias " + a.Host + " already points at this deployment", "url": ErrorURLBase + "not_modified", "uid": a.UID}})
		return nil
	}
	if err != nil {
		return err
	}
	out := map[string]string{"uid": a.UID, "created": isoTime(a.Created)}
	if old != "" {
		out["oldId"] = old
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// deleteAlias answers exactly 200 {"status":"SUCCESS"}.
func (f *Face) deleteAlias(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	if _, err := f.p.DeleteAlias(r.Context(), pr, owner, ps.ByName("alias")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS"})
	return nil
}
