package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateDomain stores d. A verified d (an admin's, or proven) takes the
// name platform-wide: the same owner registering again gets the existing
// domain, another owner gets 409; a name that overlaps another owner's
// domain (one is under the other) is refused too, because the more
// specific zone would take over names of the other one on this server.
// An unverified d is a claim: any number of owners may claim a name that
// nobody has proven, none blocking another; the owner claiming again gets
// its claim back (the now API's retry to verify). Its owner must be a user
// or a team (NotFound otherwise). It returns the stored domain and whether
// it was created now.
func (s *Store) CreateDomain(d paas.Domain) (paas.Domain, bool, error) {
	created := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := ownerKind(tx, d.Owner); err != nil {
			return err
		}
		domains, claims := tx.Bucket(bucketDomains), tx.Bucket(bucketClaims)
		cur, ok, err := lookup[paas.Domain](domains, []byte(d.Name))
		switch {
		case err != nil:
			return err
		case ok && cur.Owner == d.Owner:
			d = cur
			return nil
		case ok:
			return paas.Conflict("domain %q is already registered by another user", d.Name)
		}
		if !d.Verified {
			if claim, ok, err := lookup[paas.Domain](claims, key(d.Owner, d.Name)); err != nil || ok {
				d = claim
				return err
			}
		}
		n := count(tx.Bucket(bucketOwnDomains), prefix(d.Owner)) + count(claims, prefix(d.Owner))
		if n >= paas.MaxDomainsPerOwner {
			return paas.Conflict("you already have %d domains, the maximum", n)
		}
		d.Created = s.now()
		created = true
		if !d.Verified {
			return putJSON(claims, key(d.Owner, d.Name), d)
		}
		return s.putVerified(tx, d)
	})
	if err != nil {
		return paas.Domain{}, false, fmt.Errorf("create domain %s: %w", d.Name, err)
	}
	return d, created, nil
}

