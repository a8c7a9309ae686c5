package platform

import (
	"context"
	"io"
	"os"
	"time"

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
	if s.Archive != "" {
		data, err := p.store.Blob(s.Archive)
		if err != nil {
			return s, err
		}
		_, err = w.Write(data)
		return s, err
	}
	return s, paas.WriteArchive(w, s.Files, p.store.Blob)
}

// maxKeptArchive bounds the archives kept as uploaded (a download of a
// bigger one is made again from its files): the store holds a value in
// memory while it writes it.
const maxKeptArchive = 64 << 20

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
	release, err := p.uploads.acquire(a.Owner)
	if err != nil {
		return paas.Snapshot{}, err
	}
	defer release()
	spool, err := paas.NewSpool(p.cfg.SpoolDir)
	if err != nil {
		return paas.Snapshot{}, err
	}
	defer spool.Close()
	// The upload as it came, beside its files, so a download gives back
	// the same bytes (and the same checksum as the client's).
	raw, err := os.CreateTemp(p.cfg.SpoolDir, "paas-upload-*")
	if err != nil {
		return paas.Snapshot{}, err
	}
	defer os.Remove(raw.Name())
	defer raw.Close()
	cr := &countingReader{r: io.TeeReader(body, raw)}
	files, err := paas.ReadArchive(cr, p.cfg.Archive, spool)
	if err != nil {
		return paas.Snapshot{}, err
	}
	// The gzip trailer (and any padding) after the tar's end is part of
	// the upload too.
	if _, err := io.Copy(io.Discard, io.LimitReader(cr, 1<<20)); err != nil {
		return paas.Snapshot{}, err
	}
	sn, err := paas.SnapshotFromFiles(files)
	if err != nil {
		return paas.Snapshot{}, err
	}
	sn.Owner, sn.App, sn.ID, sn.Size = a.Owner, a.Name, id, cr.n
	sn.Filename = a.Name + "-" + id + ".tgz"
	if cr.n <= maxKeptArchive {
		if sn.ArchiveData, err = os.ReadFile(raw.Name()); err != nil {
			return paas.Snapshot{}, err
		}
		sn.ArchiveData = sn.ArchiveData[:min(int64(len(sn.ArchiveData)), cr.n)]
	}
	sn, err = p.store.CreateSnapshot(sn, files)
	if err != nil {
		return sn, err
	}
	// Prepared in the background from now on, so that activating it finds
	// its code ready.
	p.deployer.Prepare(a, sn)
	return sn, nil
}

// DeleteSnapshot removes a snapshot that is not the active one, with what
// was prepared for it.
func (p *Platform) DeleteSnapshot(ctx context.Context, pr *paas.Principal, owner, app, id string) error {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return err
	}
	// Under the app's deploy lock: a deploy in flight to this snapshot
	// finishes first, and then the store refuses to delete the active one.
	removed := false
	err = p.deployer.RemoveSnapshot(ctx, a.Key(), id, func() error {
		if err := p.store.DeleteSnapshot(a.Owner, a.Name, id); err != nil {
			return err
		}
		removed = true
		return nil
	})
	if err != nil && removed {
		// The record is gone; the next start's collection removes leftovers.
		p.log.Warn("remove prepared code of deleted snapshot", "app", a.Key(), "snapshot", id, "err", err)
		return nil
	}
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
	exists := func() error { _, err := p.store.Snapshot(a.Owner, a.Name, id); return err }
	if err := exists(); err != nil {
		return a, err
	}
	// Checked again under the app's lock, where no deletion can run.
	return p.redeploy(ctx, a, func(a *paas.App) { a.Snapshot = id }, exists)
}

// RecordDeploy notes how a deploy of owner's snapshot went.
func (p *Platform) RecordDeploy(ctx context.Context, pr *paas.Principal, owner, app, id string, took time.Duration, failure string) error {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return err
	}
	return p.store.RecordDeploy(a.Owner, a.Name, id, took, failure)
}

// SnapshotCount is how many snapshots owner's app has.
func (p *Platform) SnapshotCount(ctx context.Context, pr *paas.Principal, owner, app string) (int, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return 0, err
	}
	return p.store.SnapshotCount(a.Owner, a.Name)
}
