package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// Databases lists owner's databases.
func (p *Platform) Databases(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Database, error) {
	return asOwner(ctx, p, pr, owner, p.store.Databases)
}

// Database returns one of owner's databases.
func (p *Platform) Database(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) { return p.store.Database(owner, name) })
}

// instanceID is the runtime's id of a database server: readable, and
// unique per owner and name (a hash tells apart names that sanitize alike).
func instanceID(owner, name string) string {
	clean := func(s string) string {
		var b strings.Builder
		for _, c := range strings.ToLower(s) {
			if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
				b.WriteRune(c)
			} else {
				b.WriteByte('-')
			}
		}
		return strings.Trim(b.String(), "-")
	}
	sum := sha256.Sum256([]byte(owner + "/" + name))
	base := clean(owner) + "-" + clean(name)
	if len(base) > 40 {
		base = base[:40]
	}
	return strings.Trim(base, "-") + "-" + hex.EncodeToString(sum[:4])
}

// CreateDatabase creates a database of type typ for owner: for the
// services this release runs (redis, postgresql) a real server, with a
// data volume, generated credentials (sealed at rest, never logged) and a
// probe that must answer before the call does; others are recorded as
// pending. A server that fails to start leaves nothing behind.
func (p *Platform) CreateDatabase(ctx context.Context, pr *paas.Principal, owner, name, typ string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) {
		svc, err := paas.ValidateDatabase(name, typ)
		if err != nil {
			return paas.Database{}, err
		}
		d := paas.Database{Owner: owner, Name: name, Type: typ, Service: svc, Status: paas.DatabaseStatusPending, Message: paas.DatabasePendingMessage}
		if !paas.RunnableServices[svc] {
			return p.store.CreateDatabase(d)
		}
		d.Status, d.Message = paas.DatabaseStatusCreating, "starting its server"
		d.Instance, d.Password = instanceID(owner, name), paas.RandomSecret(24)
		// Recorded first, so the name is taken while the server starts and a
		// crash meanwhile leaves a record that reconcile finishes or a delete removes.
		if d, err = p.store.CreateDatabase(d); err != nil {
			return d, err
		}
		s, err := p.deployer.ProvisionService(ctx, runtime.ServiceSpec{ID: d.Instance, Kind: svc, Password: d.Password})
		if err != nil {
			if _, derr := p.store.DeleteDatabase(owner, name); derr != nil {
				p.log.Error("remove the record of a database that did not start", "database", owner+"/"+name, "err", derr)
			}
			return paas.Database{}, err
		}
		return p.store.UpdateDatabase(owner, name, func(x *paas.Database) error {
			x.Status, x.Message = paas.DatabaseStatusRunning, "running"
			x.Network, x.Host, x.Port = s.Network, s.Host, s.Port
			return nil
		})
	})
}

// DeleteDatabase removes one of owner's databases with its server and
// data. A database bound to an app is refused, saying which.
func (p *Platform) DeleteDatabase(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) {
		d, err := p.store.DeleteDatabase(owner, name)
		if err != nil {
			return d, err
		}
		p.removeServer(ctx, d)
		return d, nil
	})
}

// removeServer removes a deleted database's server; a failure leaves a
// container that the next start's reconcile removes.
func (p *Platform) removeServer(ctx context.Context, d paas.Database) {
	if d.Instance == "" {
		return
	}
	if err := p.deployer.RemoveService(context.WithoutCancel(ctx), d.Instance); err != nil {
		p.log.Error("remove the server of a deleted database", "database", d.Owner+"/"+d.Name, "err", err)
	}
}

// DatabaseStatus probes a database's server: nil when it answers.
func (p *Platform) DatabaseStatus(ctx context.Context, pr *paas.Principal, owner, name string) error {
	d, err := p.Database(ctx, pr, owner, name)
	if err != nil {
		return err
	}
	if d.Instance == "" {
		return paas.Conflict("database %q has no server: %s", name, d.Message)
	}
	if err := p.deployer.ProbeService(ctx, d.Instance); err != nil {
		return &paas.Error{Status: 503, Code: "service_down", Err: err, Message: fmt.Sprintf("database %q does not answer", name)}
	}
	return nil
}

