package paas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CreateDomain stores d unless its name is registered already. It returns
// the stored domain and whether it was created now: the same owner
// registering again gets the existing domain (the now API's retry to verify),
// another owner gets 409. A name that overlaps another owner's domain (one
// is under the other) is refused too, because the more specific zone would
// take over names of the other one on this server.
func (s *Store) CreateDomain(d Domain) (Domain, bool, error) {
	created := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, d.Owner, &u); err != nil {
			return err
		}
		domains := tx.Bucket(bucketDomains)
		var cur Domain
		switch err := getJSON(domains, []byte(d.Name), &cur); {
		case err == nil && cur.Owner == d.Owner:
			d = cur
			return nil
		case err == nil:
			return Conflict("domain %q is already registered by another user", d.Name)
		case !IsNotFound(err):
			return err
		}
		if err := checkOverlap(tx, d); err != nil {
			return err
		}
		n := 0
		if err := scanPrefix(tx.Bucket(bucketOwnDomains), prefix(d.Owner), func(_, _ []byte) error {
			n++
			return nil
		}); err != nil {
			return err
		}
		if n >= MaxDomainsPerOwner {
			return Conflict("you already have %d domains, the maximum", n)
		}
		d.Created = s.now()
		if err := tx.Bucket(bucketOwnDomains).Put(key(d.Owner, d.Name), []byte(d.UID)); err != nil {
			return err
		}
		created = true
		return putJSON(domains, []byte(d.Name), d)
	})
	if err != nil {
		return Domain{}, false, fmt.Errorf("create domain %s: %w", d.Name, err)
	}
	return d, created, nil
}

// checkOverlap refuses a domain that is above or below another owner's.
func checkOverlap(tx *bolt.Tx, d Domain) error {
	domains := tx.Bucket(bucketDomains)
	// Ancestors: walk up the labels.
	for n := d.Name; strings.Contains(n, "."); {
		_, n, _ = strings.Cut(n, ".")
		var o Domain
		if err := getJSON(domains, []byte(n), &o); err == nil && o.Owner != d.Owner {
			return Conflict("domain %q is under %q, which another user registered", d.Name, n)
		} else if err != nil && !IsNotFound(err) {
			return err
		}
	}
	// Descendants: a scan, as names are keyed left to right. Domain
	// creation is rare enough for it not to matter.
	suffix := []byte("." + d.Name)
	return domains.ForEach(func(k, v []byte) error {
		if !bytes.HasSuffix(k, suffix) {
			return nil
		}
		var o Domain
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("decode domain %q: %w", k, err)
		}
		if o.Owner != d.Owner {
			return Conflict("domain %q contains %q, which another user registered", d.Name, o.Name)
		}
		return nil
	})
}

// ownedDomain returns the domain when owner has it; any other case is 404,
// so other users' domains cannot be told apart from free names.
func ownedDomain(tx *bolt.Tx, owner, name string) (Domain, error) {
	var d Domain
	err := getJSON(tx.Bucket(bucketDomains), []byte(name), &d)
	if err == nil && d.Owner != owner {
		err = ErrNotFound
	}
	if IsNotFound(err) {
		return Domain{}, NotFound("domain %q not found", name)
	}
	return d, err
}

// Domain returns owner's domain name (404 when absent or someone else's).
func (s *Store) Domain(owner, name string) (Domain, error) {
	var d Domain
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		d, err = ownedDomain(tx, owner, name)
		return err
	})
	return d, err
}

// Domains returns owner's domains sorted by name.
func (s *Store) Domains(owner string) ([]Domain, error) {
	var out []Domain
	err := s.db.View(func(tx *bolt.Tx) error {
		domains := tx.Bucket(bucketDomains)
		return scanPrefix(tx.Bucket(bucketOwnDomains), prefix(owner), func(k, _ []byte) error {
			name := k[len(prefix(owner)):]
			var d Domain
			if err := getJSON(domains, name, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list domains of %s: %w", owner, err)
	}
	return out, nil
}

// MarkDomainVerified sets an external domain verified, provided it is still
// the one (uid) whose token was checked: a domain deleted and registered
// again meanwhile has a new token.
func (s *Store) MarkDomainVerified(owner, name, uid string) (Domain, error) {
	var d Domain
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedDomain(tx, owner, name); err != nil {
			return err
		}
		if d.UID != uid {
			return Conflict("domain %q changed while it was being verified; try again", name)
		}
		if d.Verified {
			return nil
		}
		d.Verified = true
		return putJSON(tx.Bucket(bucketDomains), []byte(name), d)
	})
	if err != nil {
		return Domain{}, fmt.Errorf("verify domain %s: %w", name, err)
	}
	return d, nil
}

// DeleteDomain removes owner's domain with all its records.
func (s *Store) DeleteDomain(owner, name string) (Domain, error) {
	var d Domain
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedDomain(tx, owner, name); err != nil {
			return err
		}
		return deleteDomainTx(tx, d)
	})
	if err != nil {
		return Domain{}, fmt.Errorf("delete domain %s: %w", name, err)
	}
	return d, nil
}

