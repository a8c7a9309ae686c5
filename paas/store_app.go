package paas

import (
	"encoding/json"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// CreateApp stores a new app. Its name must be free for the owner and its
// subdomain free platform-wide.
func (s *Store) CreateApp(a App) (App, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, a.Owner, &u); err != nil {
			return err
		}
		apps := tx.Bucket(bucketApps)
		if apps.Get(key(a.Owner, a.Name)) != nil {
			return Conflict("app %q already exists", a.Name)
		}
		subs := tx.Bucket(bucketSubdomains)
		if subs.Get([]byte(a.Subdomain)) != nil {
			return Conflict("subdomain %q is taken", a.Subdomain)
		}
		now := s.now()
		a.Created, a.Updated = now, now
		if err := subs.Put([]byte(a.Subdomain), key(a.Owner, a.Name)); err != nil {
			return err
		}
		return s.putApp(tx, a)
	})
	return a, err
}

func (s *Store) putApp(tx *bolt.Tx, a App) error {
	a.SealedEnv = nil
	if len(a.Env) > 0 {
		plain, err := json.Marshal(a.Env)
		if err != nil {
			return err
		}
		if a.SealedEnv, err = s.sealer.seal(plain); err != nil {
			return err
		}
	}
	return putJSON(tx.Bucket(bucketApps), key(a.Owner, a.Name), a)
}

func (s *Store) decodeApp(data []byte) (App, error) {
	var a App
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("decode app: %w", err)
	}
	a.Env = map[string]string{}
	if len(a.SealedEnv) > 0 {
		plain, err := s.sealer.open(a.SealedEnv)
		if err != nil {
			return a, fmt.Errorf("app %s env: %w", a.Key(), err)
		}
		if err := json.Unmarshal(plain, &a.Env); err != nil {
			return a, fmt.Errorf("app %s env: %w", a.Key(), err)
		}
	}
	a.SealedEnv = nil
	return a, nil
}

func (s *Store) getApp(tx *bolt.Tx, owner, name string) (App, error) {
	data := tx.Bucket(bucketApps).Get(key(owner, name))
	if data == nil {
		return App{}, NotFound("app %q not found", name)
	}
	return s.decodeApp(data)
}

// App returns one app.
func (s *Store) App(owner, name string) (App, error) {
	var a App
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		a, err = s.getApp(tx, owner, name)
		return err
	})
	return a, err
}

// AppBySubdomain returns the app served at <sub>.<domain>.
func (s *Store) AppBySubdomain(sub string) (App, error) {
	var a App
	err := s.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketSubdomains).Get([]byte(sub))
		if k == nil {
			return NotFound("no app at subdomain %q", sub)
		}
		data := tx.Bucket(bucketApps).Get(k)
		if data == nil {
			return fmt.Errorf("subdomain %q points at a missing app", sub)
		}
		var err error
		a, err = s.decodeApp(data)
		return err
	})
	return a, err
}

// SubdomainTaken reports whether sub is used by an app other than owner/name.
func (s *Store) SubdomainTaken(sub, owner, name string) (bool, error) {
	var taken bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketSubdomains).Get([]byte(sub))
		taken = k != nil && string(k) != string(key(owner, name))
		return nil
	})
	return taken, err
}

// Apps lists an owner's apps in name order.
func (s *Store) Apps(owner string) ([]App, error) {
	var out []App
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = s.appsOf(tx, owner)
		return err
	})
	return out, err
}

// AllApps lists every app of every owner.
func (s *Store) AllApps() ([]App, error) {
	var out []App
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(_, v []byte) error {
			a, err := s.decodeApp(v)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

func (s *Store) appsOf(tx *bolt.Tx, owner string) ([]App, error) {
	var out []App
	err := scanPrefix(tx.Bucket(bucketApps), prefix(owner), func(_, v []byte) error {
		a, err := s.decodeApp(v)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// UpdateApp applies fn to the stored app in one transaction; an error from fn
// aborts the change. A changed subdomain is checked and re-indexed.
func (s *Store) UpdateApp(owner, name string, fn func(*App) error) (App, error) {
	var a App
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if a, err = s.getApp(tx, owner, name); err != nil {
			return err
		}
		oldSub := a.Subdomain
		if err := fn(&a); err != nil {
			return err
		}
		a.Owner, a.Name = owner, name
		if a.Subdomain != oldSub {
			subs := tx.Bucket(bucketSubdomains)
			if subs.Get([]byte(a.Subdomain)) != nil {
				return Conflict("subdomain %q is taken", a.Subdomain)
			}
			if err := subs.Delete([]byte(oldSub)); err != nil {
				return err
			}
			if err := subs.Put([]byte(a.Subdomain), key(owner, name)); err != nil {
				return err
			}
		}
		a.Updated = s.now()
		return s.putApp(tx, a)
	})
	return a, err
}

// DeleteApp removes an app with its snapshots (releasing their files), logs
// and subdomain, in one transaction, and returns what was removed.
func (s *Store) DeleteApp(owner, name string) (App, error) {
	var a App
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if a, err = s.getApp(tx, owner, name); err != nil {
			return err
		}
		return deleteAppTx(tx, a)
	})
	return a, err
}

func deleteAppTx(tx *bolt.Tx, a App) error {
	snaps := tx.Bucket(bucketSnapshots)
	var ids []string
	if err := scanPrefix(snaps, prefix(a.Owner, a.Name), func(k, v []byte) error {
		var sn Snapshot
		if err := json.Unmarshal(v, &sn); err != nil {
			return fmt.Errorf("decode snapshot %q: %w", k, err)
		}
		ids = append(ids, sn.ID)
		return releaseFiles(tx, sn.Files)
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if err := snaps.Delete(key(a.Owner, a.Name, id)); err != nil {
			return err
		}
	}
	logs := tx.Bucket(bucketLogs)
	if logs.Bucket([]byte(a.Key())) != nil {
		if err := logs.DeleteBucket([]byte(a.Key())); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketLogCounts).Delete([]byte(a.Key())); err != nil {
		return err
	}
	if err := tx.Bucket(bucketSubdomains).Delete([]byte(a.Subdomain)); err != nil {
		return err
	}
	return tx.Bucket(bucketApps).Delete(key(a.Owner, a.Name))
}
