package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateApp stores a new app. Its owner must be a user or a team (NotFound
// otherwise); its name must be free platform-wide, since Tsuru addresses
// apps by bare name, and its subdomain free as a hostname label.
func (s *Store) CreateApp(a paas.App) (paas.App, error) {
	return update(s, func(tx *bolt.Tx) (paas.App, error) {
		if err := newOwned(tx, bucketApps, a.Owner, a.Name, "app"); err != nil {
			return a, err
		}
		names := tx.Bucket(bucketAppNames)
		if names.Get([]byte(a.Name)) != nil {
			return a, paas.Conflict("app name %q is taken", a.Name)
		}
		if err := claimHost(tx, a.Subdomain, appHost(a.Owner, a.Name)); err != nil {
			return a, err
		}
		if err := names.Put([]byte(a.Name), []byte(a.Owner)); err != nil {
			return a, err
		}
		now := s.now()
		a.Created, a.Updated = now, now
		return a, s.putApp(tx, a)
	})
}

func (s *Store) putApp(tx *bolt.Tx, a paas.App) error {
	a.SealedEnv = nil
	if len(a.Env) > 0 {
		plain, err := json.Marshal(a.Env)
		if err != nil {
			return fmt.Errorf("encode app %s env: %w", a.Key(), err)
		}
		if a.SealedEnv, err = s.sealer.seal(plain); err != nil {
			return fmt.Errorf("app %s env: %w", a.Key(), err)
		}
	}
	return putJSON(tx.Bucket(bucketApps), key(a.Owner, a.Name), a)
}

// decodeApp is the apps bucket's decoder: the env is sealed at rest.
func (s *Store) decodeApp(k, data []byte) (paas.App, error) {
	a, err := decode[paas.App](k, data)
	if err != nil {
		return a, err
	}
	a.Env = map[string]string{}
	if len(a.SealedEnv) > 0 {
		plain, err := s.sealer.open(a.SealedEnv)
		if err != nil {
			return paas.App{}, fmt.Errorf("app %s env: %w", a.Key(), err)
		}
		if err := json.Unmarshal(plain, &a.Env); err != nil {
			return paas.App{}, fmt.Errorf("app %s env: %w", a.Key(), err)
		}
	}
	a.SealedEnv = nil
	return a, nil
}

func (s *Store) getApp(tx *bolt.Tx, owner, name string) (paas.App, error) {
	return s.appAt(tx, key(owner, name), notFound("app %q not found", name))
}

func (s *Store) appAt(tx *bolt.Tx, k []byte, ifMissing func() error) (paas.App, error) {
	data := tx.Bucket(bucketApps).Get(k)
	if data == nil {
		return paas.App{}, ifMissing()
	}
	return s.decodeApp(k, data)
}

// App returns one app by owner and name.
func (s *Store) App(owner, name string) (paas.App, error) {
	return view(s, func(tx *bolt.Tx) (paas.App, error) { return s.getApp(tx, owner, name) })
}

// AppByName returns the app that holds name platform-wide. An app created
// under schema 1 with a name another owner holds is reachable only through
// App(owner, name).
func (s *Store) AppByName(name string) (paas.App, error) {
	return view(s, func(tx *bolt.Tx) (paas.App, error) {
		owner := tx.Bucket(bucketAppNames).Get([]byte(name))
		if owner == nil {
			return paas.App{}, paas.NotFound("app %q not found", name)
		}
		return s.appAt(tx, key(string(owner), name), func() error {
			return fmt.Errorf("app name %q points at the missing app %s/%s", name, owner, name)
		})
	})
}

// AppBySubdomain returns the app served at <sub>.<domain>; a label that is
// free or serves something else is NotFound.
func (s *Store) AppBySubdomain(sub string) (paas.App, error) {
	return view(s, func(tx *bolt.Tx) (paas.App, error) {
		h, ok, err := lookup[HostTarget](tx.Bucket(bucketHosts), []byte(sub))
		if err != nil {
			return paas.App{}, err
		}
		if !ok || h.Kind != HostApp {
			return paas.App{}, paas.NotFound("no app at subdomain %q", sub)
		}
		return s.appAt(tx, key(h.Owner, h.Name), func() error {
			return fmt.Errorf("subdomain %q points at the missing app %s/%s", sub, h.Owner, h.Name)
		})
	})
}

// SubdomainTaken reports whether the label sub serves anything other than
// the app owner/name.
func (s *Store) SubdomainTaken(sub, owner, name string) (bool, error) {
	return view(s, func(tx *bolt.Tx) (bool, error) {
		h, ok, err := lookup[HostTarget](tx.Bucket(bucketHosts), []byte(sub))
		return ok && h != appHost(owner, name), err
	})
}

// Apps lists an owner's apps in name order.
func (s *Store) Apps(owner string) ([]paas.App, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.App, error) { return s.appsOf(tx, owner) })
}

