package platform

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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

// NowCreate is what the now CLI sends to create a deployment whose files
// it then syncs one by one.
type NowCreate struct {
	Name  string
	Files []paas.File
	// Env values are JSON strings, "@name" naming a secret of the owner,
	// or {"uid": …} objects naming one by uid.
	Env map[string]json.RawMessage
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkFileList validates a deployment's declared files.
func checkFileList(files []paas.File) ([]paas.File, error) {
	lim := paas.DefaultArchiveLimits
	if len(files) == 0 || len(files) > lim.MaxFiles {
		return nil, paas.BadRequest("a deployment has 1 to %d files, not %d", lim.MaxFiles, len(files))
	}
	out := make([]paas.File, 0, len(files))
	seen := map[string]bool{}
	var total int64
	hasPkg := false
	for _, f := range files {
		p, err := paas.CleanFilePath(f.Path)
		if err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, paas.BadRequest("file %q is listed twice", p)
		}
		seen[p] = true
		f.SHA1 = strings.ToLower(f.SHA1)
		if !shaRE.MatchString(f.SHA1) {
			return nil, paas.BadRequest("file %q: sha must be 40 hexadecimal digits", p)
		}
		if f.Size < 0 || f.Size > lim.MaxBytes {
			return nil, paas.BadRequest("file %q: invalid size %d", p, f.Size)
		}
		if total += f.Size; total > lim.MaxBytes {
			return nil, paas.TooLarge("the files add up to more than %d bytes", lim.MaxBytes)
		}
		// Regular files only, executable or not, whatever else mode says.
		mode := f.Mode
		f.Mode = 0o644
		if mode&0o111 != 0 {
			f.Mode = 0o755
		}
		f.Path, hasPkg = p, hasPkg || p == "package.json"
		out = append(out, f)
	}
	if !hasPkg {
		return nil, paas.BadRequest("the files have no package.json at their root")
	}
	return out, nil
}

// resolveEnv turns a now env into values: secrets referenced by "@name"
// or {"uid"} are looked up now, so the deployment keeps the values it was
// created with.
func (p *Platform) resolveEnv(owner string, raw map[string]json.RawMessage) (map[string]string, error) {
	env := make(map[string]string, len(raw))
	var secrets []paas.Secret
	lookup := func(k string, match func(paas.Secret) bool, what string) (string, error) {
		if secrets == nil {
			var err error
			if secrets, err = p.store.Secrets(owner); err != nil {
				return "", err
			}
			secrets = append(secrets, paas.Secret{}) // loaded, even if none
		}
		for _, s := range secrets {
			if s.UID != "" && match(s) {
				return s.Value, nil
			}
		}
		return "", paas.BadRequest("env %s: no secret %s", k, what)
	}
	for k, v := range raw {
		var s string
		var ref struct {
			UID string `json:"uid"`
		}
		switch {
		case json.Unmarshal(v, &s) == nil:
			if name, ok := strings.CutPrefix(s, "@"); ok {
				val, err := lookup(k, func(sec paas.Secret) bool { return sec.Name == name }, "named "+strconv.Quote(name))
				if err != nil {
					return nil, err
				}
				s = val
			}
			env[k] = s
		case json.Unmarshal(v, &ref) == nil && ref.UID != "":
			val, err := lookup(k, func(sec paas.Secret) bool { return sec.UID == ref.UID }, "with uid "+strconv.Quote(ref.UID))
			if err != nil {
				return nil, err
			}
			env[k] = val
		default:
			return nil, paas.BadRequest("env %s: a value is a string or {\"uid\": …}", k)
		}
	}
	return env, paas.ValidateEnv(env)
}

