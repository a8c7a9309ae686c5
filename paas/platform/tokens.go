package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// asAccount runs fn on user's account once pr may manage it.
func asAccount[T any](ctx context.Context, p *Platform, pr *paas.Principal, user string, fn func(user string) (T, error)) (T, error) {
	return guarded(ctx, pr, user, p.manageAccount, fn)
}

// noValue adapts an error-only store call to asAccount.
func noValue(err error) (struct{}, error) { return struct{}{}, err }

// Tokens lists user's API tokens (never their secrets).
func (p *Platform) Tokens(ctx context.Context, pr *paas.Principal, user string) ([]paas.Token, error) {
	return asAccount(ctx, p, pr, user, p.store.Tokens)
}

// CreateToken creates the API token id for user and returns its secret,
// shown this once. With replace, an existing id is rotated (created false)
// instead of refused.
func (p *Platform) CreateToken(ctx context.Context, pr *paas.Principal, user, id string, replace bool) (secret string, created bool, err error) {
	_, err = asAccount(ctx, p, pr, user, func(user string) (struct{}, error) {
		if err := paas.ValidateTokenID(id); err != nil {
			return struct{}{}, err
		}
		secret, created, err = p.store.CreateToken(user, id, replace)
		return struct{}{}, err
	})
	return secret, created, err
}

// DeleteToken revokes one of user's API tokens.
func (p *Platform) DeleteToken(ctx context.Context, pr *paas.Principal, user, id string) error {
	_, err := asAccount(ctx, p, pr, user, func(user string) (struct{}, error) { return noValue(p.store.DeleteToken(user, id)) })
	return err
}

// ThirdPartyTokens lists user's stored third-party credentials.
func (p *Platform) ThirdPartyTokens(ctx context.Context, pr *paas.Principal, user string) ([]paas.ThirdPartyToken, error) {
	return asAccount(ctx, p, pr, user, p.store.ThirdParty)
}

// PutThirdPartyToken stores (sealed) a credential for a third-party provider.
func (p *Platform) PutThirdPartyToken(ctx context.Context, pr *paas.Principal, user string, t paas.ThirdPartyToken) (paas.ThirdPartyToken, error) {
	return asAccount(ctx, p, pr, user, func(user string) (paas.ThirdPartyToken, error) {
		if err := paas.ValidateThirdPartyToken(t); err != nil {
			return paas.ThirdPartyToken{}, err
		}
		return p.store.PutThirdParty(user, t)
	})
}

// DeleteThirdPartyToken removes one of user's third-party credentials.
func (p *Platform) DeleteThirdPartyToken(ctx context.Context, pr *paas.Principal, user, id string) error {
	_, err := asAccount(ctx, p, pr, user, func(user string) (struct{}, error) { return noValue(p.store.DeleteThirdParty(user, id)) })
	return err
}

// SSHKeys lists user's public keys.
func (p *Platform) SSHKeys(ctx context.Context, pr *paas.Principal, user string) ([]paas.SSHKey, error) {
	return asAccount(ctx, p, pr, user, p.store.SSHKeys)
}

// SSHKey returns one of user's public keys.
func (p *Platform) SSHKey(ctx context.Context, pr *paas.Principal, user, id string) (paas.SSHKey, error) {
	return asAccount(ctx, p, pr, user, func(user string) (paas.SSHKey, error) { return p.store.SSHKey(user, id) })
}

// PutSSHKey adds or replaces a public key of user.
func (p *Platform) PutSSHKey(ctx context.Context, pr *paas.Principal, user string, k paas.SSHKey) (paas.SSHKey, error) {
	return asAccount(ctx, p, pr, user, func(user string) (paas.SSHKey, error) {
		if err := paas.ValidateTokenID(k.ID); err != nil {
			return paas.SSHKey{}, err
		}
		if err := paas.ValidateSSHKey(k.Key); err != nil {
			return paas.SSHKey{}, err
		}
		return p.store.PutSSHKey(user, k)
	})
}

// DeleteSSHKey removes one of user's public keys.
func (p *Platform) DeleteSSHKey(ctx context.Context, pr *paas.Principal, user, id string) error {
	_, err := asAccount(ctx, p, pr, user, func(user string) (struct{}, error) { return noValue(p.store.DeleteSSHKey(user, id)) })
	return err
}
