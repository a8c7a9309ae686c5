package paas

import "strings"

// Principal is an authenticated caller.
type Principal struct {
	User User
	// ViaToken is true when the caller used an API token rather than the
	// password; such callers may not read or change the profile, password
	// or tokens.
	ViaToken bool
	// TokenID is the API token used (when ViaToken): a long request (a log
	// stream) ends when it is revoked.
	TokenID string
}

// SessionTokenPrefix starts the id of a token minted by a password login
// (Tsuru's): it stands for the login, so it may do what the password may.
// Clients cannot choose such ids for their own tokens.
const SessionTokenPrefix = "session-"

// Session reports whether the caller used a login session's token.
func (p *Principal) Session() bool {
	return p != nil && p.ViaToken && strings.HasPrefix(p.TokenID, SessionTokenPrefix)
}

// IsAdmin reports whether the caller may see and change everything.
func (p *Principal) IsAdmin() bool { return p != nil && p.User.Admin }
