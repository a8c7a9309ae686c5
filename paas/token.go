package paas

import (
	"regexp"
	"strings"
	"time"
)

// Token is an API token. Only its SHA-256 is stored; the token itself is
// shown once, when it is created.
type Token struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Hint    string    `json:"hint,omitempty"` // a few characters of a Jitsu key, to tell keys apart
}

// JitsuKeyPrefix starts the token ids of a user's Jitsu API keys; the key
// itself, "<keyId>:<secret>", is the token's secret.
const JitsuKeyPrefix = "jitsu."

// APIKey is a Jitsu API key as listed and posted (POST /api/user/keys);
// Plaintext is the secret, sent once.
type APIKey struct {
	ID        string    `json:"id"`
	Plaintext string    `json:"plaintext,omitempty"`
	Hint      string    `json:"hint,omitempty"`
	Created   time.Time `json:"created,omitzero"`
}

// TokenPrefix marks platform tokens so Basic auth can tell a token from a
// password without a bcrypt comparison.
const TokenPrefix = "paas_"

var tokenIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateTokenID checks a client-chosen token id.
func ValidateTokenID(id string) error {
	if !tokenIDRE.MatchString(id) {
		return BadRequest("invalid token id %q: use 1-64 letters, digits, '.', '_', '@' or '-'", id)
	}
	if strings.HasPrefix(id, SessionTokenPrefix) {
		return BadRequest("token ids starting with %q are reserved for login sessions", SessionTokenPrefix)
	}
	return nil
}

func NewTokenSecret() string { return TokenPrefix + RandomSecret(32) }

func LooksLikeToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// ThirdPartyToken is a credential a user stores for a third-party provider
// (e.g. GitHub). The token is sealed at rest.
type ThirdPartyToken struct {
	ID       string    `json:"id"`
	Provider string    `json:"provider"`
	Token    string    `json:"-"`
	Sealed   []byte    `json:"sealed"`
	Created  time.Time `json:"created"`
}

// SSHKey is a public key a user registers.
type SSHKey struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
}

var sshKeyRE = regexp.MustCompile(`^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$`)

// ValidateSSHKey checks an OpenSSH public key line.
func ValidateSSHKey(k string) error {
	if !sshKeyRE.MatchString(strings.TrimSpace(k)) || len(k) > 16384 {
		return BadRequest("key must be an OpenSSH public key line (e.g. \"ssh-ed25519 AAAA… comment\")")
	}
	return nil
}

// ThirdPartyProviders are the providers a third-party token may be for.
var ThirdPartyProviders = map[string]bool{"github": true, "gitlab": true, "bitbucket": true, "npm": true}

// ValidateThirdPartyToken checks a credential before it is stored.
func ValidateThirdPartyToken(t ThirdPartyToken) error {
	if t.Token == "" || t.Provider == "" {
		return BadRequest("token and provider are required")
	}
	if !ThirdPartyProviders[t.Provider] {
		return BadRequest("unsupported provider %q (supported: github, gitlab, bitbucket, npm)", t.Provider)
	}
	if len(t.Token) > 4096 {
		return BadRequest("token is too long")
	}
	return ValidateTokenID(t.ID)
}
