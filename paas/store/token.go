package store

import (
	"bytes"
	"crypto/subtle"
	"fmt"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateToken makes a new API token for user with the given id and returns
// the secret, which is never stored. With replace, an existing token of that
// id is revoked and replaced (PUT semantics); without, it is a conflict.
// created reports whether the id was new.
func (s *Store) CreateToken(user, id string, replace bool) (secret string, created bool, err error) {
	secret = paas.NewTokenSecret()
	hash := paas.SHA256Hex(secret)
	created, err = update(s, func(tx *bolt.Tx) (bool, error) {
		if _, err := getUser(tx, user); err != nil {
			return false, err
		}
		userTokens, tokens := tx.Bucket(bucketUserTokens), tx.Bucket(bucketTokens)
		k := key(user, id)
		old := userTokens.Get(k)
		if old != nil && !replace {
			return false, paas.Conflict("token %q already exists", id)
		}
		if old != nil {
			if err := tokens.Delete(bytes.Clone(old)); err != nil {
				return false, err
			}
		}
		if err := userTokens.Put(k, []byte(hash)); err != nil {
			return false, err
		}
		return old == nil, putJSON(tokens, []byte(hash), paas.Token{ID: id, User: user, Created: s.now()})
	})
	if err != nil {
		return "", false, err
	}
	return secret, created, nil
}

// Tokens lists a user's tokens (without secrets) in id order.
func (s *Store) Tokens(user string) ([]paas.Token, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Token, error) {
		return follow[paas.Token](tx.Bucket(bucketUserTokens), prefix(user), tx.Bucket(bucketTokens), byValue)
	})
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		hash, err := del(tx.Bucket(bucketUserTokens), key(user, id), notFound("token %q not found", id))
		if err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).Delete(hash)
	})
}

// TokenBySecret finds the token whose secret is given. Lookup is by hash, so
// the comparison time does not depend on how much of the secret matches.
func (s *Store) TokenBySecret(secret string) (paas.Token, error) {
	hash := paas.SHA256Hex(secret)
	invalid := func() error { return paas.Unauthorized("invalid token") }
	return view(s, func(tx *bolt.Tx) (paas.Token, error) {
		t, err := get[paas.Token](tx.Bucket(bucketTokens), []byte(hash), invalid)
		if err != nil {
			return t, err
		}
		// The index entry must agree; a half-deleted token is not valid.
		stored := tx.Bucket(bucketUserTokens).Get(key(t.User, t.ID))
		if subtle.ConstantTimeCompare(stored, []byte(hash)) != 1 {
			return t, invalid()
		}
		return t, nil
	})
}

// PutThirdParty stores (or replaces) a third-party token, sealed.
func (s *Store) PutThirdParty(user string, t paas.ThirdPartyToken) (paas.ThirdPartyToken, error) {
	sealed, err := s.sealer.seal([]byte(t.Token))
	if err != nil {
		return t, err
	}
	t.Sealed = sealed
	t.Created = s.now()
	return t, s.putForUser(user, bucketThirdParty, t.ID, t)
}

// putForUser stores v under user\x00id in b, provided the user exists.
func (s *Store) putForUser(user string, b []byte, id string, v any) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, user); err != nil {
			return err
		}
		return putJSON(tx.Bucket(b), key(user, id), v)
	})
}

// ThirdParty lists a user's third-party tokens, unsealed.
func (s *Store) ThirdParty(user string) ([]paas.ThirdPartyToken, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.ThirdPartyToken, error) {
		return collect(tx.Bucket(bucketThirdParty), prefix(user), func(k, v []byte) (paas.ThirdPartyToken, error) {
			t, err := decode[paas.ThirdPartyToken](k, v)
			if err != nil {
				return t, err
			}
			plain, err := s.sealer.open(t.Sealed)
			if err != nil {
				return t, fmt.Errorf("third-party token %q: %w", t.ID, err)
			}
			t.Token = string(plain)
			return t, nil
		})
	})
}

