package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// Healers lists the platform's self-healing jobs (admins only).
func (p *Platform) Healers(ctx context.Context, pr *paas.Principal) ([]paas.Healer, error) {
	if err := requireAdmin(pr, "listing healers"); err != nil {
		return nil, err
	}
	return p.deployer.Healers(), nil
}

// Heal runs one healer now (admins only).
func (p *Platform) Heal(ctx context.Context, pr *paas.Principal, name string) (paas.Healer, error) {
	if err := requireAdmin(pr, "running a healer"); err != nil {
		return paas.Healer{}, err
	}
	return p.deployer.Heal(ctx, name)
}
