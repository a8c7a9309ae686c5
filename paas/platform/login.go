package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
)

// Login checks a password for the account registered with email (Tsuru
// logs in by email) and mints a session token for it. An unknown email is
// 404 and a wrong password 401, as Tsuru's clients expect; the caller
// bounds failed attempts.
func (p *Platform) Login(ctx context.Context, email, password string) (string, error) {
	if password == "" {
		return "", paas.BadRequest("password is required")
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	u, err := p.store.UserByEmail(email)
	if paas.IsNotFound(err) {
		_ = bcrypt.CompareHashAndPassword(p.dummyHash(), []byte(password)) // as long as a real check
		return "", paas.NotFound("no user with email %q", email)
	}
	if err != nil {
		return "", err
	}
	return p.session(u, password)
}

// LoginUser is Login by user name (the web UI's sign-in). An unknown user
// and a wrong password are the same 401, as long to answer.
func (p *Platform) LoginUser(ctx context.Context, name, password string) (string, error) {
	if name == "" || password == "" {
		return "", paas.BadRequest("user and password are required")
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	u, err := p.store.User(paas.NormalizeUserName(name))
	if paas.IsNotFound(err) {
		_ = bcrypt.CompareHashAndPassword(p.dummyHash(), []byte(password))
		return "", paas.Unauthorized("wrong user or password")
	}
	if err != nil {
		return "", err
	}
	secret, err := p.session(u, password)
	if errors.Is(err, paas.ErrUnauthorized) {
		return "", paas.Unauthorized("wrong user or password")
	}
	return secret, err
}

// session checks u's password and mints a session token.
func (p *Platform) session(u paas.User, password string) (string, error) {
	if !p.auth.verify(u, password) {
		return "", paas.Unauthorized("wrong password")
	}
	if _, err := p.checkConfirmed(u, ""); err != nil {
		return "", err
	}
	secret, _, err := p.store.CreateToken(u.Name, paas.SessionTokenPrefix+paas.RandomHex(8), false)
	return secret, err
}

// Logout ends the caller's session: the session token it used is
// revoked. A caller using the password or an API token has no session to
// end (API tokens are revoked through the token routes).
func (p *Platform) Logout(ctx context.Context, pr *paas.Principal) error {
	if pr == nil {
		return paas.Unauthorized("authentication required")
	}
	if !pr.Session() {
		return nil
	}
	return p.store.DeleteToken(pr.User.Name, pr.TokenID)
}

// maxNameTries bounds the user names tried for a new account by email.
const maxNameTries = 20

// SignUpByEmail is SignUp for clients that know users by email only
// (Tsuru): the user name is made from the email's local part, numbered
// when taken. The account needs its invite code (ConfirmOrReset) before
// it can log in, as every sign-up.
func (p *Platform) SignUpByEmail(ctx context.Context, email, password string) (paas.User, error) {
	if err := paas.ValidateEmail(email); err != nil {
		return paas.User{}, err
	}
	if password == "" {
		return paas.User{}, paas.BadRequest("password is required")
	}
	if taken, err := p.store.EmailTaken(email); err != nil || taken {
		if err == nil {
			err = paas.Conflict("email %q is already registered", email)
		}
		return paas.User{}, err
	}
	return byEmail(email, func(name string) (paas.User, error) { return p.SignUp(ctx, name, email, password) })
}

// byEmail creates an account for email with create, under a user name made
// from the email's local part, numbered when taken.
func byEmail(email string, create func(name string) (paas.User, error)) (paas.User, error) {
	base := userNameFromEmail(email)
	for i := 1; i <= maxNameTries; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		u, err := create(name)
		if err == nil || !errorsIsConflictOnName(err) {
			return u, err
		}
	}
	return paas.User{}, paas.Conflict("no free user name for %q", email)
}

// errorsIsConflictOnName: the name was taken (the email was checked).
func errorsIsConflictOnName(err error) bool {
	return errors.Is(err, paas.ErrConflict) && !strings.Contains(err.Error(), "email")
}

func userNameFromEmail(email string) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	b := []byte{}
	for _, c := range []byte(local) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b = append(b, c)
		default:
			b = append(b, '-')
		}
	}
	name := strings.Trim(string(b), ".-_")
	if len(name) > 30 {
		name = name[:30]
	}
	if name == "" || paas.ValidateUserName(name) != nil {
		name = "user"
	}
	return name
}

