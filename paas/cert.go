package paas

import "time"

// Certificate is what the platform keeps for one TLS name (its CN): the
// certificate, user-supplied or obtained from the ACME CA, and the last
// failure to obtain it, when the last attempt failed. A name that never
// got a certificate has no Expires.
type Certificate struct {
	CN        string
	UID       string
	Names     []string
	Custom    bool
	Created   time.Time
	Expires   time.Time
	AutoRenew bool
	Error     string    // the last attempt's failure
	Failures  int       // attempts failed in a row
	RetryAt   time.Time // the next attempt, after a failure
}

// CustomCert is a user-supplied certificate, all PEM: the leaf (Cert),
// the rest of its chain (CA) and its private key, for Domains.
type CustomCert struct {
	Domains       []string
	Cert, CA, Key string
}