// BindDatabase binds owner's database to an app the caller may act on:
// the app gets the database's variables and its units join the
// database's network; a started app is restarted so its processes see
// them.
func (p *Platform) BindDatabase(ctx context.Context, pr *paas.Principal, owner, name, appName string) (paas.Database, paas.App, error) {
	d, a, err := p.databaseAndApp(ctx, pr, owner, name, appName, p.store.Bind)
	if err != nil {
		return d, a, err
	}
	p.appsDidChange()
	if a.State == paas.AppStarted {
		a, err = p.RestartApp(ctx, pr, a.Owner, a.Name)
	}
	return d, a, err
}

// databaseAndApp checks pr's access to both, then applies change (the
// store's Bind or Unbind) to them.
func (p *Platform) databaseAndApp(ctx context.Context, pr *paas.Principal, owner, name, appName string,
	change func(dbOwner, dbName, appOwner, appName string) (paas.Database, paas.App, error)) (paas.Database, paas.App, error) {
	d, err := p.Database(ctx, pr, owner, name)
	if err != nil {
		return d, paas.App{}, err
	}
	a, err := p.AppNamed(ctx, pr, appName)
	if err != nil {
		return d, a, err
	}
	return change(d.Owner, d.Name, a.Owner, a.Name)
}

// UnbindDatabase undoes BindDatabase.
func (p *Platform) UnbindDatabase(ctx context.Context, pr *paas.Principal, owner, name, appName string) (paas.Database, paas.App, error) {
	d, a, err := p.databaseAndApp(ctx, pr, owner, name, appName, p.store.Unbind)
	if err != nil {
		return d, a, err
	}
	p.appsDidChange()
	if a.State == paas.AppStarted {
		if a, err = p.RestartApp(ctx, pr, a.Owner, a.Name); err != nil {
			return d, a, err
		}
	}
	// The new units never joined; the old ones are gone or were detached.
	if err := p.deployer.DetachApp(ctx, a.Key(), d.Network); err != nil {
		p.log.Warn("detach units from an unbound database", "app", a.Key(), "err", err)
	}
	return d, a, nil
}

// ReconcileDatabases makes every running database's server run again
// (after a restart of the platform or of the engine), with its data.
func (p *Platform) ReconcileDatabases(ctx context.Context) error {
	all, err := p.store.AllDatabases()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range all {
		switch {
		case d.Instance == "":
		case d.Status == paas.DatabaseStatusRunning:
			if err := p.deployer.EnsureService(ctx, runtime.ServiceSpec{ID: d.Instance, Kind: d.Service, Password: d.Password}); err != nil {
				errs = append(errs, fmt.Errorf("database %s/%s: %w", d.Owner, d.Name, err))
			}
		case d.Status == paas.DatabaseStatusCreating:
			// Interrupted while starting: what it left goes, like any failed creation.
			p.removeServer(ctx, d)
			if _, err := p.store.DeleteDatabase(d.Owner, d.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// VisibleDatabases are the databases pr may act on: its own and its
// teams' (every one, for an admin).
func (p *Platform) VisibleDatabases(ctx context.Context, pr *paas.Principal) ([]paas.Database, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pr.IsAdmin() {
		return p.store.AllDatabases()
	}
	teams, err := p.store.TeamsOf(pr.User.Name)
	if err != nil {
		return nil, err
	}
	var all []paas.Database
	for _, o := range append([]string{pr.User.Name}, teamNames(teams)...) {
		dbs, err := p.store.Databases(o)
		if err != nil {
			return nil, err
		}
		all = append(all, dbs...)
	}
	return all, nil
}

// DatabaseNamed finds a database by name among those pr may act on
// (Tsuru names service instances without their owner); a name held by
// two of them is a conflict.
func (p *Platform) DatabaseNamed(ctx context.Context, pr *paas.Principal, name string) (paas.Database, error) {
	all, err := p.VisibleDatabases(ctx, pr)
	if err != nil {
		return paas.Database{}, err
	}
	var found []paas.Database
	for _, d := range all {
		if d.Name == name {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return paas.Database{}, paas.NotFound("service instance %q not found", name)
	case 1:
		return found[0], nil
	}
	owners := make([]string, len(found))
	for i, d := range found {
		owners[i] = d.Owner
	}
	return paas.Database{}, paas.Conflict("service instance %q exists under %s: use the Nodejitsu /databases/:owner/%s routes", name, strings.Join(owners, ", "), name)
}