func deleteDomainTx(tx *bolt.Tx, d Domain) error {
	if err := deletePrefix(tx.Bucket(bucketRecords), prefix(d.Name)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOwnDomains).Delete(key(d.Owner, d.Name)); err != nil {
		return err
	}
	return tx.Bucket(bucketDomains).Delete([]byte(d.Name))
}

// CreateRecord adds rec to owner's domain. check runs in the same
// transaction with the domain and its current records, so a record that
// conflicts with another can be refused without a race.
func (s *Store) CreateRecord(owner, domain string, rec Record, check func(Domain, []Record) error) (Record, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		d, err := ownedDomain(tx, owner, domain)
		if err != nil {
			return err
		}
		existing, err := recordsOf(tx, domain)
		if err != nil {
			return err
		}
		if len(existing) >= MaxRecordsPerDomain {
			return Conflict("domain %q already has %d records, the maximum", domain, len(existing))
		}
		if check != nil {
			if err := check(d, existing); err != nil {
				return err
			}
		}
		rec.Domain = domain
		rec.Created = s.now()
		return putJSON(tx.Bucket(bucketRecords), key(domain, rec.ID), rec)
	})
	if err != nil {
		return Record{}, fmt.Errorf("create record in %s: %w", domain, err)
	}
	return rec, nil
}

// Records returns the records of owner's domain, oldest first.
func (s *Store) Records(owner, domain string) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := ownedDomain(tx, owner, domain); err != nil {
			return err
		}
		var err error
		out, err = recordsOf(tx, domain)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list records of %s: %w", domain, err)
	}
	return out, nil
}

// DeleteRecord removes one record of owner's domain; it returns the domain
// and the record removed.
func (s *Store) DeleteRecord(owner, domain, id string) (Domain, Record, error) {
	var d Domain
	var rec Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedDomain(tx, owner, domain); err != nil {
			return err
		}
		b := tx.Bucket(bucketRecords)
		if err := getJSON(b, key(domain, id), &rec); err != nil {
			if IsNotFound(err) {
				return NotFound("record %q not found in %s", id, domain)
			}
			return err
		}
		return b.Delete(key(domain, id))
	})
	if err != nil {
		return Domain{}, Record{}, fmt.Errorf("delete record %s: %w", id, err)
	}
	return d, rec, nil
}

// recordsOf lists a domain's records, oldest first (ids are random).
func recordsOf(tx *bolt.Tx, domain string) ([]Record, error) {
	var out []Record
	err := scanPrefix(tx.Bucket(bucketRecords), prefix(domain), func(k, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode record %q: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// zoneSerial is what is remembered per served zone: the hash of the content
// last served and the SOA serial it was served with.
type zoneSerial struct {
	Hash   string `json:"hash"`
	Serial uint32 `json:"serial"`
}

// zoneSource is what the DNS view is built from, read in one transaction.
type zoneSource struct {
	Subdomains []string            // every app's subdomain, sorted
	Domains    []Domain            // internal domains of existing owners
	Records    map[string][]Record // domain name → records
}

// ZoneSerials reads everything zones are built from in one transaction,
// lets build turn it into zone contents (origin → canonical content hash),
// and returns the SOA serial of each origin: unchanged when its hash is
// the one last served, otherwise bumped and saved in the same transaction.
// Serials are derived from content rather than counted per change because
// the platform zone changes with apps, whose writes happen elsewhere.
func (s *Store) zoneSerials(build func(zoneSource) (map[string]string, error)) (map[string]uint32, error) {
	out := map[string]uint32{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var src zoneSource
		src.Records = map[string][]Record{}
		if err := tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			var a struct {
				Subdomain string `json:"subdomain"`
			}
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode app %q: %w", k, err)
			}
			src.Subdomains = append(src.Subdomains, a.Subdomain)
			return nil
		}); err != nil {
			return err
		}
		sort.Strings(src.Subdomains)
		if err := tx.Bucket(bucketDomains).ForEach(func(k, v []byte) error {
			var d Domain
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode domain %q: %w", k, err)
			}
			if d.IsExternal {
				return nil
			}
			recs, err := recordsOf(tx, d.Name)
			if err != nil {
				return err
			}
			src.Domains = append(src.Domains, d)
			src.Records[d.Name] = recs
			return nil
		}); err != nil {
			return err
		}
		hashes, err := build(src)
		if err != nil {
			return err
		}
		serials := tx.Bucket(bucketZoneSerial)
		now := uint32(s.now().Unix())
		for origin, h := range hashes {
			var zs zoneSerial
			if err := getJSON(serials, []byte(origin), &zs); err != nil && !IsNotFound(err) {
				return err
			}
			if zs.Hash != h || zs.Serial == 0 {
				// The clock keeps serials increasing even across a
				// fresh data file; +1 keeps them increasing within a second.
				zs = zoneSerial{Hash: h, Serial: max(zs.Serial+1, now)}
				if err := putJSON(serials, []byte(origin), zs); err != nil {
					return err
				}
			}
			out[origin] = zs.Serial
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("zone serials: %w", err)
	}
	return out, nil
}