// AllApps lists every app of every owner, by owner then name.
func (s *Store) AllApps() ([]paas.App, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.App, error) {
		return collect(tx.Bucket(bucketApps), nil, s.decodeApp)
	})
}

func (s *Store) appsOf(tx *bolt.Tx, owner string) ([]paas.App, error) {
	return collect(tx.Bucket(bucketApps), prefix(owner), s.decodeApp)
}

// UpdateApp applies fn to the stored app in one transaction; an error from fn
// aborts the change. Owner and name cannot change; a changed subdomain is
// checked and re-indexed.
func (s *Store) UpdateApp(owner, name string, fn func(*paas.App) error) (paas.App, error) {
	return update(s, func(tx *bolt.Tx) (paas.App, error) {
		a, err := s.getApp(tx, owner, name)
		if err != nil {
			return a, err
		}
		oldSub, servedBy := a.Subdomain, a.ServedBy
		if err := fn(&a); err != nil {
			return a, err
		}
		a.Owner, a.Name = owner, name
		if servedBy != "" && a.ServedBy == "" {
			// The app's own units take its hostname back: the alias that
			// gave it to a deployment goes.
			aliases, err := aliasesOf(tx, owner, servedBy)
			if err != nil {
				return a, err
			}
			for _, al := range aliases {
				if al.AppHost {
					if err := dropAlias(tx, al); err != nil {
						return a, err
					}
				}
			}
		}
		if a.Subdomain != oldSub {
			if err := claimHost(tx, a.Subdomain, appHost(owner, name)); err != nil {
				return a, err
			}
			if err := releaseHost(tx, oldSub, appHost(owner, name)); err != nil {
				return a, err
			}
			if a.ServedBy != "" {
				if err := renameAppHostAliases(tx, owner, a.ServedBy, oldSub, a.Subdomain); err != nil {
					return a, err
				}
			}
		}
		a.Updated = s.now()
		return a, s.putApp(tx, a)
	})
}

// DeleteApp removes an app with its snapshots (releasing their files), logs,
// subdomain and name, in one transaction, and returns what was removed.
func (s *Store) DeleteApp(owner, name string) (paas.App, error) {
	return update(s, func(tx *bolt.Tx) (paas.App, error) {
		a, err := s.getApp(tx, owner, name)
		if err != nil {
			return a, err
		}
		return a, deleteAppTx(tx, a)
	})
}

func deleteAppTx(tx *bolt.Tx, a paas.App) error {
	snaps := tx.Bucket(bucketSnapshots)
	all, err := list[paas.Snapshot](snaps, prefix(a.Owner, a.Name))
	if err != nil {
		return err
	}
	for _, sn := range all {
		if err := releaseFiles(tx, sn.Blobs()); err != nil {
			return err
		}
	}
	if err := deletePrefix(snaps, prefix(a.Owner, a.Name)); err != nil {
		return err
	}
	if err := deleteLogsOf(tx, a.Key()); err != nil {
		return err
	}
	if err := releaseHost(tx, a.Subdomain, appHost(a.Owner, a.Name)); err != nil {
		return err
	}
	if err := releaseAppName(tx, a.Owner, a.Name); err != nil {
		return err
	}
	if err := deleteDeploymentsOf(tx, a); err != nil {
		return err
	}
	if err := unbindDeletedApp(tx, a.Key()); err != nil {
		return err
	}
	return tx.Bucket(bucketApps).Delete(key(a.Owner, a.Name))
}

