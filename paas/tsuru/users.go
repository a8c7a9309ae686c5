package tsuru

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// authScheme: the native scheme (email and password), fetched without auth.
func (f *Face) authScheme(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": "native", "data": map[string]string{}})
	return nil
}

// info is the API's metadata.
func (f *Face) info(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	api.WriteJSON(w, http.StatusOK, map[string]string{"version": "0.12.1"})
	return nil
}

func (f *Face) limitSignups(r *http.Request) error {
	if q := f.signups.Take(api.ClientIP(r)); !q.Allowed {
		return api.RateLimited(q, f.window)
	}
	return nil
}

// createUser signs up by email, with the platform's sign-up policy: the
// account logs in once confirmed with the invite code mailed to it
// (tsuru reset-password <email> -t <code>).
func (f *Face) createUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if n := len(body.Password); n < 6 || n > 50 {
		return paas.BadRequest("password length must be between 6 and 50 characters")
	}
	if err := f.limitSignups(r); err != nil {
		return err
	}
	u, err := f.p.SignUpByEmail(r.Context(), body.Email, body.Password)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"email": u.Email, "user": u.Name,
		"message": "an invite code was sent to " + u.Email + "; confirm with: tsuru reset-password " + u.Email + " -t <code>"})
	return nil
}

// login trades email and password for a session token. Failures are
// limited per client address and email.
func (f *Face) login(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	var body struct {
		Password string `json:"password"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	email := strings.ToLower(ps.ByName("email"))
	key := api.ClientIP(r) + "\x00" + email
	if !f.logins.Peek(key).Allowed {
		return paas.RateLimited("too many failed logins for %q; try again in a minute", email)
	}
	token, err := f.p.Login(r.Context(), email, body.Password)
	if err != nil {
		if status, _, _ := paas.ErrorStatus(err); status == http.StatusUnauthorized || status == http.StatusNotFound {
			f.logins.Take(key)
		}
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": token})
	return nil
}

// resetPassword mails a code, confirms an account with its invite code,
// or resets the password with a reset code (?token=).
func (f *Face) resetPassword(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if err := f.limitSignups(r); err != nil {
		return err
	}
	if err := f.p.ConfirmOrReset(r.Context(), ps.ByName("email"), r.URL.Query().Get("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) logout(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	if err := f.p.Logout(r.Context(), pr); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) userInfo(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	teams, err := f.p.Teams(r.Context(), pr)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(teams))
	for _, t := range teams {
		names = append(names, t.Name)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"Email": pr.User.Email, "Teams": names})
	return nil
}

func (f *Face) changePassword(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Old string `json:"old"`
		New string `json:"new"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if n := len(body.New); body.New != "" && (n < 6 || n > 50) {
		return paas.BadRequest("password length must be between 6 and 50 characters")
	}
	if err := f.p.ChangePassword(r.Context(), pr, body.Old, body.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) removeUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	if err := f.p.DeleteUser(r.Context(), pr, pr.User.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// keyID names a key added without a name by its content, so adding the
// same key twice is one key.
func keyID(name, key string) string {
	if name != "" {
		return name
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return "key-" + hex.EncodeToString(sum[:6])
}

type keyBody struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// addKey stores a public key; they are the same keys as the Nodejitsu
// face's /users/:user/keys.
func (f *Face) addKey(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body keyBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if _, err := f.p.PutSSHKey(r.Context(), pr, pr.User.Name, paas.SSHKey{ID: keyID(body.Name, body.Key), Key: strings.TrimSpace(body.Key)}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// removeKey removes a key given by name or by content.
func (f *Face) removeKey(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body keyBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	id := body.Name
	if id == "" {
		keys, err := f.p.SSHKeys(r.Context(), pr, pr.User.Name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.TrimSpace(k.Key) == strings.TrimSpace(body.Key) {
				id = k.ID
			}
		}
		if id == "" {
			return paas.NotFound("no such key")
		}
	}
	if err := f.p.DeleteSSHKey(r.Context(), pr, pr.User.Name, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// Teams.

func (f *Face) listTeams(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	teams, err := f.p.Teams(r.Context(), pr)
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(teams))
	for _, t := range teams {
		out = append(out, map[string]string{"name": t.Name})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) createTeam(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if _, err := f.p.CreateTeam(r.Context(), pr, body.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (f *Face) teamInfo(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	t, err := f.p.Team(r.Context(), pr, ps.ByName("team"))
	if err != nil {
		return err
	}
	users := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		users = append(users, m.User)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": t.Name, "users": users})
	return nil
}

func (f *Face) removeTeam(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if _, err := f.p.DeleteTeam(r.Context(), pr, ps.ByName("team")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) addTeamUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if _, err := f.p.AddTeamUser(r.Context(), pr, ps.ByName("team"), ps.ByName("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (f *Face) removeTeamUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if _, err := f.p.RemoveTeamUser(r.Context(), pr, ps.ByName("team"), ps.ByName("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// userQuota is the app quota of a user (or team), by name or email.
func (f *Face) userQuota(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	owner := ps.ByName("user")
	if strings.Contains(owner, "@") {
		if !strings.EqualFold(owner, pr.User.Email) {
			return paas.Forbidden("you may see your own quota (by email) or an owner's by name")
		}
		owner = pr.User.Name
	}
	limit, inUse, err := f.p.Quota(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	available := limit - inUse
	if limit < 0 {
		available = -1
	}
	api.WriteJSON(w, http.StatusOK, map[string]int{"items": limit, "available": max(available, -1), "limit": limit, "inuse": inUse})
	return nil
}

func (f *Face) apiKey(regenerate bool) api.AuthedFunc {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
		key, err := f.p.APIKey(r.Context(), pr, regenerate)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"token": key, "users": pr.User.Email})
		return nil
	}
}
