package store

import (
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
		return d, putJSON(tx.Bucket(bucketDatabases), key(d.Owner, d.Name), d)
	})
}

// Database returns one database.
func (s *Store) Database(owner, name string) (paas.Database, error) {
	return view(s, func(tx *bolt.Tx) (paas.Database, error) {
		return get[paas.Database](tx.Bucket(bucketDatabases), key(owner, name), notFound("database %q not found", name))
	})
}

// Databases lists an owner's databases in name order.
func (s *Store) Databases(owner string) ([]paas.Database, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Database, error) {
		return list[paas.Database](tx.Bucket(bucketDatabases), prefix(owner))
	})
}

// DeleteDatabase removes a database record and returns it.
func (s *Store) DeleteDatabase(owner, name string) (paas.Database, error) {
	return update(s, func(tx *bolt.Tx) (paas.Database, error) {
		return take[paas.Database](tx.Bucket(bucketDatabases), key(owner, name), notFound("database %q not found", name))
	})
}
