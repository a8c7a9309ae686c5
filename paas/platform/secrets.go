package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// Secrets lists owner's secrets (their values are never shown).
func (p *Platform) Secrets(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Secret, error) {
	return asOwner(ctx, p, pr, owner, p.store.Secrets)
}

// CreateSecret stores a secret for owner.
func (p *Platform) CreateSecret(ctx context.Context, pr *paas.Principal, owner, name, value string) (paas.Secret, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Secret, error) {
		if err := paas.ValidateSecretName(name); err != nil {
			return paas.Secret{}, err
		}
		if len(value) > paas.MaxSecretValue {
			return paas.Secret{}, paas.BadRequest("secret value is larger than %d bytes", paas.MaxSecretValue)
		}
		return p.store.CreateSecret(paas.Secret{UID: paas.NewSecretUID(), Owner: owner, Name: name, Value: value})
	})
}

// RenameSecret renames owner's secret (by uid or name) and returns it
// with its old name.
func (p *Platform) RenameSecret(ctx context.Context, pr *paas.Principal, owner, ref, name string) (paas.Secret, string, error) {
	var old string
	sec, err := asOwner(ctx, p, pr, owner, func(owner string) (paas.Secret, error) {
		if err := paas.ValidateSecretName(name); err != nil {
			return paas.Secret{}, err
		}
		sec, o, err := p.store.RenameSecret(owner, ref, name)
		old = o
		return sec, err
	})
	return sec, old, err
}

// DeleteSecret removes owner's secret (by uid or name).
func (p *Platform) DeleteSecret(ctx context.Context, pr *paas.Principal, owner, ref string) (paas.Secret, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Secret, error) { return p.store.DeleteSecret(owner, ref) })
}
