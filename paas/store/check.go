package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// Check verifies the file: bbolt's own page check, then every index against
// the objects it indexes, both ways, and every reference from one object to
// another (owners, a record's domain, a snapshot's app and blobs, an app's
// logs). It returns every problem found, joined, or nil. It reads in one
// transaction, so writers are not blocked, and opens no sealed value, so it
// works on a file whose secret key is lost.
func (s *Store) Check() error {
	var problems []error
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, fmt.Errorf("bbolt: %w", err))
		}
		c := &checker{tx: tx}
		c.users = load[paas.User](c, bucketUsers)
		c.teams = load[paas.Team](c, bucketTeams)
		c.apps = load[paas.App](c, bucketApps)
		c.domains = load[paas.Domain](c, bucketDomains)
		c.owners()
		c.emails()
		c.tokens()
		c.teamMembers()
		c.appIndexes()
		c.logs()
		c.domainIndexes()
		c.blobs()
		problems = append(problems, c.problems...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return errors.Join(problems...)
}

// checker holds the objects every check compares against, decoded once.
// Maps are keyed by the objects' bucket keys and walked in key order, so
// the same file always gives the same report.
type checker struct {
	tx       *bolt.Tx
	problems []error
	users    map[string]paas.User
	teams    map[string]paas.Team
	apps     map[string]paas.App // owner\x00name
	domains  map[string]paas.Domain
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf(format, args...))
}

// each calls fn for every key of a bucket, in key order.
func (c *checker) each(bucket []byte, fn func(k, v []byte)) {
	_ = c.tx.Bucket(bucket).ForEach(func(k, v []byte) error { fn(k, v); return nil }) // fn never fails
}

// load decodes a whole bucket; an undecodable object is reported and left out.
func load[T any](c *checker, bucket []byte) map[string]T {
	out := map[string]T{}
	c.each(bucket, func(k, v []byte) {
		x, err := decode[T](k, v)
		if err != nil {
			c.addf("%s: %w", bucket, err)
			return
		}
		out[string(k)] = x
	})
	return out
}

func sorted[T any](m map[string]T) []string { return slices.Sorted(maps.Keys(m)) }

// split cuts a key into its parts; a key of another number of parts is
// reported and gives nil.
func (c *checker) split(bucket, k []byte, n int) []string {
	parts := strings.Split(string(k), "\x00")
	if len(parts) != n {
		c.addf("%s: key %q has %d parts, want %d", bucket, k, len(parts), n)
		return nil
	}
	return parts
}

