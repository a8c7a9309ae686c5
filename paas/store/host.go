package store

import (
	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// HostTarget is what a hostname label under the platform domain serves. One
// index holds every kind, so a label can never be claimed twice, whichever
// face claims it.
type HostTarget struct {
	Kind  string `json:"kind"` // HostApp or HostDeployment; the now face's aliases will add kinds
	Owner string `json:"owner"`
	Name  string `json:"name"`
}

// Kinds of host targets: an app's own subdomain; a now deployment's own
// hostname (Name is the deployment's uid).
const (
	HostApp        = "app"
	HostDeployment = "deployment"
	HostAlias      = "alias" // Name is the alias's uid
)

func appHost(owner, name string) HostTarget {
	return HostTarget{Kind: HostApp, Owner: owner, Name: name}
}

// Host returns what label serves, or a NotFound error when it is free.
func (s *Store) Host(label string) (HostTarget, error) {
	return view(s, func(tx *bolt.Tx) (HostTarget, error) {
		return get[HostTarget](tx.Bucket(bucketHosts), []byte(label), notFound("host %q not found", label))
	})
}

// claimHost points a free label at t; a taken label is a conflict.
func claimHost(tx *bolt.Tx, label string, t HostTarget) error {
	hosts := tx.Bucket(bucketHosts)
	if hosts.Get([]byte(label)) != nil {
		return paas.Conflict("subdomain %q is taken", label)
	}
	return putJSON(hosts, []byte(label), t)
}

// releaseHost frees label if it still points at t, so releasing never
// takes a label away from another target.
func releaseHost(tx *bolt.Tx, label string, t HostTarget) error {
	hosts := tx.Bucket(bucketHosts)
	cur, ok, err := lookup[HostTarget](hosts, []byte(label))
	if err != nil || !ok || cur != t {
		return err
	}
	return hosts.Delete([]byte(label))
}
