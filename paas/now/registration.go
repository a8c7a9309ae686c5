package now

import (
	"net/http"

	"github.com/selfhost/paas/paas/api"
)

// register starts the now CLI's login by email: {token, securityCode}.
func (f *Face) register(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email     string `json:"email"`
		TokenName string `json:"tokenName"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	token, code, err := f.p.Register(r.Context(), body.Email)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": token, "securityCode": code})
	return nil
}

// verifyRegistration is what the CLI polls: {token} once the login is
// confirmed, an error (which it retries on) before.
func (f *Face) verifyRegistration(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	token, err := f.p.VerifyRegistration(r.Context(), q.Get("email"), q.Get("token"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": token})
	return nil
}

// confirmRegistration is the link of the confirmation mail.
func (f *Face) confirmRegistration(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := f.p.ConfirmRegistration(r.Context(), q.Get("email"), q.Get("code")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS", "message": "login confirmed: the CLI is logged in now"})
	return nil
}
