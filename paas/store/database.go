package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateDatabase records a database. Its owner must be a user or a team
// (NotFound otherwise) and the name free for that owner.
func (s *Store) CreateDatabase(d paas.Database) (paas.Database, error) {
	return update(s, func(tx *bolt.Tx) (paas.Database, error) {
		if err := newOwned(tx, bucketDatabases, d.Owner, d.Name, "database"); err != nil {
			return d, err
		}
		d.Created = s.now()
		return d, s.putDatabase(tx, d)
	})
}

// putDatabase stores d with its password sealed.
func (s *Store) putDatabase(tx *bolt.Tx, d paas.Database) error {
	d.SealedPassword, d.SealedBoundEnv = nil, nil
	var err error
	if d.Password != "" {
		if d.SealedPassword, err = s.sealer.seal([]byte(d.Password)); err != nil {
			return fmt.Errorf("database %s/%s: %w", d.Owner, d.Name, err)
		}
	}
	if len(d.BoundEnv) > 0 {
		plain, err := json.Marshal(d.BoundEnv)
		if err != nil {
			return err
		}
		if d.SealedBoundEnv, err = s.sealer.seal(plain); err != nil {
			return fmt.Errorf("database %s/%s: %w", d.Owner, d.Name, err)
		}
	}
	return putJSON(tx.Bucket(bucketDatabases), key(d.Owner, d.Name), d)
}

func (s *Store) decodeDatabase(k, data []byte) (paas.Database, error) {
	d, err := decode[paas.Database](k, data)
	if err != nil {
		return d, err
	}
	if len(d.SealedPassword) > 0 {
		plain, err := s.sealer.open(d.SealedPassword)
		if err != nil {
			return paas.Database{}, fmt.Errorf("database %s/%s password: %w", d.Owner, d.Name, err)
		}
		d.Password, d.SealedPassword = string(plain), nil
	}
	if len(d.SealedBoundEnv) > 0 {
		plain, err := s.sealer.open(d.SealedBoundEnv)
		if err == nil {
			err = json.Unmarshal(plain, &d.BoundEnv)
		}
		if err != nil {
			return paas.Database{}, fmt.Errorf("database %s/%s bindings: %w", d.Owner, d.Name, err)
		}
		d.SealedBoundEnv = nil
	}
	return d, nil
}

func (s *Store) getDatabase(tx *bolt.Tx, owner, name string) (paas.Database, error) {
	k := key(owner, name)
	data := tx.Bucket(bucketDatabases).Get(k)
	if data == nil {
		return paas.Database{}, paas.NotFound("database %q not found", name)
	}
	return s.decodeDatabase(k, data)
}

// Database returns one database.
func (s *Store) Database(owner, name string) (paas.Database, error) {
	return view(s, func(tx *bolt.Tx) (paas.Database, error) { return s.getDatabase(tx, owner, name) })
}

// Databases lists an owner's databases in name order.
func (s *Store) Databases(owner string) ([]paas.Database, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Database, error) {
		return collect(tx.Bucket(bucketDatabases), prefix(owner), s.decodeDatabase)
	})
}

// AllDatabases lists every database of the installation.
func (s *Store) AllDatabases() ([]paas.Database, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Database, error) {
		return collect(tx.Bucket(bucketDatabases), nil, s.decodeDatabase)
	})
}

// UpdateDatabase applies fn to a stored database in one transaction.
func (s *Store) UpdateDatabase(owner, name string, fn func(*paas.Database) error) (paas.Database, error) {
	return update(s, func(tx *bolt.Tx) (paas.Database, error) {
		d, err := s.getDatabase(tx, owner, name)
		if err != nil {
			return d, err
		}
		if err := fn(&d); err != nil {
			return d, err
		}
		d.Owner, d.Name = owner, name
		return d, s.putDatabase(tx, d)
	})
}

// DeleteDatabase removes a database record and returns it; a database
// still bound to an app is refused, saying which.
func (s *Store) DeleteDatabase(owner, name string) (paas.Database, error) {
	return update(s, func(tx *bolt.Tx) (paas.Database, error) {
		d, err := s.getDatabase(tx, owner, name)
		if err != nil {
			return d, err
		}
		if err := d.CheckUnbound(); err != nil {
			return d, err
		}
		return d, tx.Bucket(bucketDatabases).Delete(key(owner, name))
	})
}

// Bind binds a database to an app in one transaction: the app gets env
// and joins the database's network at its next units; the database
// records the app.
func (s *Store) Bind(dbOwner, dbName, appOwner, appName string, vars map[string]string) (paas.Database, paas.App, error) {
	return s.withDatabaseAndApp(dbOwner, dbName, appOwner, appName, func(d *paas.Database, a *paas.App) error {
		if d.Status != paas.DatabaseStatusRunning {
			return paas.Conflict("database %q is %s, not running: it cannot be bound", dbName, d.Status)
		}
		if slices.Contains(d.Apps, a.Key()) {
			return paas.Conflict("database %q is already bound to %s", dbName, a.Name)
		}
		env := maps.Clone(a.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, vars)
		if err := paas.ValidateEnv(env); err != nil {
			return err
		}
		a.Env = env
		if d.Network != "" {
			a.ServiceNetworks = append(a.ServiceNetworks, d.Network)
		}
		d.Apps = append(d.Apps, a.Key())
		if d.BoundEnv == nil {
			d.BoundEnv = map[string]map[string]string{}
		}
		d.BoundEnv[a.Key()] = vars
		return nil
	})
}

// Unbind undoes Bind: the database's variables leave the app's env
// (those it set and nobody changed since), the app leaves its network.
func (s *Store) Unbind(dbOwner, dbName, appOwner, appName string, _ map[string]string) (paas.Database, paas.App, error) {
	return s.withDatabaseAndApp(dbOwner, dbName, appOwner, appName, func(d *paas.Database, a *paas.App) error {
		i := slices.Index(d.Apps, a.Key())
		if i < 0 {
			return paas.NotFound("database %q is not bound to %s", dbName, a.Name)
		}
		d.Apps = slices.Delete(d.Apps, i, i+1)
		unbindApp(a, *d)
		delete(d.BoundEnv, a.Key())
		return nil
	})
}

// withDatabaseAndApp runs fn on a database and an app in one transaction
// and stores both as fn leaves them.
func (s *Store) withDatabaseAndApp(dbOwner, dbName, appOwner, appName string, fn func(d *paas.Database, a *paas.App) error) (paas.Database, paas.App, error) {
	var d paas.Database
	var a paas.App
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = s.getDatabase(tx, dbOwner, dbName); err != nil {
			return err
		}
		if a, err = s.getApp(tx, appOwner, appName); err != nil {
			return err
		}
		if err := fn(&d, &a); err != nil {
			return err
		}
		a.Updated = s.now()
		if err := s.putApp(tx, a); err != nil {
			return err
		}
		return s.putDatabase(tx, d)
	})
	return d, a, err
}

// unbindApp removes d's variables and network from a.
func unbindApp(a *paas.App, d paas.Database) {
	env := maps.Clone(a.Env)
	for k, v := range d.BoundEnv[a.Key()] {
		if env[k] == v {
			delete(env, k)
		}
	}
	a.Env = env
	if i := slices.Index(a.ServiceNetworks, d.Network); i >= 0 {
		a.ServiceNetworks = slices.Delete(a.ServiceNetworks, i, i+1)
	}
}
