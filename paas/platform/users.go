package platform

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/selfhost/paas/paas"
)

// SignUp creates an unconfirmed account and sends its invite code. The
// password is optional here; without it, one must be given at confirmation.
func (p *Platform) SignUp(ctx context.Context, name, email, password string) (paas.User, error) {
	name = paas.NormalizeUserName(name)
	if err := paas.ValidateUserName(name); err != nil {
		return paas.User{}, err
	}
	if err := paas.ValidateEmail(email); err != nil {
		return paas.User{}, err
	}
	u := paas.User{Name: name, Email: email}
	if password != "" {
		hash, err := p.newPasswordHash(password)
		if err != nil {
			return paas.User{}, err
		}
		u.PasswordHash = hash
	}
	code := paas.RandomSecret(12)
	u.InviteHash = paas.SHA256Hex(code)
	if err := p.store.CreateUser(u); err != nil {
		return paas.User{}, err
	}
	p.mailInvite(name, email, code)
	return p.store.User(name)
}

// Confirm activates an account with its invite code, setting the password
// when one is given (required when sign-up had none).
func (p *Platform) Confirm(ctx context.Context, name, code, password string) (paas.User, error) {
	name = paas.NormalizeUserName(name)
	var hash []byte
	if password != "" {
		var err error
		if hash, err = p.newPasswordHash(password); err != nil {
			return paas.User{}, err
		}
	}
	return p.store.UpdateUser(name, func(u *paas.User) error {
		if u.Confirmed {
			return paas.Conflict("user %q is already confirmed", name)
		}
		if code == "" || subtle.ConstantTimeCompare([]byte(paas.SHA256Hex(code)), []byte(u.InviteHash)) != 1 {
			return paas.BadRequest("invalid invite code")
		}
		if hash != nil {
			u.PasswordHash = hash
		}
		if len(u.PasswordHash) == 0 {
			return paas.BadRequest("password is required to confirm this account")
		}
		u.Confirmed, u.InviteHash = true, ""
		return nil
	})
}

const resetValidity = time.Hour

// Forgot starts a password reset (no shake: a reset code is sent) or
// completes one (shake and a new password).
func (p *Platform) Forgot(ctx context.Context, name, shake, password string) error {
	name = paas.NormalizeUserName(name)
	if shake == "" {
		code := paas.RandomSecret(12)
		u, err := p.store.UpdateUser(name, func(u *paas.User) error {
			u.ResetHash, u.ResetExpires = paas.SHA256Hex(code), time.Now().Add(resetValidity).UTC()
			return nil
		})
		if err != nil {
			return err
		}
		if err := p.cfg.Mailer.Send(u.Email, "Password reset",
			fmt.Sprintf("Your password reset code for user %s is: %s (valid for one hour)", name, code)); err != nil {
			p.log.Error("send reset code", "user", name, "err", err)
		}
		return nil
	}
	hash, err := p.newPasswordHash(password)
	if err != nil {
		return err
	}
	_, err = p.store.UpdateUser(name, func(u *paas.User) error {
		if u.ResetHash == "" || time.Now().After(u.ResetExpires) ||
			subtle.ConstantTimeCompare([]byte(paas.SHA256Hex(shake)), []byte(u.ResetHash)) != 1 {
			return paas.BadRequest("invalid or expired reset code")
		}
		u.PasswordHash, u.ResetHash, u.ResetExpires = hash, "", time.Time{}
		return nil
	})
	return err
}

// UserUpdate is what a user may change about their account.
type UserUpdate struct {
	Password *string
	Email    *string
}

// UpdateUser changes a password or email.
func (p *Platform) UpdateUser(ctx context.Context, pr *paas.Principal, name string, up UserUpdate) (paas.User, error) {
	name = paas.NormalizeUserName(name)
	if err := p.manageAccount(ctx, pr, name); err != nil {
		return paas.User{}, err
	}
	if up.Password == nil && up.Email == nil {
		return paas.User{}, paas.BadRequest("nothing to update: give password or email")
	}
	var hash []byte
	if up.Password != nil {
		var err error
		if hash, err = p.newPasswordHash(*up.Password); err != nil {
			return paas.User{}, err
		}
	}
	if up.Email != nil {
		if err := paas.ValidateEmail(*up.Email); err != nil {
			return paas.User{}, err
		}
	}
	return p.store.UpdateUser(name, func(u *paas.User) error {
		if hash != nil {
			u.PasswordHash = hash
		}
		if up.Email != nil {
			u.Email = *up.Email
		}
		return nil
	})
}

// DeleteUser removes an account with everything it owns, containers
// included, and its team memberships.
func (p *Platform) DeleteUser(ctx context.Context, pr *paas.Principal, name string) error {
	name = paas.NormalizeUserName(name)
	if err := p.manageAccount(ctx, pr, name); err != nil {
		return err
	}
	dbs, err := p.store.Databases(name)
	if err != nil {
		return err
	}
	apps, err := p.store.DeleteUser(name)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		p.removeServer(ctx, d)
	}
	p.appsDidChange()
	p.zonesDidChange()
	for _, a := range apps {
		p.removeUnits(ctx, a)
	}
	return nil
}

// User returns name's account, for the user itself or an admin.
func (p *Platform) User(ctx context.Context, pr *paas.Principal, name string) (paas.User, error) {
	return asAccount(ctx, p, pr, name, p.store.User)
}

// UserAvailable reports whether name can be signed up; reason says why
// not when the name itself is invalid.
func (p *Platform) UserAvailable(ctx context.Context, name string) (ok bool, reason string, err error) {
	name = paas.NormalizeUserName(name)
	if err := paas.ValidateUserName(name); err != nil {
		return false, err.Error(), nil
	}
	_, err = p.store.OwnerKind(name)
	if paas.IsNotFound(err) {
		return true, "", nil
	}
	return false, "", err
}

// EmailTaken reports whether an account uses email.
func (p *Platform) EmailTaken(ctx context.Context, email string) (bool, error) {
	if email == "" {
		return false, paas.BadRequest("email is required")
	}
	return p.store.EmailTaken(email)
}

// mailInvite sends an account's invite code (a failure is logged: the
// account can ask for it again).
func (p *Platform) mailInvite(name, email, code string) {
	if err := p.cfg.Mailer.Send(email, "Confirm your account",
		fmt.Sprintf("Your invite code for user %s is: %s", name, code)); err != nil {
		p.log.Error("send invite code", "user", name, "err", err)
	}
}

// Users lists every account, for an admin (the web UI's users screen).
func (p *Platform) Users(ctx context.Context, pr *paas.Principal) ([]paas.User, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if !pr.IsAdmin() {
		return nil, paas.Forbidden("only admins list users")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return p.store.Users()
}
