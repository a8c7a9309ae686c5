package paas

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"
)

// SignUp creates an unconfirmed account and sends its invite code. The
// password is optional here; without it, one must be given at confirmation.
func (p *Platform) SignUp(name, email, password string) (User, error) {
	name = NormalizeUserName(name)
	if err := ValidateUserName(name); err != nil {
		return User{}, err
	}
	if err := ValidateEmail(email); err != nil {
		return User{}, err
	}
	u := User{Name: name, Email: email}
	if password != "" {
		if err := ValidatePassword(password); err != nil {
			return User{}, err
		}
		hash, err := p.hashPassword(password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash = hash
	}
	code := randomSecret(12)
	u.InviteHash = sha256Hex(code)
	if err := p.Store.CreateUser(u); err != nil {
		return User{}, err
	}
	if err := p.cfg.Mailer.Send(email, "Confirm your account",
		fmt.Sprintf("Your invite code for user %s is: %s", name, code)); err != nil {
		p.log.Error("send invite code", "user", name, "err", err)
	}
	return p.Store.User(name)
}

// Confirm activates an account with its invite code, setting the password
// when one is given (required when sign-up had none).
func (p *Platform) Confirm(name, code, password string) (User, error) {
	name = NormalizeUserName(name)
	var hash []byte
	if password != "" {
		if err := ValidatePassword(password); err != nil {
			return User{}, err
		}
		var err error
		if hash, err = p.hashPassword(password); err != nil {
			return User{}, err
		}
	}
	return p.Store.UpdateUser(name, func(u *User) error {
		if u.Confirmed {
			return Conflict("user %q is already confirmed", name)
		}
		if code == "" || subtle.ConstantTimeCompare([]byte(sha256Hex(code)), []byte(u.InviteHash)) != 1 {
			return BadRequest("invalid invite code")
		}
		if hash != nil {
			u.PasswordHash = hash
		}
		if len(u.PasswordHash) == 0 {
			return BadRequest("password is required to confirm this account")
		}
		u.Confirmed, u.InviteHash = true, ""
		return nil
	})
}

const resetValidity = time.Hour

// Forgot starts a password reset (no shake: a reset code is sent) or
// completes one (shake and a new password).
func (p *Platform) Forgot(name, shake, password string) error {
	name = NormalizeUserName(name)
	if shake == "" {
		code := randomSecret(12)
		u, err := p.Store.UpdateUser(name, func(u *User) error {
			u.ResetHash, u.ResetExpires = sha256Hex(code), time.Now().Add(resetValidity).UTC()
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
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := p.hashPassword(password)
	if err != nil {
		return err
	}
	_, err = p.Store.UpdateUser(name, func(u *User) error {
		if u.ResetHash == "" || time.Now().After(u.ResetExpires) ||
			subtle.ConstantTimeCompare([]byte(sha256Hex(shake)), []byte(u.ResetHash)) != 1 {
			return BadRequest("invalid or expired reset code")
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
func (p *Platform) UpdateUser(name string, up UserUpdate) (User, error) {
	var hash []byte
	if up.Password != nil {
		if err := ValidatePassword(*up.Password); err != nil {
			return User{}, err
		}
		var err error
		if hash, err = p.hashPassword(*up.Password); err != nil {
			return User{}, err
		}
	}
	if up.Email != nil {
		if err := ValidateEmail(*up.Email); err != nil {
			return User{}, err
		}
	}
	return p.Store.UpdateUser(name, func(u *User) error {
		if hash != nil {
			u.PasswordHash = hash
		}
		if up.Email != nil {
			u.Email = *up.Email
		}
		return nil
	})
}

// DeleteUser removes an account with everything it owns, containers included.
func (p *Platform) DeleteUser(ctx context.Context, name string) error {
	apps, err := p.Store.DeleteUser(name)
	if err != nil {
		return err
	}
	p.appsDidChange()
	p.zonesDidChange()
	for _, a := range apps {
		if err := p.Deployer.Remove(ctx, a.Key()); err != nil {
			p.log.Error("remove containers of deleted app", "app", a.Key(), "err", err)
		}
	}
	return nil
}