// putVerified stores d as the name's owner, and drops every claim of the
// name (the owner's own included).
func (s *Store) putVerified(tx *bolt.Tx, d paas.Domain) error {
	if err := checkOverlap(tx, d); err != nil {
		return err
	}
	claims := tx.Bucket(bucketClaims)
	var stale [][]byte
	if err := claims.ForEach(func(k, _ []byte) error {
		if _, name, ok := strings.Cut(string(k), "\x00"); ok && name == d.Name {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range stale {
		if err := claims.Delete(k); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketOwnDomains).Put(key(d.Owner, d.Name), []byte(d.UID)); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketDomains), []byte(d.Name), d)
}

// checkOverlap refuses a domain that is above or below another owner's.
func checkOverlap(tx *bolt.Tx, d paas.Domain) error {
	domains := tx.Bucket(bucketDomains)
	// Ancestors: walk up the labels.
	for n := d.Name; strings.Contains(n, "."); {
		_, n, _ = strings.Cut(n, ".")
		o, ok, err := lookup[paas.Domain](domains, []byte(n))
		if err != nil {
			return err
		}
		if ok && o.Owner != d.Owner {
			return paas.Conflict("domain %q is under %q, which another user registered", d.Name, n)
		}
	}
	// Descendants: a scan, as names are keyed left to right. Domain
	// creation is rare enough for it not to matter.
	suffix := []byte("." + d.Name)
	return domains.ForEach(func(k, v []byte) error {
		if !bytes.HasSuffix(k, suffix) {
			return nil
		}
		o, err := decode[paas.Domain](k, v)
		if err != nil {
			return err
		}
		if o.Owner != d.Owner {
			return paas.Conflict("domain %q contains %q, which another user registered", d.Name, o.Name)
		}
		return nil
	})
}

// ownedDomain returns the domain when owner has it; any other case is 404,
// so other users' domains cannot be told apart from free names.
func ownedDomain(tx *bolt.Tx, owner, name string) (paas.Domain, error) {
	ifMissing := notFound("domain %q not found", name)
	d, err := get[paas.Domain](tx.Bucket(bucketDomains), []byte(name), ifMissing)
	if err == nil && d.Owner != owner {
		return paas.Domain{}, ifMissing()
	}
	return d, err
}

// ownedOrClaimed is owner's domain, or owner's claim of it.
func ownedOrClaimed(tx *bolt.Tx, owner, name string) (paas.Domain, error) {
	d, err := ownedDomain(tx, owner, name)
	if paas.IsNotFound(err) {
		if claim, ok, cerr := lookup[paas.Domain](tx.Bucket(bucketClaims), key(owner, name)); cerr != nil || ok {
			return claim, cerr
		}
	}
	return d, err
}

// Domain returns owner's domain name, proven or claimed (404 when absent
// or someone else's).
func (s *Store) Domain(owner, name string) (paas.Domain, error) {
	return view(s, func(tx *bolt.Tx) (paas.Domain, error) { return ownedOrClaimed(tx, owner, name) })
}

// Domains returns owner's domains, proven and claimed, sorted by name.
func (s *Store) Domains(owner string) ([]paas.Domain, error) {
	out, err := view(s, func(tx *bolt.Tx) ([]paas.Domain, error) { return domainsOf(tx, owner) })
	if err != nil {
		return nil, fmt.Errorf("list domains of %s: %w", owner, err)
	}
	return out, nil
}

func domainsOf(tx *bolt.Tx, owner string) ([]paas.Domain, error) {
	p := prefix(owner)
	proven, err := follow[paas.Domain](tx.Bucket(bucketOwnDomains), p, tx.Bucket(bucketDomains), afterPrefix(p))
	if err != nil {
		return nil, err
	}
	claims, err := list[paas.Domain](tx.Bucket(bucketClaims), p)
	if err != nil {
		return nil, err
	}
	all := append(proven, claims...)
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// MarkDomainVerified turns owner's claim into the name's domain, provided
// it is still the claim (uid) whose proof was checked (a claim deleted and
// made again meanwhile has a new token) and nobody proved the name first.
// Every other claim of the name goes.
func (s *Store) MarkDomainVerified(owner, name, uid string) (paas.Domain, error) {
	var d paas.Domain
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedOrClaimed(tx, owner, name); err != nil {
			return err
		}
		if d.UID != uid {
			return paas.Conflict("domain %q changed while it was being verified; try again", name)
		}
		if d.Verified {
			return nil
		}
		if _, ok, err := lookup[paas.Domain](tx.Bucket(bucketDomains), []byte(name)); err != nil {
			return err
		} else if ok {
			return paas.Conflict("domain %q was proven by another owner first", name)
		}
		d.Verified = true
		return s.putVerified(tx, d)
	})
	if err != nil {
		return paas.Domain{}, fmt.Errorf("verify domain %s: %w", name, err)
	}
	return d, nil
}

// DeleteDomain removes owner's domain with all its records.
func (s *Store) DeleteDomain(owner, name string) (paas.Domain, error) {
	var d paas.Domain
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedOrClaimed(tx, owner, name); err != nil {
			return err
		}
		return deleteDomainTx(tx, d)
	})
	if err != nil {
		return paas.Domain{}, fmt.Errorf("delete domain %s: %w", name, err)
	}
	return d, nil
}

func deleteDomainTx(tx *bolt.Tx, d paas.Domain) error {
	if !d.Verified {
		return tx.Bucket(bucketClaims).Delete(key(d.Owner, d.Name))
	}
	// Its aliases go with it (never an app's own hostname: those are in
	// the platform zone).
	aliases, err := aliasesOf(tx, d.Owner, "")
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if a.Host == d.Name || strings.HasSuffix(a.Host, "."+d.Name) {
			if err := dropAlias(tx, a); err != nil {
				return err
			}
		}
	}
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
func (s *Store) CreateRecord(owner, domain string, rec paas.Record, check func(paas.Domain, []paas.Record) error) (paas.Record, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		d, err := ownedOrClaimed(tx, owner, domain)
		if err != nil {
			return err
		}
		if !d.Verified {
			return paas.Conflict("domain %q is not verified yet: publish its verification and register it again first", domain)
		}
		existing, err := recordsOf(tx, domain)
		if err != nil {
			return err
		}
		if len(existing) >= paas.MaxRecordsPerDomain {
			return paas.Conflict("domain %q already has %d records, the maximum", domain, len(existing))
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
		return paas.Record{}, fmt.Errorf("create record in %s: %w", domain, err)
	}
	return rec, nil
}

