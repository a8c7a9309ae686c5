package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketSubdomainsV1 is schema 1's subdomain index (subdomain →
// owner\x00name), which schema 2 folds into hosts.
var bucketSubdomainsV1 = []byte("subdomains")

// indexGlobalNames upgrades schema 1 to 2: app names become unique
// platform-wide (app_names) and the subdomain index becomes the hostname
// index (hosts).
func indexGlobalNames(tx *bolt.Tx) error {
	apps, names := tx.Bucket(bucketApps), tx.Bucket(bucketAppNames)
	if err := apps.ForEach(func(k, _ []byte) error {
		owner, name, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("app key %q has no owner part", k)
		}
		// Schema 1 let two owners use one name. The first in key order
		// keeps it; the others stay reachable by owner/name only.
		if names.Get(name) != nil {
			return nil
		}
		return names.Put(bytes.Clone(name), bytes.Clone(owner))
	}); err != nil {
		return fmt.Errorf("index app names: %w", err)
	}
	subs := tx.Bucket(bucketSubdomainsV1)
	if subs == nil { // a new file never had it
		return nil
	}
	hosts := tx.Bucket(bucketHosts)
	if err := subs.ForEach(func(label, appKey []byte) error {
		owner, name, ok := bytes.Cut(appKey, []byte{0})
		if !ok {
			return fmt.Errorf("subdomain %q names the malformed app key %q", label, appKey)
		}
		// An entry left behind by a deleted app routes nowhere; carrying
		// it over would only make Check report it.
		if apps.Get(appKey) == nil {
			return nil
		}
		return putJSON(hosts, bytes.Clone(label), appHost(string(owner), string(name)))
	}); err != nil {
		return fmt.Errorf("move subdomains to hosts: %w", err)
	}
	return tx.DeleteBucket(bucketSubdomainsV1)
}