// CreatePendingDeployment is the now CLI's POST /now/create: a DEPLOYING
// deployment of owner's app in.Name (created if needed) that waits for the
// files the store lacks, whose SHA-1s it returns. With none missing it
// boots at once.
func (p *Platform) CreatePendingDeployment(ctx context.Context, pr *paas.Principal, owner string, in NowCreate) (paas.Deployment, []string, error) {
	var missing []string
	d, err := asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) {
		if err := paas.ValidateAppName(in.Name); err != nil {
			return paas.Deployment{}, err
		}
		files, err := checkFileList(in.Files)
		if err != nil {
			return paas.Deployment{}, err
		}
		env, err := p.resolveEnv(owner, in.Env)
		if err != nil {
			return paas.Deployment{}, err
		}
		a, err := p.store.App(owner, in.Name)
		if errors.Is(err, paas.ErrNotFound) {
			a, err = p.CreateApp(ctx, pr, owner, paas.AppSpec{Name: in.Name})
		}
		if err != nil {
			return paas.Deployment{}, err
		}
		var d paas.Deployment
		for range 3 {
			d = paas.Deployment{UID: paas.NewDeploymentUID(), Owner: owner, App: a.Name, Label: paas.DeploymentLabel(a.Subdomain), Env: env, Pending: files}
			d, missing, err = p.store.CreatePendingDeployment(d)
			if !errors.Is(err, paas.ErrConflict) {
				break
			}
		}
		if err != nil {
			return d, err
		}
		p.appsDidChange()
		if len(missing) == 0 {
			return p.completeDeployment(d.UID)
		}
		return d, nil
	})
	return d, missing, err
}

// SyncDeploymentFile is the now CLI's POST /now/sync: the content of one
// file of owner's DEPLOYING deployment uid, checked against its SHA-1.
// The last one completes the deployment, which then boots.
func (p *Platform) SyncDeploymentFile(ctx context.Context, pr *paas.Principal, owner, uid, sha string, data []byte) (paas.Deployment, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Deployment, error) {
		d, err := p.ownDeployment(owner, uid)
		if err != nil {
			return d, err
		}
		sum := sha1.Sum(data)
		if got := hex.EncodeToString(sum[:]); got != strings.ToLower(sha) {
			return d, paas.BadRequest("the content's SHA-1 is %s, not %s", got, sha)
		}
		missing, err := p.store.SyncDeploymentFile(uid, strings.ToLower(sha), data)
		if err != nil || len(missing) > 0 {
			return d, err
		}
		return p.completeDeployment(uid)
	})
}

// completeDeployment makes the snapshot of a deployment whose files are
// all synced and boots it. Files that make no app (no start command, say)
// end it in DEPLOYMENT_ERROR, with the reason.
func (p *Platform) completeDeployment(uid string) (paas.Deployment, error) {
	files, err := p.store.PendingFiles(uid)
	if err != nil {
		return paas.Deployment{}, err
	}
	sn, err := paas.SnapshotFromFiles(files)
	if err != nil {
		d, serr := p.store.SetDeploymentState(uid, paas.DeploymentError, err.Error())
		if serr != nil {
			return d, serr
		}
		return d, err
	}
	for _, f := range files {
		sn.Size += f.Size
	}
	d, err := p.store.CompleteDeployment(uid, sn, files)
	if errors.Is(err, paas.ErrConflict) {
		return d, nil // a concurrent sync completed it
	}
	if err != nil {
		return d, err
	}
	p.boot(d)
	return d, nil
}

// ReconcileDeployments finishes the boots a restart interrupted, once the
// deployer has reconciled the engine: a BOOTING deployment whose unit
// serves is READY, any other boots again.
func (p *Platform) ReconcileDeployments(ctx context.Context) error {
	deps, err := p.store.AllDeployments()
	if err != nil {
		return err
	}
	for _, d := range deps {
		if d.State != paas.DeploymentBooting {
			continue
		}
		if p.deployer.Serving(d.Target(), d.UID, 1) {
			if _, err := p.store.SetDeploymentState(d.UID, paas.DeploymentReady, ""); err != nil && !errors.Is(err, paas.ErrNotFound) {
				return err
			}
			continue
		}
		p.boot(d)
	}
	p.appsDidChange()
	return nil
}
