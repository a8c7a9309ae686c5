package store

import (
	"fmt"
	"io/fs"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TLS resources (certificates, their private keys, ACME accounts) for the
// acme package's certmagic storage: a key-value space with slash-separated
// keys. Every value is sealed with the platform's key, private keys and
// all, and named locks expire, so a lock held by a killed process does
// not block the next one.

type tlsEntry struct {
	Sealed   []byte    `json:"sealed"`
	Modified time.Time `json:"modified"`
}

type tlsLock struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// PutTLS stores value at key.
func (s *Store) PutTLS(key string, value []byte) error {
	sealed, err := s.sealer.seal(value)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketTLS), []byte(key), tlsEntry{Sealed: sealed, Modified: s.now()})
	})
}

// GetTLS returns the value at key and when it was stored; fs.ErrNotExist
// (wrapped) when there is none.
func (s *Store) GetTLS(key string) ([]byte, time.Time, error) {
	e, err := view(s, func(tx *bolt.Tx) (tlsEntry, error) {
		return get[tlsEntry](tx.Bucket(bucketTLS), []byte(key), func() error {
			return fmt.Errorf("tls %q: %w", key, fs.ErrNotExist)
		})
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	plain, err := s.sealer.open(e.Sealed)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("tls %q: %w", key, err)
	}
	return plain, e.Modified, nil
}

// ListTLS returns every key equal to prefix or under prefix+"/" ("": all),
// in order.
func (s *Store) ListTLS(prefix string) ([]string, error) {
	return view(s, func(tx *bolt.Tx) ([]string, error) {
		var out []string
		err := tx.Bucket(bucketTLS).ForEach(func(k, _ []byte) error {
			if key := string(k); prefix == "" || key == prefix || strings.HasPrefix(key, prefix+"/") {
				out = append(out, key)
			}
			return nil
		})
		return out, err
	})
}

// DeleteTLS removes key and every key under key+"/"; nothing there is not
// an error.
func (s *Store) DeleteTLS(key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTLS)
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		return deletePrefix(b, []byte(key+"/"))
	})
}

// LockTLS takes the named lock for holder until ttl from now, unless
// another holder has it unexpired; it reports whether it did. Holding it
// already renews it.
func (s *Store) LockTLS(name, holder string, ttl time.Duration) (bool, error) {
	return update(s, func(tx *bolt.Tx) (bool, error) {
		b := tx.Bucket(bucketTLSLocks)
		cur, ok, err := lookup[tlsLock](b, []byte(name))
		if err != nil {
			return false, err
		}
		now := s.now()
		if ok && cur.Holder != holder && now.Before(cur.Expires) {
			return false, nil
		}
		return true, putJSON(b, []byte(name), tlsLock{Holder: holder, Expires: now.Add(ttl)})
	})
}

// UnlockTLS releases the named lock if holder has it.
func (s *Store) UnlockTLS(name, holder string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTLSLocks)
		cur, ok, err := lookup[tlsLock](b, []byte(name))
		if err != nil || !ok || cur.Holder != holder {
			return err
		}
		return b.Delete([]byte(name))
	})
}
