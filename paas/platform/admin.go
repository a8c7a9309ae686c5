package platform

import (
	"context"
	"io"

	"github.com/selfhost/paas/paas"
)

// Backup writes a consistent copy of the whole database to w, for an admin
// using the password.
func (p *Platform) Backup(ctx context.Context, pr *paas.Principal, w io.Writer) error {
	if err := requireAdmin(pr, "backups"); err != nil {
		return err
	}
	_, err := p.store.Backup(w)
	return err
}
