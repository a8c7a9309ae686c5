package store

import bolt "go.etcd.io/bbolt"

// BoltDB exposes the file to tests that must write what the store never
// would: a broken index for Check to find.
func BoltDB(s *Store) *bolt.DB { return s.db }
