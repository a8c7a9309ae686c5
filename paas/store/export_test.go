package store

import (
	bolt "go.etcd.io/bbolt"

	"github.com/selfhost/paas/paas"
)

// BoltDB exposes the file to tests that must write what the store never
// would: a broken index for Check to find.
func BoltDB(s *Store) *bolt.DB { return s.db }

// DecodeApp and DecodeAppWithoutEnv are the two decoders of a stored app,
// for the benchmark that weighs them side by side.
func DecodeApp(v []byte) (any, error)           { return decode[paas.App](nil, v) }
func DecodeAppWithoutEnv(v []byte) (any, error) { return decode[appWithoutEnv](nil, v) }
