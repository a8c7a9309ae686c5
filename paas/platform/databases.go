package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/svcapi"
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
		if ext, err := p.store.Service(typ); err == nil {
			return p.createExternal(ctx, pr, owner, name, ext)
		}
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

// createExternal asks an external service's endpoint for an instance for
// owner; the record is made only once the endpoint made it.
func (p *Platform) createExternal(ctx context.Context, pr *paas.Principal, owner, name string, ext paas.ExternalService) (paas.Database, error) {
	if !p.inServiceTeams(pr, ext) {
		return paas.Database{}, paas.NotFound("service %q not found", ext.Name)
	}
	if _, err := paas.ValidateDatabase(name, "redis"); err != nil { // the name rules
		return paas.Database{}, err
	}
	if _, err := p.store.Database(owner, name); err == nil {
		return paas.Database{}, paas.Conflict("database %q already exists", name)
	}
	d := paas.Database{Owner: owner, Name: name, Type: ext.Name, Service: ext.Name, External: true,
		Instance: instanceID(owner, name), Status: paas.DatabaseStatusRunning, Message: "provided by " + ext.Endpoint}
	if err := serviceClient(ext).Create(ctx, d.Instance, owner); err != nil {
		return paas.Database{}, err
	}
	d, err := p.store.CreateDatabase(d)
	if err != nil {
		if rmErr := serviceClient(ext).Remove(context.WithoutCancel(ctx), d.Instance); rmErr != nil {
			p.log.Error("remove an external instance not recorded", "instance", d.Instance, "err", rmErr)
		}
	}
	return d, err
}

// external is the client of d's service, for an external instance.
func (p *Platform) external(d paas.Database) (svcapi.Client, bool, error) {
	if !d.External {
		return svcapi.Client{}, false, nil
	}
	ext, err := p.store.Service(d.Service)
	if err != nil {
		return svcapi.Client{}, true, fmt.Errorf("service of %s: %w", d.Name, err)
	}
	return serviceClient(ext), true, nil
}

// DeleteDatabase removes one of owner's databases with its server and
// data. A database bound to an app is refused, saying which.
func (p *Platform) DeleteDatabase(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Database, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Database, error) {
		cur, err := p.store.Database(owner, name)
		if err != nil {
			return cur, err
		}
		if c, ext, err := p.external(cur); ext {
			if err := cur.CheckUnbound(); err != nil {
				return cur, err // before the endpoint is asked to remove it
			}
			if err == nil {
				err = c.Remove(ctx, cur.Instance)
			}
			if err != nil {
				return cur, err
			}
		}
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
	if d.Instance == "" || d.External {
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
	if c, ext, err := p.external(d); ext {
		if err == nil {
			err = c.Status(ctx, d.Instance)
		}
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
	d, a, err := p.databaseAndApp(ctx, pr, owner, name, appName, p.bindVars, p.store.Bind)
	if err != nil {
		return d, a, err
	}
	p.appsDidChange()
	if a.State == paas.AppStarted {
		a, err = p.RestartApp(ctx, pr, a.Owner, a.Name)
	}
	return d, a, err
}

// databaseAndApp checks pr's access to both, asks remote (an external
// service's endpoint, when it is one) and then applies change (the
// store's Bind or Unbind) with the variables it gave.
func (p *Platform) databaseAndApp(ctx context.Context, pr *paas.Principal, owner, name, appName string,
	remote func(context.Context, paas.Database, paas.App) (map[string]string, error),
	change func(dbOwner, dbName, appOwner, appName string, vars map[string]string) (paas.Database, paas.App, error)) (paas.Database, paas.App, error) {
	d, err := p.Database(ctx, pr, owner, name)
	if err != nil {
		return d, paas.App{}, err
	}
	a, err := p.AppNamed(ctx, pr, appName)
	if err != nil {
		return d, a, err
	}
	vars, err := remote(ctx, d, a)
	if err != nil {
		return d, a, err
	}
	return change(d.Owner, d.Name, a.Owner, a.Name, vars)
}

// bindVars are the variables binding d gives a: its server's, or what
// its external service's endpoint answers.
func (p *Platform) bindVars(ctx context.Context, d paas.Database, a paas.App) (map[string]string, error) {
	c, ext, err := p.external(d)
	if !ext {
		return d.Env(), nil
	}
	if err != nil {
		return nil, err
	}
	if slices.Contains(d.Apps, a.Key()) {
		return nil, paas.Conflict("database %q is already bound to %s", d.Name, a.Name)
	}
	return c.BindApp(ctx, d.Instance, a.Subdomain+"."+p.cfg.Domain, a.Name)
}

// unbindRemote tells an external service's endpoint of the unbinding.
func (p *Platform) unbindRemote(ctx context.Context, d paas.Database, a paas.App) (map[string]string, error) {
	c, ext, err := p.external(d)
	if !ext {
		return nil, nil
	}
	if err == nil && slices.Contains(d.Apps, a.Key()) {
		err = c.UnbindApp(ctx, d.Instance, a.Subdomain+"."+p.cfg.Domain, a.Name)
	}
	return nil, err
}

// UnbindDatabase undoes BindDatabase.
func (p *Platform) UnbindDatabase(ctx context.Context, pr *paas.Principal, owner, name, appName string) (paas.Database, paas.App, error) {
	d, a, err := p.databaseAndApp(ctx, pr, owner, name, appName, p.unbindRemote, p.store.Unbind)
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
	if d.Network == "" {
		return d, a, nil
	}
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
		case d.Instance == "" || d.External:
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
	return visible(ctx, p, pr, p.store.AllDatabases, p.store.Databases)
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