// Records returns the records of owner's domain, oldest first.
func (s *Store) Records(owner, domain string) ([]paas.Record, error) {
	var out []paas.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		d, err := ownedOrClaimed(tx, owner, domain)
		if err != nil || !d.Verified {
			return err // a claim has no records yet
		}
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
func (s *Store) DeleteRecord(owner, domain, id string) (paas.Domain, paas.Record, error) {
	var d paas.Domain
	var rec paas.Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = ownedDomain(tx, owner, domain); err != nil {
			return err
		}
		rec, err = take[paas.Record](tx.Bucket(bucketRecords), key(domain, id), notFound("record %q not found in %s", id, domain))
		return err
	})
	if err != nil {
		return paas.Domain{}, paas.Record{}, fmt.Errorf("delete record %s: %w", id, err)
	}
	return d, rec, nil
}

// recordsOf lists a domain's records, oldest first (ids are random).
func recordsOf(tx *bolt.Tx, domain string) ([]paas.Record, error) {
	out, err := list[paas.Record](tx.Bucket(bucketRecords), prefix(domain))
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

// ZoneSource is what the DNS view is built from, read in one transaction.
type ZoneSource struct {
	Subdomains []string                 // every app's subdomain and deployment's label, sorted
	Domains    []paas.Domain            // internal domains of existing owners
	Records    map[string][]paas.Record // domain name → records
}

// ZoneSerials reads everything zones are built from in one transaction,
// lets build turn it into zone contents (origin → canonical content hash),
// and returns the SOA serial of each origin: unchanged when its hash is
// the one last served, otherwise bumped and saved in the same transaction.
// Serials are derived from content rather than counted per change because
// the platform zone changes with apps, whose writes happen elsewhere.
func (s *Store) ZoneSerials(build func(ZoneSource) (map[string]string, error)) (map[string]uint32, error) {
	out := map[string]uint32{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var src ZoneSource
		src.Records = map[string][]paas.Record{}
		// The hosts index holds every app's subdomain, already sorted,
		// without decoding the apps themselves.
		if err := scanPrefix(tx.Bucket(bucketHosts), nil, func(k, v []byte) error {
			h, err := decode[HostTarget](k, v)
			if err == nil && (h.Kind == HostApp || h.Kind == HostDeployment) {
				src.Subdomains = append(src.Subdomains, string(k))
			}
			return err
		}); err != nil {
			return err
		}
		domains, err := list[paas.Domain](tx.Bucket(bucketDomains), nil)
		if err != nil {
			return err
		}
		for _, d := range domains {
			if d.IsExternal {
				continue
			}
			recs, err := recordsOf(tx, d.Name)
			if err != nil {
				return err
			}
			src.Domains = append(src.Domains, d)
			src.Records[d.Name] = recs
		}
		hashes, err := build(src)
		if err != nil {
			return err
		}
		serials := tx.Bucket(bucketZoneSerial)
		now := uint32(s.now().Unix())
		for origin, h := range hashes {
			zs, _, err := lookup[zoneSerial](serials, []byte(origin))
			if err != nil {
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

// DomainCovering returns the proven domain name falls in (name itself or
// its nearest registered ancestor) and that domain's records; ok is false
// when no proven domain covers name.
func (s *Store) DomainCovering(name string) (d paas.Domain, recs []paas.Record, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if d, ok, err = domainCovering(tx, name); err != nil || !ok {
			return err
		}
		recs, err = recordsOf(tx, d.Name)
		return err
	})
	if err != nil {
		return paas.Domain{}, nil, false, fmt.Errorf("domain covering %s: %w", name, err)
	}
	return d, recs, ok, nil
}

// domainCovering is the proven domain name falls in, if any.
func domainCovering(tx *bolt.Tx, name string) (paas.Domain, bool, error) {
	domains := tx.Bucket(bucketDomains)
	for n := name; n != ""; {
		found, has, err := lookup[paas.Domain](domains, []byte(n))
		if err != nil || has {
			return found, has, err
		}
		_, n, _ = strings.Cut(n, ".")
	}
	return paas.Domain{}, false, nil
}
