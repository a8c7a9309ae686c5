package platform

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
	"golang.org/x/crypto/bcrypt"
)

// DefaultPasswordCost is the bcrypt cost of stored passwords.
const DefaultPasswordCost = 11

func (p *Platform) hashPassword(pw string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(pw), p.cfg.PasswordCost)
}

// newPasswordHash checks a password a user chose against the policy and
// hashes it. The admin's bootstrap password skips the policy: the operator set it.
func (p *Platform) newPasswordHash(pw string) ([]byte, error) {
	if err := paas.ValidatePassword(pw); err != nil {
		return nil, err
	}
	return p.hashPassword(pw)
}

// AuthenticateBasic checks HTTP Basic credentials: the secret is either the
// user's password or one of the user's API tokens.
func (p *Platform) AuthenticateBasic(name, secret string) (*paas.Principal, error) {
	name = paas.NormalizeUserName(name)
	if paas.LooksLikeToken(secret) {
		t, err := p.store.TokenBySecret(secret)
		if err == nil && t.User == name {
			return p.principalFor(t.User, t.ID)
		}
		if err != nil && !errors.Is(err, paas.ErrUnauthorized) {
			return nil, err
		}
		// Not a token of this user: it may still be a password that looks like one.
	}
	u, err := p.store.User(name)
	if err != nil {
		if paas.IsNotFound(err) {
			// Spend the same time as a real check so user names cannot be probed by timing.
			_ = bcrypt.CompareHashAndPassword(p.dummyHash(), []byte(secret))
			return nil, paas.Unauthorized("invalid credentials")
		}
		return nil, err
	}
	if !p.auth.verify(u, secret) {
		return nil, paas.Unauthorized("invalid credentials")
	}
	return p.checkConfirmed(u, "")
}

// AuthenticateBearer checks an API token sent as a bearer token. A token
// stands for its user with the token restriction.
func (p *Platform) AuthenticateBearer(secret string) (*paas.Principal, error) {
	t, err := p.store.TokenBySecret(secret)
	if err != nil {
		return nil, err
	}
	return p.principalFor(t.User, t.ID)
}

func (p *Platform) principalFor(name, tokenID string) (*paas.Principal, error) {
	u, err := p.store.User(name)
	if err != nil {
		if paas.IsNotFound(err) {
			return nil, paas.Unauthorized("invalid credentials")
		}
		return nil, err
	}
	return p.checkConfirmed(u, tokenID)
}

func (p *Platform) checkConfirmed(u paas.User, tokenID string) (*paas.Principal, error) {
	if !u.Confirmed {
		return nil, paas.Forbidden("account %q is not confirmed; confirm it with the invite code", u.Name)
	}
	return &paas.Principal{User: u, ViaToken: tokenID != "", TokenID: tokenID}, nil
}

// StillValid checks that pr's credential still stands: the same account
// (not a new one that took its name: accounts are told apart by their
// creation time), and, for a token, the token itself. Long requests (log
// streams) ask it as they go, so revoking a token or deleting the user ends
// them.
func (p *Platform) StillValid(ctx context.Context, pr *paas.Principal) error {
	if pr == nil {
		return paas.Unauthorized("authentication required")
	}
	u, err := p.store.User(pr.User.Name)
	if paas.IsNotFound(err) || (err == nil && !u.Created.Equal(pr.User.Created)) {
		return paas.Unauthorized("the account is gone")
	}
	if err != nil {
		return err
	}
	if pr.ViaToken {
		toks, err := p.store.Tokens(u.Name)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(toks, func(t paas.Token) bool { return t.ID == pr.TokenID }) {
			return paas.Unauthorized("the API token was revoked")
		}
	}
	return nil
}

// authCache remembers recent successful password checks, so clients that
// send Basic credentials on every request (the jitsu CLI does) do not pay a
// bcrypt comparison each time. Entries are keyed by a hash of the user, the
// secret and the stored password hash, so a password change invalidates them.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]time.Time
}

const authCacheTTL = 5 * time.Minute

func newAuthCache() *authCache { return &authCache{entries: map[[32]byte]time.Time{}} }

func (c *authCache) verify(u paas.User, secret string) bool {
	if len(u.PasswordHash) == 0 {
		return false
	}
	h := sha256.New()
	h.Write([]byte(u.Name))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	h.Write([]byte{0})
	h.Write(u.PasswordHash)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	now := time.Now()
	c.mu.Lock()
	exp, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(secret)) != nil {
		return false
	}
	c.mu.Lock()
	if len(c.entries) > 10000 {
		c.entries = map[[32]byte]time.Time{}
	}
	c.entries[k] = now.Add(authCacheTTL)
	c.mu.Unlock()
	return true
}
