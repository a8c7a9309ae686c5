package paas

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

// IsAdmin reports whether the caller may see and change everything.
func (p *Principal) IsAdmin() bool { return p != nil && p.User.Admin }