func (c *checker) counter(bucket, k, v []byte) (uint64, bool) {
	if len(v) != 8 {
		c.addf("%s: %q holds %d bytes, not a count", bucket, k, len(v))
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func has[T any](m map[string]T, k string) bool { _, ok := m[k]; return ok }

func (c *checker) isOwner(name string) bool { return has(c.users, name) || has(c.teams, name) }

// owners: each object is stored under its own name, user and team names do
// not collide, and every owned object's owner exists.
func (c *checker) owners() {
	for _, k := range sorted(c.users) {
		if u := c.users[k]; u.Name != k {
			c.addf("users: %q holds the user %q", k, u.Name)
		}
		if _, ok := c.teams[k]; ok {
			c.addf("owner %q is both a user and a team", k)
		}
	}
	for _, k := range sorted(c.teams) {
		if t := c.teams[k]; t.Name != k {
			c.addf("teams: %q holds the team %q", k, t.Name)
		}
	}
	for _, k := range sorted(c.apps) {
		a := c.apps[k]
		if joinKey(a.Owner, a.Name) != k {
			c.addf("apps: %q holds the app %s", k, a.Key())
		}
		if !c.isOwner(a.Owner) {
			c.addf("app %s: owner %q does not exist", a.Key(), a.Owner)
		}
	}
	dbs := load[paas.Database](c, bucketDatabases)
	for _, k := range sorted(dbs) {
		d := dbs[k]
		if joinKey(d.Owner, d.Name) != k {
			c.addf("databases: %q holds the database %s/%s", k, d.Owner, d.Name)
		}
		if !c.isOwner(d.Owner) {
			c.addf("database %s/%s: owner %q does not exist", d.Owner, d.Name, d.Owner)
		}
	}
	for _, k := range sorted(c.domains) {
		d := c.domains[k]
		if d.Name != k {
			c.addf("domains: %q holds the domain %q", k, d.Name)
		}
		if !c.isOwner(d.Owner) {
			c.addf("domain %s: owner %q does not exist", d.Name, d.Owner)
		}
	}
}

// emails ↔ users.
func (c *checker) emails() {
	c.each(bucketEmails, func(k, v []byte) {
		u, ok := c.users[string(v)]
		switch {
		case !ok:
			c.addf("emails: %q names the missing user %q", k, v)
		case strings.ToLower(u.Email) != string(k):
			c.addf("emails: %q names the user %q, whose email is %q", k, v, u.Email)
		}
	})
	emails := c.tx.Bucket(bucketEmails)
	for _, name := range sorted(c.users) {
		email := strings.ToLower(c.users[name].Email)
		if string(emails.Get([]byte(email))) != name {
			c.addf("user %q: email %q is not indexed to the user in emails", name, email)
		}
	}
}

// tokens ↔ user_tokens, and the per-user buckets belong to existing users.
func (c *checker) tokens() {
	tokens := load[paas.Token](c, bucketTokens)
	c.each(bucketUserTokens, func(k, hash []byte) {
		p := c.split(bucketUserTokens, k, 2)
		if p == nil {
			return
		}
		t, ok := tokens[string(hash)]
		if !ok || t.User != p[0] || t.ID != p[1] {
			c.addf("user_tokens: %q names no token %s of %s", hash, p[1], p[0])
		}
	})
	userTokens := c.tx.Bucket(bucketUserTokens)
	for _, hash := range sorted(tokens) {
		t := tokens[hash]
		if string(userTokens.Get(key(t.User, t.ID))) != hash {
			c.addf("token %s of %s: not indexed in user_tokens", t.ID, t.User)
		}
	}
	for _, b := range [][]byte{bucketUserTokens, bucketThirdParty, bucketKeys} {
		c.each(b, func(k, _ []byte) {
			if p := c.split(b, k, 2); p != nil && !has(c.users, p[0]) {
				c.addf("%s: %q belongs to the missing user %q", b, k, p[0])
			}
		})
	}
}

// team_members ↔ teams' members; members are existing users.
func (c *checker) teamMembers() {
	c.each(bucketTeamMembers, func(k, role []byte) {
		p := c.split(bucketTeamMembers, k, 2)
		if p == nil {
			return
		}
		t, ok := c.teams[p[1]]
		switch {
		case !ok:
			c.addf("team_members: %s is in the missing team %q", p[0], p[1])
		case t.Role(p[0]) != paas.Role(role):
			c.addf("team_members: %s is %q in team %s, the team says %q", p[0], role, p[1], t.Role(p[0]))
		}
	})
	idx := c.tx.Bucket(bucketTeamMembers)
	for _, name := range sorted(c.teams) {
		for _, m := range c.teams[name].Members {
			if paas.Role(idx.Get(key(m.User, name))) != m.Role {
				c.addf("team %s: member %s (%s) is not indexed in team_members", name, m.User, m.Role)
			}
			if _, ok := c.users[m.User]; !ok {
				c.addf("team %s: member %q does not exist", name, m.User)
			}
		}
	}
}

// hosts ↔ apps' subdomains and app_names ↔ apps.
func (c *checker) appIndexes() {
	c.each(bucketHosts, func(label, v []byte) {
		h, err := decode[HostTarget](label, v)
		if err != nil {
			c.addf("hosts: %w", err)
			return
		}
		if h.Kind == HostDeployment {
			d, ok, err := lookup[paas.Deployment](c.tx.Bucket(bucketDeployments), []byte(h.Name))
			switch {
			case err != nil:
				c.addf("hosts: %q: %w", label, err)
			case !ok:
				c.addf("hosts: %q points at the missing deployment %s", label, h.Name)
			case d.Label != string(label):
				c.addf("hosts: %q points at the deployment %s, whose label is %q", label, d.UID, d.Label)
			}
			return
		}
		if h.Kind == HostAlias {
			al, ok, err := lookup[paas.Alias](c.tx.Bucket(bucketAliases), []byte(h.Name))
			switch {
			case err != nil:
				c.addf("hosts: %q: %w", label, err)
			case !ok:
				c.addf("hosts: %q points at the missing alias %s", label, h.Name)
			case al.Label != string(label):
				c.addf("hosts: %q points at the alias %s, whose label is %q", label, al.UID, al.Label)
			}
			return
		}
		if h.Kind != HostApp {
			c.addf("hosts: %q has the unknown kind %q", label, h.Kind)
			return
		}
		a, ok := c.apps[joinKey(h.Owner, h.Name)]
		switch {
		case !ok:
			c.addf("hosts: %q points at the missing app %s/%s", label, h.Owner, h.Name)
		case a.Subdomain != string(label):
			c.addf("hosts: %q points at the app %s, whose subdomain is %q", label, a.Key(), a.Subdomain)
		}
	})
	c.each(bucketAppNames, func(name, owner []byte) {
		if _, ok := c.apps[joinKey(string(owner), string(name))]; !ok {
			c.addf("app_names: %q names the missing app %s/%s", name, owner, name)
		}
	})
	hosts, names := c.tx.Bucket(bucketHosts), c.tx.Bucket(bucketAppNames)
	for _, k := range sorted(c.apps) {
		a := c.apps[k]
		// An undecodable entry was reported with the hosts above.
		if h, ok, _ := lookup[HostTarget](hosts, []byte(a.Subdomain)); !ok || h != appHost(a.Owner, a.Name) {
			c.addf("app %s: subdomain %q is not indexed to the app in hosts", a.Key(), a.Subdomain)
		}
		// Another owner holding the name is a schema-1 duplicate, which
		// the migration leaves unindexed on purpose.
		if names.Get([]byte(a.Name)) == nil {
			c.addf("app %s: name %q is not in app_names", a.Key(), a.Name)
		}
	}
}

// logs and log_counts belong to existing apps and agree on line counts.
func (c *checker) logs() {
	apps := map[string]bool{}
	for _, a := range c.apps {
		apps[a.Key()] = true
	}
	logs := c.tx.Bucket(bucketLogs)
	lines := map[string]int{}
	c.each(bucketLogs, func(k, v []byte) {
		if v != nil {
			c.addf("logs: %q is a value, not an app's log bucket", k)
			return
		}
		lines[string(k)] = logs.Bucket(k).Stats().KeyN
		if !apps[string(k)] {
			c.addf("logs: %q is not an existing app", k)
		}
	})
	counts := c.tx.Bucket(bucketLogCounts)
	c.each(bucketLogCounts, func(k, v []byte) {
		if !apps[string(k)] {
			c.addf("log_counts: %q is not an existing app", k)
		}
		if n, ok := c.counter(bucketLogCounts, k, v); ok && n != uint64(lines[string(k)]) {
			c.addf("log_counts: %q counts %d lines, its log holds %d", k, n, lines[string(k)])
		}
	})
	for _, k := range sorted(lines) {
		if counts.Get([]byte(k)) == nil {
			c.addf("logs: %q has no line count in log_counts", k)
		}
	}
}

// owner_domains ↔ domains; records belong to existing domains.
func (c *checker) domainIndexes() {
	c.each(bucketOwnDomains, func(k, uid []byte) {
		p := c.split(bucketOwnDomains, k, 2)
		if p == nil {
			return
		}
		if d, ok := c.domains[p[1]]; !ok || d.Owner != p[0] || d.UID != string(uid) {
			c.addf("owner_domains: %q (uid %s) matches no domain of that owner and uid", k, uid)
		}
	})
	idx := c.tx.Bucket(bucketOwnDomains)
	for _, name := range sorted(c.domains) {
		d := c.domains[name]
		if string(idx.Get(key(d.Owner, d.Name))) != d.UID {
			c.addf("domain %s: not indexed to %s in owner_domains", d.Name, d.Owner)
		}
	}
	c.each(bucketRecords, func(k, _ []byte) {
		if p := c.split(bucketRecords, k, 2); p != nil && !has(c.domains, p[0]) {
			c.addf("dns_records: %s belongs to the missing domain %q", p[1], p[0])
		}
	})
	// Claims: unproven, of an existing owner, of a name nobody proved.
	c.each(bucketClaims, func(k, v []byte) {
		p := c.split(bucketClaims, k, 2)
		if p == nil {
			return
		}
		d, err := decode[paas.Domain](k, v)
		if err != nil {
			c.addf("domain_claims: %v", err)
			return
		}
		switch {
		case d.Owner != p[0] || d.Name != p[1]:
			c.addf("domain_claims: %q holds the claim of %s by %s", k, d.Name, d.Owner)
		case d.Verified:
			c.addf("domain_claims: %q is marked verified", k)
		case !c.isOwner(d.Owner):
			c.addf("domain claim %s: owner %q does not exist", d.Name, d.Owner)
		case has(c.domains, d.Name):
			c.addf("domain claim %s by %s: the name is proven already", d.Name, d.Owner)
		}
	})
}

// Snapshots belong to existing apps; blob_refs counts the snapshot files
// naming each blob, and every named blob is stored.
func (c *checker) blobs() {
	refs := map[string]uint64{}
	c.each(bucketSnapshots, func(k, v []byte) {
		sn, err := decode[paas.Snapshot](k, v)
		if err != nil {
			c.addf("snapshots: %w", err)
			return
		}
		if joinKey(sn.Owner, sn.App, sn.ID) != string(k) {
			c.addf("snapshots: %q holds the snapshot %s of %s/%s", k, sn.ID, sn.Owner, sn.App)
		}
		if _, ok := c.apps[joinKey(sn.Owner, sn.App)]; !ok {
			c.addf("snapshot %s: the app %s/%s does not exist", sn.ID, sn.Owner, sn.App)
		}
		for _, f := range sn.Blobs() {
			refs[f.SHA1]++
		}
	})
	blobs, counts := c.tx.Bucket(bucketBlobs), c.tx.Bucket(bucketBlobRefs)
	c.each(bucketBlobRefs, func(k, v []byte) {
		if n, ok := c.counter(bucketBlobRefs, k, v); ok && n != refs[string(k)] {
			c.addf("blob_refs: %s counts %d references, snapshots make %d", k, n, refs[string(k)])
		}
	})
	for _, sha := range sorted(refs) {
		if counts.Get([]byte(sha)) == nil {
			c.addf("blob %s: %d references, no count in blob_refs", sha, refs[sha])
		}
		if blobs.Get([]byte(sha)) == nil {
			c.addf("blob %s: referenced by snapshots, missing from blobs", sha)
		}
	}
	c.each(bucketBlobs, func(k, _ []byte) {
		if refs[string(k)] == 0 {
			c.addf("blobs: %s is referenced by no snapshot", k)
		}
	})
}
