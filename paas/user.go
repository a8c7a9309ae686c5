package paas

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// User is an account. Names are lowercase; the API accepts any case.
type User struct {
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	PasswordHash []byte    `json:"password_hash,omitempty"` // bcrypt; empty until a password is set
	Admin        bool      `json:"admin,omitempty"`
	Confirmed    bool      `json:"confirmed"`
	InviteHash   string    `json:"invite_hash,omitempty"` // sha256 of the invite code
	ResetHash    string    `json:"reset_hash,omitempty"`  // sha256 of a password-reset code
	ResetExpires time.Time `json:"reset_expires,omitzero"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,38}$`)

// reservedUserNames collide with static path segments of the API faces.
var reservedUserNames = map[string]bool{"email": true}

// NormalizeUserName lowercases a user name from a path or body.
func NormalizeUserName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// ValidateUserName rejects names that cannot be a user id.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return BadRequest("invalid user name %q: use 1-39 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if reservedUserNames[name] {
		return BadRequest("user name %q is reserved", name)
	}
	return nil
}

// ValidateEmail checks an email address for sign-up.
func ValidateEmail(email string) error {
	if email == "" {
		return BadRequest("email is required")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return BadRequest("invalid email address %q", email)
	}
	return nil
}

// ValidatePassword enforces a minimal password policy.
func ValidatePassword(pw string) error {
	if len(pw) < 8 {
		return BadRequest("password must be at least 8 characters")
	}
	if len(pw) > 72 {
		return BadRequest("password must be at most 72 bytes") // bcrypt's limit
	}
	if LooksLikeToken(pw) { // Basic auth would take it for an API token and never check it as a password
		return BadRequest("password must not start with %q, the API token prefix", TokenPrefix)
	}
	return nil
}
