package store

import (
	"errors"
	"strings"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// ErrAliasUnchanged is SetAlias's answer when the alias already points at
// the deployment.
var ErrAliasUnchanged = errors.New("the alias already points at this deployment")

func aliasHost(a paas.Alias) HostTarget {
	return HostTarget{Kind: HostAlias, Owner: a.Owner, Name: a.UID}
}

func putAlias(tx *bolt.Tx, a paas.Alias) error {
	if err := tx.Bucket(bucketAliasHosts).Put([]byte(a.Host), []byte(a.UID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOwnAliases).Put(key(a.Owner, a.UID), []byte(a.Deployment)); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketAliases), []byte(a.UID), a)
}

// SetAlias points host at deployment dep of dep.Owner, in one transaction:
// a new alias, or one of the owner's moved from another deployment (old
// is that deployment's uid). host is a label of zone that is free or is
// the deployment's app's own hostname, or a name under one of the owner's
// verified domains.
func (s *Store) SetAlias(host, zone string, dep paas.Deployment) (a paas.Alias, old string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if _, err := s.getDeployment(tx, dep.UID); err != nil {
			return err
		}
		if uid := tx.Bucket(bucketAliasHosts).Get([]byte(host)); uid != nil {
			cur, err := get[paas.Alias](tx.Bucket(bucketAliases), uid, notFound("alias %q not found", uid))
			if err != nil {
				return err
			}
			if cur.Owner != dep.Owner {
				return paas.Conflict("the alias %s is taken", host)
			}
			if cur.Deployment == dep.UID {
				a = cur
				return ErrAliasUnchanged
			}
			if cur.AppHost && cur.App != dep.App {
				return paas.Conflict("%s is the hostname of the app %s; alias a deployment of %s to it", host, cur.App, cur.App)
			}
			old = cur.Deployment
			cur.Deployment, cur.App = dep.UID, dep.App
			a = cur
			if err := putAlias(tx, cur); err != nil {
				return err
			}
			if cur.AppHost {
				return s.serveApp(tx, dep)
			}
			return nil
		}
		a = paas.Alias{UID: paas.NewAliasUID(), Owner: dep.Owner, Host: host, Deployment: dep.UID, App: dep.App, Created: s.now()}
		if label, ok := strings.CutSuffix(host, "."+zone); ok {
			if strings.Contains(label, ".") {
				return paas.BadRequest("the alias %s is not a name of the platform zone %s: use one label, like %s", host, zone, label[strings.LastIndexByte(label, '.')+1:]+"."+zone)
			}
			h, taken, err := lookup[HostTarget](tx.Bucket(bucketHosts), []byte(label))
			switch {
			case err != nil:
				return err
			case !taken:
				a.Label = label
				if err := claimHost(tx, label, aliasHost(a)); err != nil {
					return err
				}
			case h.Kind == HostApp && h.Owner == dep.Owner && h.Name == dep.App:
				a.AppHost = true
				if err := s.serveApp(tx, dep); err != nil {
					return err
				}
			default:
				return paas.Conflict("the alias %s is taken", host)
			}
			return putAlias(tx, a)
		}
		d, ok, err := domainCovering(tx, host)
		if err != nil {
			return err
		}
		if !ok || d.Owner != dep.Owner || !d.Verified {
			return paas.BadRequest("%s is in no verified domain of yours: add its domain first (POST /domains)", host)
		}
		return putAlias(tx, a)
	})
	return a, old, err
}

// serveApp makes the app's own hostname serve dep: the app runs dep's
// snapshot, started, and its own units are no longer wanted.
func (s *Store) serveApp(tx *bolt.Tx, dep paas.Deployment) error {
	app, err := s.getApp(tx, dep.Owner, dep.App)
	if err != nil {
		return err
	}
	app.ServedBy, app.Snapshot, app.State, app.StateMessage = dep.UID, dep.UID, paas.AppStarted, ""
	app.Updated = s.now()
	return s.putApp(tx, app)
}

// Alias returns an alias by uid.
func (s *Store) Alias(uid string) (paas.Alias, error) {
	return view(s, func(tx *bolt.Tx) (paas.Alias, error) {
		return get[paas.Alias](tx.Bucket(bucketAliases), []byte(uid), notFound("alias %q not found", uid))
	})
}

