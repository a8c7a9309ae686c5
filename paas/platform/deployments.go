package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/selfhost/paas/paas"
)

// DeploymentHost is the hostname a deployment is served at.
func (p *Platform) DeploymentHost(d paas.Deployment) string { return d.Label + "." + p.cfg.Domain }

// CreateDeployment makes a now deployment of owner's app package.name
// (created when owner has none) from files: a snapshot of its own, a
// hostname of its own, and units that start in the background. It answers
// once all of it is stored, in state BOOTING; the state becomes READY once
// the units answer HTTP, or DEPLOYMENT_ERROR with the reason in the
// deployment's logs. env is the deployment's own, over the app's.
func (p *Platform) CreateDeployment(ctx context.Context, pr *paas.Principal, owner string, files []paas.ArchiveFile, env map[string]string) (paas.Deployment, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) {
		if err := paas.ValidateEnv(env); err != nil {
			return paas.Deployment{}, err
		}
		sn, err := paas.SnapshotFromFiles(files)
		if err != nil {
			return paas.Deployment{}, err
		}
		pkg, err := paas.ParsePackageJSON(sn.Package)
		if err != nil {
			return paas.Deployment{}, err
		}
		a, err := p.store.App(owner, pkg.Name)
		if errors.Is(err, paas.ErrNotFound) {
			a, err = p.CreateApp(ctx, pr, owner, paas.AppSpec{Name: pkg.Name})
		}
		if err != nil {
			return paas.Deployment{}, err
		}
		for _, f := range files {
			sn.Size += f.Size
		}
		var dep paas.Deployment
		// A label is 10 random characters: a collision is rare, and retried.
		for range 3 {
			uid := paas.NewDeploymentUID()
			sn.Filename = a.Name + "-" + uid + ".tgz"
			dep = paas.Deployment{UID: uid, Owner: owner, App: a.Name, Label: paas.DeploymentLabel(a.Subdomain),
				State: paas.DeploymentBooting, Env: env}
			dep, sn, err = p.store.CreateDeployment(dep, sn, files)
			if !errors.Is(err, paas.ErrConflict) {
				break
			}
		}
		if err != nil {
			return paas.Deployment{}, err
		}
		p.appsDidChange() // its hostname: routes and DNS
		p.boot(dep)
		return dep, nil
	})
}

// boot starts dep's units in the background, owned by the deployer (Close
// cancels it), and records how that went.
func (p *Platform) boot(dep paas.Deployment) {
	p.deployer.Background(func(ctx context.Context) {
		a, err := p.store.App(dep.Owner, dep.App)
		if err != nil {
			return // the app went meanwhile, with its deployments
		}
		view := dep.AppView(a)
		err = p.deployer.Deploy(ctx, view, func() error {
			_, err := p.store.SetDeploymentState(dep.UID, paas.DeploymentReady, "")
			return err
		})
		if err == nil || ctx.Err() != nil {
			return // a shutdown: the next start's reconcile boots it again
		}
		if errors.Is(err, paas.ErrNotFound) {
			// Deleted while it booted: its units must not outlive it.
			_ = p.deployer.Stop(ctx, dep.Target())
			return
		}
		p.deployer.Note(view, fmt.Sprintf("deployment failed: %v", err))
		if _, err := p.store.SetDeploymentState(dep.UID, paas.DeploymentError, err.Error()); err != nil && !errors.Is(err, paas.ErrNotFound) {
			p.log.Warn("record a failed deployment", "deployment", dep.UID, "err", err)
		}
	})
}

// Deployments lists owner's deployments, oldest first.
func (p *Platform) Deployments(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Deployment, error) {
	return asOwner(ctx, p, pr, owner, p.store.Deployments)
}

// Deployment returns owner's deployment uid.
func (p *Platform) Deployment(ctx context.Context, pr *paas.Principal, owner, uid string) (paas.Deployment, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) { return p.ownDeployment(owner, uid) })
}

// ownDeployment is owner's deployment uid; another owner's is not found,
// like a missing one.
func (p *Platform) ownDeployment(owner, uid string) (paas.Deployment, error) {
	d, err := p.store.Deployment(uid)
	if err == nil && d.Owner != owner {
		return paas.Deployment{}, paas.NotFound("deployment %q not found", uid)
	}
	return d, err
}

// DeleteDeployment stops owner's deployment and removes it with its
// hostname, logs and (unless its app serves it) snapshot.
func (p *Platform) DeleteDeployment(ctx context.Context, pr *paas.Principal, owner, uid string) (paas.Deployment, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) {
		d, err := p.ownDeployment(owner, uid)
		if err != nil {
			return d, err
		}
		// Under its deploy lock: a boot in flight finishes (and records
		// its state) first, then the record goes, then the units.
		err = p.deployer.Exclusive(ctx, d.Target(), func() error {
			_, err := p.store.DeleteDeployment(uid)
			return err
		})
		if err != nil {
			return d, err
		}
		p.appsDidChange()
		if err := p.deployer.Stop(ctx, d.Target()); err != nil {
			p.log.Warn("stop the units of a deleted deployment", "deployment", uid, "err", err)
		}
		return d, nil
	})
}

// DeploymentSnapshot returns owner's deployment with its files.
func (p *Platform) DeploymentSnapshot(ctx context.Context, pr *paas.Principal, owner, uid string) (paas.Deployment, paas.Snapshot, error) {
	var sn paas.Snapshot
	d, err := asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) {
		d, err := p.ownDeployment(owner, uid)
		if err != nil {
			return d, err
		}
		sn, err = p.store.Snapshot(d.Owner, d.App, d.UID)
		return d, err
	})
	return d, sn, err
}

// DeploymentFile returns the content of the file of owner's deployment
// whose SHA-1 is sha: only that deployment's files, though the store keeps
// each content once for every deployment.
func (p *Platform) DeploymentFile(ctx context.Context, pr *paas.Principal, owner, uid, sha string) (paas.File, []byte, error) {
	_, sn, err := p.DeploymentSnapshot(ctx, pr, owner, uid)
	if err != nil {
		return paas.File{}, nil, err
	}
	for _, f := range sn.Files {
		if f.SHA1 == sha {
			data, err := p.store.Blob(sha)
			return f, data, err
		}
	}
	return paas.File{}, nil, paas.NotFound("file %q not found in deployment %q", sha, uid)
}
