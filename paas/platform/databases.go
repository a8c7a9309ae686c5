package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// Databases lists owner's databases.
func (p *Platform) Databases(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Database, error) {
	return asOwner(ctx, p, pr, owner, p.store.Databases)
}

// Database returns one of owner's databases.
func (p *Platform) Database(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) { return p.store.Database(owner, name) })
}

// CreateDatabase records a database of type typ for owner.
func (p *Platform) CreateDatabase(ctx context.Context, pr *paas.Principal, owner, name, typ string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) {
		if err := paas.ValidateDatabase(name, typ); err != nil {
			return paas.Database{}, err
		}
		return p.store.CreateDatabase(paas.Database{Owner: owner, Name: name, Type: typ,
			Status: paas.DatabaseStatusPending, Message: paas.DatabasePendingMessage})
	})
}

// DeleteDatabase removes one of owner's databases.
func (p *Platform) DeleteDatabase(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) { return p.store.DeleteDatabase(owner, name) })
}