// AliasByHost returns the alias of hostname host.
func (s *Store) AliasByHost(host string) (paas.Alias, error) {
	return view(s, func(tx *bolt.Tx) (paas.Alias, error) {
		uid := tx.Bucket(bucketAliasHosts).Get([]byte(host))
		if uid == nil {
			return paas.Alias{}, paas.NotFound("no alias %q", host)
		}
		return get[paas.Alias](tx.Bucket(bucketAliases), uid, notFound("alias %q not found", uid))
	})
}

// Aliases lists owner's aliases, oldest first.
func (s *Store) Aliases(owner string) ([]paas.Alias, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Alias, error) { return aliasesOf(tx, owner, "") })
}

// aliasesOf lists owner's aliases (of deployment dep only, unless "").
func aliasesOf(tx *bolt.Tx, owner, dep string) ([]paas.Alias, error) {
	var out []paas.Alias
	p := prefix(owner)
	err := scanPrefix(tx.Bucket(bucketOwnAliases), p, func(k, v []byte) error {
		if dep != "" && string(v) != dep {
			return nil
		}
		a, err := get[paas.Alias](tx.Bucket(bucketAliases), k[len(p):], notFound("alias %q not found", k[len(p):]))
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	sortAliases(out)
	return out, err
}

func sortAliases(as []paas.Alias) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].Created.Before(as[j-1].Created); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// AllAliases lists every alias.
func (s *Store) AllAliases() ([]paas.Alias, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Alias, error) { return list[paas.Alias](tx.Bucket(bucketAliases), nil) })
}

// DeleteAlias removes owner's alias uid. An app's own hostname then serves
// nothing until the app is started again.
func (s *Store) DeleteAlias(owner, uid string) (paas.Alias, error) {
	return update(s, func(tx *bolt.Tx) (paas.Alias, error) {
		a, ok, err := lookup[paas.Alias](tx.Bucket(bucketAliases), []byte(uid))
		if err != nil {
			return a, err
		}
		if !ok || a.Owner != owner {
			return paas.Alias{}, paas.NotFound("alias %q not found", uid)
		}
		return a, s.deleteAliasTx(tx, a)
	})
}

func (s *Store) deleteAliasTx(tx *bolt.Tx, a paas.Alias) error {
	if a.AppHost {
		if err := s.unserveApp(tx, a.Owner, a.App); err != nil {
			return err
		}
	}
	return dropAlias(tx, a)
}

// unserveApp ends the app's serving of a deployment (see serveApp): its
// own hostname serves nothing until it is started again.
func (s *Store) unserveApp(tx *bolt.Tx, owner, name string) error {
	app, err := s.getApp(tx, owner, name)
	if err != nil || app.ServedBy == "" {
		return err
	}
	app.ServedBy, app.State = "", paas.AppStopped
	app.Updated = s.now()
	return s.putApp(tx, app)
}

// renameAppHostAliases follows an app's new subdomain in the alias that
// gives its hostname to deployment uid, so the listing and the lookup by
// host name the hostname that is served, not the one it had.
func renameAppHostAliases(tx *bolt.Tx, owner, uid, oldSub, newSub string) error {
	aliases, err := aliasesOf(tx, owner, uid)
	if err != nil {
		return err
	}
	for _, al := range aliases {
		zone, ok := strings.CutPrefix(al.Host, oldSub+".")
		if !al.AppHost || !ok {
			continue
		}
		if err := tx.Bucket(bucketAliasHosts).Delete([]byte(al.Host)); err != nil {
			return err
		}
		al.Host = newSub + "." + zone
		if err := putAlias(tx, al); err != nil {
			return err
		}
	}
	return nil
}

// dropAlias removes the alias's records and index entries.
func dropAlias(tx *bolt.Tx, a paas.Alias) error {
	if a.Label != "" {
		if err := releaseHost(tx, a.Label, aliasHost(a)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketAliasHosts).Delete([]byte(a.Host)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOwnAliases).Delete(key(a.Owner, a.UID)); err != nil {
		return err
	}
	return tx.Bucket(bucketAliases).Delete([]byte(a.UID))
}
