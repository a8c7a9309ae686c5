package store

import (
	"fmt"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

func (s *Store) putService(tx *bolt.Tx, svc paas.ExternalService) error {
	sealed, err := s.sealer.seal([]byte(svc.Password))
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	svc.SealedPassword = sealed
	return putJSON(tx.Bucket(bucketServices), []byte(svc.Name), svc)
}

func (s *Store) decodeService(k, data []byte) (paas.ExternalService, error) {
	svc, err := decode[paas.ExternalService](k, data)
	if err != nil {
		return svc, err
	}
	plain, err := s.sealer.open(svc.SealedPassword)
	if err != nil {
		return paas.ExternalService{}, fmt.Errorf("service %s password: %w", svc.Name, err)
	}
	svc.Password, svc.SealedPassword = string(plain), nil
	return svc, nil
}

func (s *Store) getService(tx *bolt.Tx, name string) (paas.ExternalService, error) {
	data := tx.Bucket(bucketServices).Get([]byte(name))
	if data == nil {
		return paas.ExternalService{}, paas.NotFound("service %q not found", name)
	}
	return s.decodeService([]byte(name), data)
}

// CreateService registers an external service; its name must be free.
func (s *Store) CreateService(svc paas.ExternalService) (paas.ExternalService, error) {
	return update(s, func(tx *bolt.Tx) (paas.ExternalService, error) {
		if tx.Bucket(bucketServices).Get([]byte(svc.Name)) != nil {
			return svc, paas.Conflict("service %q already exists", svc.Name)
		}
		svc.Created = s.now()
		return svc, s.putService(tx, svc)
	})
}

// Service returns one external service.
func (s *Store) Service(name string) (paas.ExternalService, error) {
	return view(s, func(tx *bolt.Tx) (paas.ExternalService, error) { return s.getService(tx, name) })
}

// Services lists every external service by name.
func (s *Store) Services() ([]paas.ExternalService, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.ExternalService, error) {
		return collect(tx.Bucket(bucketServices), nil, s.decodeService)
	})
}

// UpdateService applies fn to a stored service; its name cannot change.
func (s *Store) UpdateService(name string, fn func(*paas.ExternalService) error) (paas.ExternalService, error) {
	return update(s, func(tx *bolt.Tx) (paas.ExternalService, error) {
		svc, err := s.getService(tx, name)
		if err != nil {
			return svc, err
		}
		if err := fn(&svc); err != nil {
			return svc, err
		}
		svc.Name = name
		return svc, s.putService(tx, svc)
	})
}

// DeleteService removes an external service with no instances left
// (403 otherwise, saying how many).
func (s *Store) DeleteService(name string) (paas.ExternalService, error) {
	return update(s, func(tx *bolt.Tx) (paas.ExternalService, error) {
		svc, err := s.getService(tx, name)
		if err != nil {
			return svc, err
		}
		n := 0
		if err := tx.Bucket(bucketDatabases).ForEach(func(k, v []byte) error {
			d, err := decode[paas.Database](k, v)
			if err == nil && d.External && d.Service == name {
				n++
			}
			return err
		}); err != nil {
			return svc, err
		}
		if n > 0 {
			return svc, paas.Forbidden("service %q still has %d instance(s); remove them first", name, n)
		}
		return svc, tx.Bucket(bucketServices).Delete([]byte(name))
	})
}
