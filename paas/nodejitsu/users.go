package nodejitsu

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

func userView(u paas.User) map[string]any {
	status := "active"
	if !u.Confirmed {
		status = "pending"
	}
	return map[string]any{
		"username": u.Name, "email": u.Email, "status": status, "admin": u.Admin,
		"ctime": u.Created.UnixMilli(), "mtime": u.Updated.UnixMilli(),
	}
}

func (f *Face) getAuth(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p *paas.Principal) error {
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": p.User.Name, "admin": p.User.Admin, "token": p.ViaToken})
	return nil
}

// getEndpoints answers the client's datacenter lookup with this server
// itself, so cloud-routed calls (start, stop, restart, scaling) come back here.
func (f *Face) getEndpoints(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": map[string]any{
		provider: map[string]string{datacenter: scheme + "://" + r.Host},
	}})
	return nil
}

type userBody struct {
	Username   string `json:"username"`
	Email      string `json:"email"`
	Password   string `json:"password"`
	InviteCode string `json:"inviteCode"`
	Shake      string `json:"shake"`
}

// createUser signs up; with an inviteCode for an existing user it confirms
// (the document shows confirmation as POST /users/:user-id {inviteCode}).
func (f *Face) createUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	var body userBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	name := ps.ByName("user")
	if body.InviteCode != "" {
		u, err := f.p.Confirm(r.Context(), name, body.InviteCode, body.Password)
		if err == nil {
			api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
			return nil
		}
		if !paas.IsNotFound(err) {
			return err
		}
		// No such user yet: a sign-up that happens to carry a code.
	}
	if err := f.limitSignups(r); err != nil {
		return err
	}
	u, err := f.p.SignUp(r.Context(), name, body.Email, body.Password)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) confirmUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	var body userBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	u, err := f.p.Confirm(r.Context(), ps.ByName("user"), body.InviteCode, body.Password)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) forgotPassword(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	var body userBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Shake == "" {
		if err := f.limitSignups(r); err != nil {
			return err
		}
	}
	if err := f.p.Forgot(r.Context(), ps.ByName("user"), body.Shake, body.Password); err != nil {
		return err
	}
	if body.Shake == "" {
		api.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "message": "a password reset code was sent"})
	} else {
		api.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "message": "password changed"})
	}
	return nil
}

func (f *Face) userAvailable(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	ok, reason, err := f.p.UserAvailable(r.Context(), ps.ByName("user"))
	if err != nil {
		return err
	}
	out := map[string]any{"available": ok}
	if reason != "" {
		out["reason"] = reason
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) emailTaken(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var body userBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	taken, err := f.p.EmailTaken(r.Context(), body.Email)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"taken": taken})
	return nil
}

func (f *Face) getUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	u, err := f.p.User(r.Context(), pr, ps.ByName("user"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) updateUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	var body struct {
		Password *string `json:"password"`
		Email    *string `json:"email"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	u, err := f.p.UpdateUser(r.Context(), pr, ps.ByName("user"), platform.UserUpdate{Password: body.Password, Email: body.Email})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) deleteUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if err := f.p.DeleteUser(r.Context(), pr, ps.ByName("user")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "user": paas.NormalizeUserName(ps.ByName("user"))})
	return nil
}
