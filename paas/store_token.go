package paas

import (
	"crypto/subtle"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// CreateToken makes a new API token for user with the given id and returns
// the secret, which is never stored. With replace, an existing token of that
// id is revoked and replaced (PUT semantics); without, it is a conflict.
// created reports whether the id was new.
func (s *Store) CreateToken(user, id string, replace bool) (secret string, created bool, err error) {
	secret = newTokenSecret()
	hash := sha256Hex(secret)
	err = s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, user, &u); err != nil {
			return err
		}
		userTokens, tokens := tx.Bucket(bucketUserTokens), tx.Bucket(bucketTokens)
		k := key(user, id)
		old := userTokens.Get(k)
		if old != nil && !replace {
			return Conflict("token %q already exists", id)
		}
		if old != nil {
			if err := tokens.Delete(append([]byte(nil), old...)); err != nil {
				return err
			}
		}
		created = old == nil
		if err := userTokens.Put(k, []byte(hash)); err != nil {
			return err
		}
		return putJSON(tokens, []byte(hash), Token{ID: id, User: user, Created: s.now()})
	})
	if err != nil {
		return "", false, err
	}
	return secret, created, nil
}

// Tokens lists a user's tokens (without secrets) in id order.
func (s *Store) Tokens(user string) ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bolt.Tx) error {
		tokens := tx.Bucket(bucketTokens)
		return scanPrefix(tx.Bucket(bucketUserTokens), prefix(user), func(_, hash []byte) error {
			var t Token
			if err := getJSON(tokens, hash, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		userTokens := tx.Bucket(bucketUserTokens)
		k := key(user, id)
		hash := userTokens.Get(k)
		if hash == nil {
			return NotFound("token %q not found", id)
		}
		if err := tx.Bucket(bucketTokens).Delete(append([]byte(nil), hash...)); err != nil {
			return err
		}
		return userTokens.Delete(k)
	})
}

// TokenBySecret finds the token whose secret is given. Lookup is by hash, so
// the comparison time does not depend on how much of the secret matches.
func (s *Store) TokenBySecret(secret string) (Token, error) {
	var t Token
	hash := sha256Hex(secret)
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketTokens), []byte(hash), &t); err != nil {
			if err == ErrNotFound {
				return Unauthorized("invalid token")
			}
			return err
		}
		// The index entry must agree; a half-deleted token is not valid.
		stored := tx.Bucket(bucketUserTokens).Get(key(t.User, t.ID))
		if subtle.ConstantTimeCompare(stored, []byte(hash)) != 1 {
			return Unauthorized("invalid token")
		}
		return nil
	})
	return t, err
}

// PutThirdParty stores (or replaces) a third-party token, sealed.
func (s *Store) PutThirdParty(user string, t ThirdPartyToken) (ThirdPartyToken, error) {
	sealed, err := s.sealer.seal([]byte(t.Token))
	if err != nil {
		return t, err
	}
	t.Sealed = sealed
	t.Created = s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, user, &u); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketThirdParty), key(user, t.ID), t)
	})
	return t, err
}

// ThirdParty lists a user's third-party tokens, unsealed.
func (s *Store) ThirdParty(user string) ([]ThirdPartyToken, error) {
	var out []ThirdPartyToken
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThirdParty)
		return scanPrefix(b, prefix(user), func(k, _ []byte) error {
			var t ThirdPartyToken
			if err := getJSON(b, k, &t); err != nil {
				return err
			}
			plain, err := s.sealer.open(t.Sealed)
			if err != nil {
				return err
			}
			t.Token = string(plain)
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// DeleteThirdParty removes a third-party token.
func (s *Store) DeleteThirdParty(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThirdParty)
		if b.Get(key(user, id)) == nil {
			return NotFound("third-party token %q not found", id)
		}
		return b.Delete(key(user, id))
	})
}

// PutSSHKey stores (or replaces) a public key.
func (s *Store) PutSSHKey(user string, k SSHKey) (SSHKey, error) {
	k.Created = s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, user, &u); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketKeys), key(user, k.ID), k)
	})
	return k, err
}

// SSHKeys lists a user's public keys.
func (s *Store) SSHKeys(user string) ([]SSHKey, error) {
	var out []SSHKey
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		return scanPrefix(b, prefix(user), func(k, _ []byte) error {
			var key SSHKey
			if err := getJSON(b, k, &key); err != nil {
				return err
			}
			out = append(out, key)
			return nil
		})
	})
	return out, err
}

// SSHKey returns one public key.
func (s *Store) SSHKey(user, id string) (SSHKey, error) {
	var k SSHKey
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketKeys), key(user, id), &k); err == ErrNotFound {
			return NotFound("key %q not found", id)
		} else {
			return err
		}
	})
	return k, err
}

// DeleteSSHKey removes a public key.
func (s *Store) DeleteSSHKey(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b.Get(key(user, id)) == nil {
			return NotFound("key %q not found", id)
		}
		return b.Delete(key(user, id))
	})
}
