package store

import (
	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// Registrations are kept under two keys: "t" + SHA-256 of the CLI's
// verification token → the registration, and "c" + SHA-256 of the mailed
// confirmation code → the token's key. Neither secret is stored.

func regTokenKey(tokenHash string) []byte { return []byte("t" + tokenHash) }
func regCodeKey(codeHash string) []byte   { return []byte("c" + codeHash) }

// CreateRegistration stores a login by email, dropping expired ones.
func (s *Store) CreateRegistration(tokenHash, codeHash string, r paas.Registration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		now := s.now()
		var expired [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if k[0] != 't' {
				return nil
			}
			old, err := decode[paas.Registration](k, v)
			if err != nil || now.After(old.Expires) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		// Codes of expired registrations point nowhere: dropped when used.
		if err := b.Put(regCodeKey(codeHash), regTokenKey(tokenHash)); err != nil {
			return err
		}
		return putJSON(b, regTokenKey(tokenHash), r)
	})
}

// ConfirmRegistration marks the registration of code (for email) verified,
// and confirms its account (the mail reached its owner), in one transaction.
func (s *Store) ConfirmRegistration(codeHash, email string) (paas.Registration, error) {
	return update(s, func(tx *bolt.Tx) (paas.Registration, error) {
		b := tx.Bucket(bucketRegistrations)
		tk := b.Get(regCodeKey(codeHash))
		invalid := paas.BadRequest("invalid or expired confirmation code")
		if tk == nil {
			return paas.Registration{}, invalid
		}
		tk = append([]byte(nil), tk...)
		r, ok, err := lookup[paas.Registration](b, tk)
		if err != nil {
			return r, err
		}
		if !ok || r.Email != email || s.now().After(r.Expires) {
			return paas.Registration{}, invalid
		}
		r.Verified = true
		if err := b.Delete(regCodeKey(codeHash)); err != nil {
			return r, err
		}
		u, err := getUser(tx, r.User)
		if err != nil {
			return r, err
		}
		if !u.Confirmed {
			u.Confirmed, u.InviteHash, u.Updated = true, "", s.now()
			if err := putJSON(tx.Bucket(bucketUsers), []byte(u.Name), u); err != nil {
				return r, err
			}
		}
		return r, putJSON(b, tk, r)
	})
}

// ClaimRegistration returns the verified registration of token (for
// email) and removes it: a token is handed out once. One not verified yet
// is left in place, and answered with verified false.
func (s *Store) ClaimRegistration(tokenHash, email string) (paas.Registration, error) {
	return update(s, func(tx *bolt.Tx) (paas.Registration, error) {
		b := tx.Bucket(bucketRegistrations)
		r, ok, err := lookup[paas.Registration](b, regTokenKey(tokenHash))
		if err != nil {
			return r, err
		}
		if !ok || r.Email != email || s.now().After(r.Expires) {
			return paas.Registration{}, paas.NotFound("no login in progress for %s with this token", email)
		}
		if !r.Verified {
			return r, nil
		}
		return r, b.Delete(regTokenKey(tokenHash))
	})
}
