package platform

import (
	"context"
	"io"

	"github.com/selfhost/paas/paas"
)

// Snapshots lists the snapshots of owner's app, oldest first.
func (p *Platform) Snapshots(ctx context.Context, pr *paas.Principal, owner, app string) ([]paas.Snapshot, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return nil, err
	}
	return p.store.Snapshots(a.Owner, a.Name)
}

// Snapshot returns one snapshot of owner's app.
func (p *Platform) Snapshot(ctx context.Context, pr *paas.Principal, owner, app, id string) (paas.Snapshot, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Snapshot, error) { return p.store.Snapshot(owner, app, id) })
}

// WriteSnapshotArchive writes a snapshot's files to w as a .tgz.
func (p *Platform) WriteSnapshotArchive(ctx context.Context, pr *paas.Principal, owner, app, id string, w io.Writer) (paas.Snapshot, error) {
	s, err := p.Snapshot(ctx, pr, owner, app, id)
	if err != nil {
		return s, err
	}
	return s, paas.WriteArchive(w, s.Files, p.store.Blob)
}

// UploadSnapshot stores a new snapshot of owner's app from a .tgz archive.
// Nothing is stored unless the archive is valid and complete.
func (p *Platform) UploadSnapshot(ctx context.Context, pr *paas.Principal, owner, app, id string, body io.Reader) (paas.Snapshot, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return paas.Snapshot{}, err
	}
	if err := paas.ValidateSnapshotID(id); err != nil {
		return paas.Snapshot{}, err
	}
	if _, err := p.store.Snapshot(a.Owner, a.Name, id); err == nil {
		return paas.Snapshot{}, paas.Conflict("snapshot %q already exists", id)
	}
	cr := &countingReader{r: body}
	files, err := paas.ReadArchive(cr, p.cfg.Archive)
	if err != nil {
		return paas.Snapshot{}, err
	}
	sn, err := paas.SnapshotFromFiles(files)
	if err != nil {
		return paas.Snapshot{}, err
	}
	sn.Owner, sn.App, sn.ID, sn.Size = a.Owner, a.Name, id, cr.n
	sn.Filename = a.Name + "-" + id + ".tgz"
	return p.store.CreateSnapshot(sn, files)
}

// DeleteSnapshot removes a snapshot that is not the active one.
func (p *Platform) DeleteSnapshot(ctx context.Context, pr *paas.Principal, owner, app, id string) error {
	_, err := asOwner(ctx, p, pr, owner, func(owner string) (struct{}, error) { return noValue(p.store.DeleteSnapshot(owner, app, id)) })
	return err
}

// ActivateSnapshot makes a snapshot the active one. A started app is
// redeployed on it first; if that fails, the previous snapshot stays active
// and keeps serving.
func (p *Platform) ActivateSnapshot(ctx context.Context, pr *paas.Principal, owner, app, id string) (paas.App, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return a, err
	}
	if _, err := p.store.Snapshot(a.Owner, a.Name, id); err != nil {
		return a, err
	}
	return p.redeploy(ctx, a, func(a *paas.App) { a.Snapshot = id })
}
