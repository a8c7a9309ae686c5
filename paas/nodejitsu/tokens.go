package nodejitsu

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

func (f *Face) listTokens(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	tokens, err := f.p.Tokens(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	// Keyed by id, as the client lists them; secrets are never stored, so never shown.
	out := map[string]any{}
	for _, t := range tokens {
		out[t.ID] = map[string]any{"id": t.ID, "ctime": t.Created.UnixMilli()}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"apiTokens": out})
	return nil
}

// createToken serves POST /users/:u/tokens (id generated or from the body)
// and PUT /users/:u/tokens/:token (create or rotate). The answer has the
// shape the jitsu CLI reads: {"operation":…, "<id>": "<token>"}.
func (f *Face) createToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	var body struct {
		ID      string `json:"id"`
		TokenID string `json:"tokenID"`
		Name    string `json:"name"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	id := ps.ByName("token")
	replace := r.Method == http.MethodPut && id != ""
	for _, c := range []string{body.ID, body.TokenID, body.Name} {
		if id == "" && c != "" {
			id = c
		}
	}
	if id == "" {
		id = "token-" + shortID()
	}
	secret, created, err := f.p.CreateToken(r.Context(), pr, owner, id, replace)
	if err != nil {
		return err
	}
	op, status := "insert", http.StatusCreated
	if !created {
		op, status = "update", http.StatusOK
	}
	api.WriteJSON(w, status, map[string]any{"operation": op, id: secret})
	return nil
}

func (f *Face) deleteToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	if err := f.p.DeleteToken(r.Context(), pr, owner, ps.ByName("token")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "id": ps.ByName("token")})
	return nil
}

func thirdPartyView(t paas.ThirdPartyToken) map[string]any {
	masked := "****"
	if len(t.Token) > 8 {
		masked = t.Token[:4] + "…" + t.Token[len(t.Token)-4:]
	}
	return map[string]any{"id": t.ID, "provider": t.Provider, "token": masked, "ctime": t.Created.UnixMilli()}
}

func (f *Face) listThirdParty(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	tokens, err := f.p.ThirdPartyTokens(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	return writeList(w, "thirdparty", tokens, thirdPartyView)
}

func (f *Face) createThirdParty(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	var body struct {
		Token    string `json:"token"`
		Provider string `json:"provider"`
		ID       string `json:"id"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.ID == "" && body.Provider != "" {
		body.ID = body.Provider + "-" + shortID()
	}
	t, err := f.p.PutThirdPartyToken(r.Context(), pr, owner, paas.ThirdPartyToken{ID: body.ID, Provider: body.Provider, Token: body.Token})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"thirdparty": thirdPartyView(t)})
	return nil
}

func (f *Face) deleteThirdParty(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	if err := f.p.DeleteThirdPartyToken(r.Context(), pr, owner, ps.ByName("id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "id": ps.ByName("id")})
	return nil
}

func keyView(k paas.SSHKey) map[string]any {
	return map[string]any{"id": k.ID, "key": k.Key, "ctime": k.Created.UnixMilli()}
}

func (f *Face) listKeys(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	keys, err := f.p.SSHKeys(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	return writeList(w, "keys", keys, keyView)
}

func (f *Face) getKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	k, err := f.p.SSHKey(r.Context(), pr, owner, ps.ByName("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"key": keyView(k)})
	return nil
}

func (f *Face) putKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	var body struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	id := ps.ByName("id")
	if id == "" {
		id = body.ID
	}
	if id == "" {
		id = "key-" + shortID()
	}
	k, err := f.p.PutSSHKey(r.Context(), pr, owner, paas.SSHKey{ID: id, Key: body.Key})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"key": keyView(k)})
	return nil
}

func (f *Face) deleteKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	if err := f.p.DeleteSSHKey(r.Context(), pr, owner, ps.ByName("id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "id": ps.ByName("id")})
	return nil
}

// shortID names a token or key the client did not name.
func shortID() string { return paas.RandomHex(4) }
