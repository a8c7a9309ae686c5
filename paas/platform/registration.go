package platform

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/selfhost/paas/paas"
)

// Register starts a login by email (the now CLI's POST /now/registration):
// the account with that email, or a new one (the open sign-up every face
// has), gets a mail with a confirmation code, and the caller gets the
// token it polls VerifyRegistration with and the security code the mail
// shows too. Nothing says whether the email had an account.
func (p *Platform) Register(ctx context.Context, email string) (token, securityCode string, err error) {
	email = strings.TrimSpace(email)
	if err := paas.ValidateEmail(email); err != nil {
		return "", "", err
	}
	u, err := p.store.UserByEmail(email)
	if paas.IsNotFound(err) {
		u, err = byEmail(email, func(name string) (paas.User, error) {
			// Unconfirmed, with no password: confirming the login by its
			// mail confirms the account; a password can be set later.
			nu := paas.User{Name: name, Email: email}
			if err := paas.ValidateUserName(name); err != nil {
				return nu, err
			}
			if err := p.store.CreateUser(nu); err != nil {
				return nu, err
			}
			return p.store.User(name)
		})
	}
	if err != nil {
		return "", "", err
	}
	token, code := paas.RandomSecret(24), paas.RandomSecret(16)
	securityCode = strings.ToUpper(paas.RandomHex(2)) + "-" + strings.ToUpper(paas.RandomHex(2))
	r := paas.Registration{User: u.Name, Email: u.Email, SecurityCode: securityCode, Expires: time.Now().Add(paas.RegistrationValidity).UTC()}
	if err := p.store.CreateRegistration(paas.SHA256Hex(token), paas.SHA256Hex(code), r); err != nil {
		return "", "", err
	}
	q := url.Values{"email": {u.Email}, "code": {code}}
	if err := p.cfg.Mailer.Send(u.Email, "Confirm your login ("+securityCode+")", fmt.Sprintf(
		"Someone asked to log in as %s with the now CLI, showing the security code %s.\n"+
			"If that was you and the codes match, confirm it within %s by opening, on this platform's API:\n\n"+
			"  /now/registration/confirm?%s\n\nOtherwise ignore this mail.", u.Name, securityCode, paas.RegistrationValidity, q.Encode())); err != nil {
		p.log.Error("send login confirmation", "user", u.Name, "err", err)
	}
	return token, securityCode, nil
}

// ConfirmRegistration confirms a login by email with the mailed code.
func (p *Platform) ConfirmRegistration(ctx context.Context, email, code string) error {
	if code == "" {
		return paas.BadRequest("code is required")
	}
	_, err := p.store.ConfirmRegistration(paas.SHA256Hex(code), strings.TrimSpace(email))
	return err
}

// ErrNotVerified: the login by email is not confirmed yet.
var ErrNotVerified = &paas.Error{Status: http.StatusBadRequest, Code: "registration_not_verified",
	Message: "the login is not confirmed yet: follow the link in the mail", Err: paas.ErrBadRequest}

// VerifyRegistration hands out, once, an API token for a confirmed login by
// email; before the confirmation it answers ErrNotVerified.
func (p *Platform) VerifyRegistration(ctx context.Context, email, token string) (string, error) {
	if token == "" {
		return "", paas.BadRequest("token is required")
	}
	r, err := p.store.ClaimRegistration(paas.SHA256Hex(token), strings.TrimSpace(email))
	if err != nil {
		return "", err
	}
	if !r.Verified {
		return "", ErrNotVerified
	}
	secret, _, err := p.store.CreateToken(r.User, "now-"+paas.RandomHex(6), false)
	return secret, err
}
