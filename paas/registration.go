package paas

import "time"

// Registration is a login by email in progress (the now CLI's): the user
// confirms it from the link mailed to the account's address, and the CLI,
// which polls with its verification token, then gets an API token.
type Registration struct {
	User         string    `json:"user"`
	Email        string    `json:"email"`
	SecurityCode string    `json:"security_code"` // shown by the CLI and in the mail, to match them
	Verified     bool      `json:"verified"`
	Expires      time.Time `json:"expires"`
}

// RegistrationValidity is how long a login by email may wait for its confirmation.
const RegistrationValidity = 15 * time.Minute