// ConfirmOrReset is Tsuru's reset-password for the account of email:
// without a code it mails one (the invite code again for an unconfirmed
// account, else a reset code); with the invite code it confirms the
// account (its sign-up password stands); with a reset code it sets a new
// random password and mails it, as Tsuru does.
func (p *Platform) ConfirmOrReset(ctx context.Context, email, code string) error {
	u, err := p.store.UserByEmail(email)
	if err != nil {
		return err
	}
	if !u.Confirmed {
		if code == "" {
			return p.resendInvite(u)
		}
		_, err := p.Confirm(ctx, u.Name, code, "")
		return err
	}
	if code == "" {
		return p.Forgot(ctx, u.Name, "", "")
	}
	password := paas.RandomSecret(16)
	if err := p.Forgot(ctx, u.Name, code, password); err != nil {
		return err
	}
	if err := p.cfg.Mailer.Send(u.Email, "Your new password",
		fmt.Sprintf("The password of user %s was reset; the new one is: %s", u.Name, password)); err != nil {
		p.log.Error("send new password", "user", u.Name, "err", err)
	}
	return nil
}

func (p *Platform) resendInvite(u paas.User) error {
	code := paas.RandomSecret(12)
	if _, err := p.store.UpdateUser(u.Name, func(x *paas.User) error {
		if x.Confirmed {
			return paas.Conflict("user %q is already confirmed", x.Name)
		}
		x.InviteHash = paas.SHA256Hex(code)
		return nil
	}); err != nil {
		return err
	}
	p.mailInvite(u.Name, u.Email, code)
	return nil
}

// ChangePassword sets the caller's password after checking the old one
// (a wrong one is 403, as Tsuru answers).
func (p *Platform) ChangePassword(ctx context.Context, pr *paas.Principal, old, new string) error {
	if old == "" || new == "" {
		return paas.BadRequest("both the old and the new password are required")
	}
	if err := p.manageAccount(ctx, pr, pr.User.Name); err != nil {
		return err
	}
	u, err := p.store.User(pr.User.Name)
	if err != nil {
		return err
	}
	if !p.auth.verify(u, old) {
		return paas.Forbidden("the old password does not match")
	}
	_, err = p.UpdateUser(ctx, pr, u.Name, UserUpdate{Password: &new})
	return err
}

// userRef resolves a user given by name or by email (Tsuru's way).
func (p *Platform) userRef(ref string) (string, error) {
	if strings.Contains(ref, "@") {
		u, err := p.store.UserByEmail(ref)
		return u.Name, err
	}
	u, err := p.store.User(paas.NormalizeUserName(ref))
	return u.Name, err
}

// AddTeamUser makes the user given by name or email a member of team
// (its owners only: the user is looked up after that check).
func (p *Platform) AddTeamUser(ctx context.Context, pr *paas.Principal, team, ref string) (paas.Team, error) {
	t, err := p.Team(ctx, pr, team)
	if err != nil {
		return paas.Team{}, err
	}
	if err := manageTeam(pr, t); err != nil {
		return paas.Team{}, err
	}
	name, err := p.userRef(ref)
	if err != nil {
		return paas.Team{}, err
	}
	if t.Role(name) != "" {
		return t, nil
	}
	return p.SetTeamMember(ctx, pr, team, name, paas.RoleMember)
}

// RemoveTeamUser removes the user given by name or email from team.
func (p *Platform) RemoveTeamUser(ctx context.Context, pr *paas.Principal, team, ref string) (paas.Team, error) {
	t, err := p.Team(ctx, pr, team)
	if err != nil {
		return paas.Team{}, err
	}
	name := paas.NormalizeUserName(ref)
	if strings.Contains(ref, "@") {
		if name, err = p.userRef(ref); err != nil {
			if manageTeam(pr, t) != nil {
				return paas.Team{}, manageTeam(pr, t)
			}
			return paas.Team{}, err
		}
	}
	return p.RemoveTeamMember(ctx, pr, t.Name, name)
}

// apiKeyID is the token Tsuru calls the user's API key.
const apiKeyID = "api-key"

// APIKey returns the caller's API key, a token with the usual
// restrictions (no account matters). Tokens are stored hashed, so a key is
// shown only when made: the first call makes it, later ones are a 409
// until regenerate makes a new one (the old one stops working).
func (p *Platform) APIKey(ctx context.Context, pr *paas.Principal, regenerate bool) (string, error) {
	if err := p.manageAccount(ctx, pr, pr.User.Name); err != nil {
		return "", err
	}
	secret, created, err := p.store.CreateToken(pr.User.Name, apiKeyID, regenerate)
	if err != nil {
		if errors.Is(err, paas.ErrConflict) && !regenerate {
			return "", paas.Conflict("the API key is stored hashed and was shown when it was made; regenerate it (POST) to see a new one")
		}
		return "", err
	}
	_ = created
	return secret, nil
}
