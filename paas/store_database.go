package paas

import bolt "go.etcd.io/bbolt"

// CreateDatabase records a database; the name must be free for the owner.
func (s *Store) CreateDatabase(d Database) (Database, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, d.Owner, &u); err != nil {
			return err
		}
		b := tx.Bucket(bucketDatabases)
		if b.Get(key(d.Owner, d.Name)) != nil {
			return Conflict("database %q already exists", d.Name)
		}
		d.Created = s.now()
		return putJSON(b, key(d.Owner, d.Name), d)
	})
	return d, err
}

// Database returns one database.
func (s *Store) Database(owner, name string) (Database, error) {
	var d Database
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketDatabases), key(owner, name), &d); err != nil {
			if err == ErrNotFound {
				return NotFound("database %q not found", name)
			}
			return err
		}
		return nil
	})
	return d, err
}

// Databases lists an owner's databases in name order.
func (s *Store) Databases(owner string) ([]Database, error) {
	var out []Database
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDatabases)
		return scanPrefix(b, prefix(owner), func(k, _ []byte) error {
			var d Database
			if err := getJSON(b, k, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// DeleteDatabase removes a database record.
func (s *Store) DeleteDatabase(owner, name string) (Database, error) {
	var d Database
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDatabases)
		if err := getJSON(b, key(owner, name), &d); err != nil {
			if err == ErrNotFound {
				return NotFound("database %q not found", name)
			}
			return err
		}
		return b.Delete(key(owner, name))
	})
	return d, err
}