// unbindDeletedApp removes a deleted app from the databases bound to it.
// Only the app list changes, so records are rewritten as stored (their
// passwords stay sealed).
func unbindDeletedApp(tx *bolt.Tx, appKey string) error {
	dbs := tx.Bucket(bucketDatabases)
	var changed []paas.Database
	if err := dbs.ForEach(func(k, v []byte) error {
		d, err := decode[paas.Database](k, v)
		if err != nil {
			return err
		}
		if i := slices.Index(d.Apps, appKey); i >= 0 {
			// The bindings' record stays sealed as stored: its entry for
			// the app is harmless, and dropped at the next rewrite.
			d.Apps = slices.Delete(d.Apps, i, i+1)
			changed = append(changed, d)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, d := range changed {
		if err := putJSON(dbs, key(d.Owner, d.Name), d); err != nil {
			return err
		}
	}
	return nil
}

// releaseAppName frees name when owner holds it. A schema-1 file can hold
// the same name under several owners; the next of them in key order then
// takes the name, as the migration would have given it, so a name in use
// is never free for a new app.
func releaseAppName(tx *bolt.Tx, owner, name string) error {
	names := tx.Bucket(bucketAppNames)
	if !bytes.Equal(names.Get([]byte(name)), []byte(owner)) {
		return nil
	}
	if err := names.Delete([]byte(name)); err != nil {
		return err
	}
	c := tx.Bucket(bucketApps).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		o, n, _ := bytes.Cut(k, []byte{0})
		if string(n) == name && string(o) != owner {
			return names.Put([]byte(name), bytes.Clone(o))
		}
	}
	return nil
}

// SwapSubdomains exchanges the subdomains (the addresses) of two apps in
// one transaction: at no point does either name serve nothing, or both.
func (s *Store) SwapSubdomains(ownerA, nameA, ownerB, nameB string) (paas.App, paas.App, error) {
	var a, b paas.App
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if a, err = s.getApp(tx, ownerA, nameA); err != nil {
			return err
		}
		if b, err = s.getApp(tx, ownerB, nameB); err != nil {
			return err
		}
		if a.Key() == b.Key() {
			return paas.BadRequest("cannot swap an app with itself")
		}
		hosts := tx.Bucket(bucketHosts)
		if err := putJSON(hosts, []byte(a.Subdomain), appHost(b.Owner, b.Name)); err != nil {
			return err
		}
		if err := putJSON(hosts, []byte(b.Subdomain), appHost(a.Owner, a.Name)); err != nil {
			return err
		}
		a.Subdomain, b.Subdomain = b.Subdomain, a.Subdomain
		now := s.now()
		a.Updated, b.Updated = now, now
		if err := s.putApp(tx, a); err != nil {
			return err
		}
		return s.putApp(tx, b)
	})
	if err != nil {
		return paas.App{}, paas.App{}, fmt.Errorf("swap %s/%s and %s/%s: %w", ownerA, nameA, ownerB, nameB, err)
	}
	return a, b, nil
}

// deleteLogsOf removes the logs kept under key (an app's or a deployment's).
func deleteLogsOf(tx *bolt.Tx, key string) error {
	logs := tx.Bucket(bucketLogs)
	if logs.Bucket([]byte(key)) != nil {
		if err := logs.DeleteBucket([]byte(key)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketLogCounts).Delete([]byte(key))
}

// RouteSource is what the ingress's table is built from, read in one
// transaction and without unsealing anyone's env: routing needs names,
// states and hostnames only, so a change costs the same JSON decoding
// whatever the apps hold, and no decryption per app.
type RouteSource struct {
	Apps        []paas.App // Env and SealedEnv empty
	Deployments []paas.Deployment
	Aliases     []paas.Alias
}

// RouteSource reads the routing view.
func (s *Store) RouteSource() (RouteSource, error) {
	return view(s, func(tx *bolt.Tx) (RouteSource, error) {
		var src RouteSource
		var err error
		if src.Apps, err = list[paas.App](tx.Bucket(bucketApps), nil); err != nil {
			return src, err
		}
		for i := range src.Apps {
			src.Apps[i].SealedEnv = nil
		}
		if src.Deployments, err = list[paas.Deployment](tx.Bucket(bucketDeployments), nil); err != nil {
			return src, err
		}
		for i := range src.Deployments {
			src.Deployments[i].SealedEnv = nil
		}
		src.Aliases, err = list[paas.Alias](tx.Bucket(bucketAliases), nil)
		return src, err
	})
}

// AppSummary is an app as lists show it: without its env (never unsealed
// for a list) and with its number of snapshots.
type AppSummary struct {
	App       paas.App
	Snapshots int
}

// appWithoutEnv decodes a stored app but for its sealed env, which a
// summary never shows: its field shadows the app's, and decoding each
// app's sealed bytes (base64, then a copy) was a third of listing them all.
type appWithoutEnv struct {
	paas.App
	SealedEnv skippedJSON `json:"sealed_env,omitempty"`
}

// skippedJSON takes any JSON value and keeps nothing.
type skippedJSON struct{}

func (*skippedJSON) UnmarshalJSON([]byte) error { return nil }

// AppSummaries lists the apps of owners (nil: every owner), by owner then
// name, in one transaction.
func (s *Store) AppSummaries(owners []string) ([]AppSummary, error) {
	return view(s, func(tx *bolt.Tx) ([]AppSummary, error) {
		var apps []appWithoutEnv
		if owners == nil {
			var err error
			if apps, err = list[appWithoutEnv](tx.Bucket(bucketApps), nil); err != nil {
				return nil, err
			}
		}
		for _, o := range owners {
			more, err := list[appWithoutEnv](tx.Bucket(bucketApps), prefix(o))
			if err != nil {
				return nil, err
			}
			apps = append(apps, more...)
		}
		out := make([]AppSummary, 0, len(apps))
		snaps := tx.Bucket(bucketSnapshots)
		for _, a := range apps {
			out = append(out, AppSummary{App: a.App, Snapshots: count(snaps, prefix(a.Owner, a.Name))})
		}
		return out, nil
	})
}
