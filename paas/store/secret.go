package store

import (
	"fmt"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

func (s *Store) putSecret(tx *bolt.Tx, sec paas.Secret) error {
	sealed, err := s.sealer.seal([]byte(sec.Value))
	if err != nil {
		return fmt.Errorf("secret %s: %w", sec.UID, err)
	}
	sec.SealedValue = sealed
	return putJSON(tx.Bucket(bucketSecrets), key(sec.Owner, sec.UID), sec)
}

func (s *Store) decodeSecret(k, data []byte) (paas.Secret, error) {
	sec, err := decode[paas.Secret](k, data)
	if err != nil {
		return sec, err
	}
	plain, err := s.sealer.open(sec.SealedValue)
	if err != nil {
		return paas.Secret{}, fmt.Errorf("secret %s value: %w", sec.UID, err)
	}
	sec.Value, sec.SealedValue = string(plain), nil
	return sec, nil
}

func (s *Store) secretsOf(tx *bolt.Tx, owner string) ([]paas.Secret, error) {
	return collect(tx.Bucket(bucketSecrets), prefix(owner), s.decodeSecret)
}

// secretByRef finds owner's secret by uid or by name.
func (s *Store) secretByRef(tx *bolt.Tx, owner, ref string) (paas.Secret, error) {
	all, err := s.secretsOf(tx, owner)
	if err != nil {
		return paas.Secret{}, err
	}
	for _, sec := range all {
		if sec.UID == ref || sec.Name == ref {
			return sec, nil
		}
	}
	return paas.Secret{}, paas.NotFound("secret %q not found", ref)
}

func nameTaken(all []paas.Secret, name string) bool {
	for _, sec := range all {
		if sec.Name == name {
			return true
		}
	}
	return false
}

// CreateSecret stores a new secret; its name must be free for its owner.
func (s *Store) CreateSecret(sec paas.Secret) (paas.Secret, error) {
	return update(s, func(tx *bolt.Tx) (paas.Secret, error) {
		if _, err := ownerKind(tx, sec.Owner); err != nil {
			return sec, err
		}
		all, err := s.secretsOf(tx, sec.Owner)
		if err != nil {
			return sec, err
		}
		if nameTaken(all, sec.Name) {
			return sec, paas.Conflict("a secret named %q already exists", sec.Name)
		}
		sec.Created = s.now()
		return sec, s.putSecret(tx, sec)
	})
}

// Secrets lists owner's secrets.
func (s *Store) Secrets(owner string) ([]paas.Secret, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Secret, error) { return s.secretsOf(tx, owner) })
}

// Secret returns owner's secret by uid or name.
func (s *Store) Secret(owner, ref string) (paas.Secret, error) {
	return view(s, func(tx *bolt.Tx) (paas.Secret, error) { return s.secretByRef(tx, owner, ref) })
}

// RenameSecret renames owner's secret; it returns it with its old name.
func (s *Store) RenameSecret(owner, ref, name string) (paas.Secret, string, error) {
	var old string
	sec, err := update(s, func(tx *bolt.Tx) (paas.Secret, error) {
		sec, err := s.secretByRef(tx, owner, ref)
		if err != nil {
			return sec, err
		}
		all, err := s.secretsOf(tx, owner)
		if err != nil {
			return sec, err
		}
		if name != sec.Name && nameTaken(all, name) {
			return sec, paas.Conflict("a secret named %q already exists", name)
		}
		old, sec.Name = sec.Name, name
		return sec, s.putSecret(tx, sec)
	})
	return sec, old, err
}

// DeleteSecret removes owner's secret and returns it.
func (s *Store) DeleteSecret(owner, ref string) (paas.Secret, error) {
	return update(s, func(tx *bolt.Tx) (paas.Secret, error) {
		sec, err := s.secretByRef(tx, owner, ref)
		if err != nil {
			return sec, err
		}
		return sec, tx.Bucket(bucketSecrets).Delete(key(owner, sec.UID))
	})
}