// DeleteThirdParty removes a third-party token.
func (s *Store) DeleteThirdParty(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		_, err := del(tx.Bucket(bucketThirdParty), key(user, id), notFound("third-party token %q not found", id))
		return err
	})
}

// PutSSHKey stores (or replaces) a public key.
func (s *Store) PutSSHKey(user string, k paas.SSHKey) (paas.SSHKey, error) {
	k.Created = s.now()
	return k, s.putForUser(user, bucketKeys, k.ID, k)
}

// SSHKeys lists a user's public keys in id order.
func (s *Store) SSHKeys(user string) ([]paas.SSHKey, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.SSHKey, error) {
		return list[paas.SSHKey](tx.Bucket(bucketKeys), prefix(user))
	})
}

// SSHKey returns one public key.
func (s *Store) SSHKey(user, id string) (paas.SSHKey, error) {
	return view(s, func(tx *bolt.Tx) (paas.SSHKey, error) {
		return get[paas.SSHKey](tx.Bucket(bucketKeys), key(user, id), notFound("key %q not found", id))
	})
}

// DeleteSSHKey removes a public key.
func (s *Store) DeleteSSHKey(user, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		_, err := del(tx.Bucket(bucketKeys), key(user, id), notFound("key %q not found", id))
		return err
	})
}

// SetAPIKeys makes user's Jitsu API keys the list given, in one
// transaction: keys missing from it are revoked; a key with a Plaintext is
// (re)created with the secret "<id>:<plaintext>"; a new key without one
// gets a generated secret, returned in its Plaintext (the only time it is
// shown); a known key without one is kept.
func (s *Store) SetAPIKeys(user string, keys []paas.APIKey) ([]paas.APIKey, error) {
	return update(s, func(tx *bolt.Tx) ([]paas.APIKey, error) {
		if _, err := getUser(tx, user); err != nil {
			return nil, err
		}
		userTokens, tokens := tx.Bucket(bucketUserTokens), tx.Bucket(bucketTokens)
		existing := map[string][]byte{}
		p := prefix(user)
		if err := scanPrefix(userTokens, append(p, paas.JitsuKeyPrefix...), func(k, v []byte) error {
			existing[string(k[len(p)+len(paas.JitsuKeyPrefix):])] = bytes.Clone(v)
			return nil
		}); err != nil {
			return nil, err
		}
		wanted := map[string]bool{}
		out := make([]paas.APIKey, 0, len(keys))
		for _, k := range keys {
			if wanted[k.ID] {
				return nil, paas.BadRequest("key %q is listed twice", k.ID)
			}
			wanted[k.ID] = true
			old, known := existing[k.ID]
			if k.Plaintext == "" && known {
				t, err := get[paas.Token](tokens, old, notFound("key %q not found", k.ID))
				if err != nil {
					return nil, err
				}
				out = append(out, paas.APIKey{ID: k.ID, Hint: t.Hint, Created: t.Created})
				continue
			}
			shown := k.Plaintext == ""
			if shown {
				k.Plaintext = paas.RandomSecret(24)
			}
			if known {
				if err := tokens.Delete(old); err != nil {
					return nil, err
				}
			}
			secret := k.ID + ":" + k.Plaintext
			hash := []byte(paas.SHA256Hex(secret))
			hint := k.Plaintext[:3] + "*" + k.Plaintext[len(k.Plaintext)-3:]
			t := paas.Token{ID: paas.JitsuKeyPrefix + k.ID, User: user, Created: s.now(), Hint: hint}
			if err := userTokens.Put(key(user, t.ID), hash); err != nil {
				return nil, err
			}
			if err := putJSON(tokens, hash, t); err != nil {
				return nil, err
			}
			ak := paas.APIKey{ID: k.ID, Hint: hint, Created: t.Created}
			if shown {
				ak.Plaintext = k.Plaintext
			}
			out = append(out, ak)
		}
		for id, hash := range existing {
			if wanted[id] {
				continue
			}
			if err := tokens.Delete(hash); err != nil {
				return nil, err
			}
			if err := userTokens.Delete(key(user, paas.JitsuKeyPrefix+id)); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}
