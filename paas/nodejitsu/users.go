package nodejitsu

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
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

func (f *Face) getAuth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	p, err := f.auth.Require(r)
	if err != nil {
		return err
	}
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
	name := paas.NormalizeUserName(ps.ByName("user"))
	if body.InviteCode != "" {
		if _, err := f.p.Store.User(name); err == nil {
			u, err := f.p.Confirm(name, body.InviteCode, body.Password)
			if err != nil {
				return err
			}
			api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
			return nil
		}
	}
	u, err := f.p.SignUp(name, body.Email, body.Password)
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
	u, err := f.p.Confirm(ps.ByName("user"), body.InviteCode, body.Password)
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
	if err := f.p.Forgot(ps.ByName("user"), body.Shake, body.Password); err != nil {
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
	name := paas.NormalizeUserName(ps.ByName("user"))
	if err := paas.ValidateUserName(name); err != nil {
		api.WriteJSON(w, http.StatusOK, map[string]any{"available": false, "reason": err.Error()})
		return nil
	}
	_, err := f.p.Store.User(name)
	if err != nil && !paas.IsNotFound(err) {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"available": paas.IsNotFound(err)})
	return nil
}

func (f *Face) emailTaken(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if ps.ByName("user") != "email" {
		return paas.NotFound("no such endpoint: %s %s", r.Method, r.URL.Path)
	}
	var body userBody
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Email == "" {
		return paas.BadRequest("email is required")
	}
	taken, err := f.p.Store.EmailTaken(body.Email)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"taken": taken})
	return nil
}

func (f *Face) getUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.accountPrincipal(r, ps)
	if err != nil {
		return err
	}
	u, err := f.p.Store.User(owner)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) updateUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.accountPrincipal(r, ps)
	if err != nil {
		return err
	}
	var body struct {
		Password *string `json:"password"`
		Email    *string `json:"email"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Password == nil && body.Email == nil {
		return paas.BadRequest("nothing to update: give password or email")
	}
	u, err := f.p.UpdateUser(owner, paas.UserUpdate{Password: body.Password, Email: body.Email})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userView(u)})
	return nil
}

func (f *Face) deleteUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.accountPrincipal(r, ps)
	if err != nil {
		return err
	}
	if err := f.p.DeleteUser(r.Context(), owner); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "user": owner})
	return nil
}
