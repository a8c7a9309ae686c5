package store_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// writeV1File writes a schema-1 data file as the previous release laid it
// out, bucket names spelled out so a renamed constant cannot hide a change:
// two owners with an app named "web" (allowed then), a subdomain index and
// one dangling subdomain entry left by a deleted app.
func writeV1File(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "paas.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(tx *bolt.Tx, bucket, k string, v any) {
		data, ok := v.([]byte)
		if !ok {
			if data, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Bucket([]byte(bucket)).Put([]byte(k), data); err != nil {
			t.Fatal(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"meta", "users", "emails", "tokens", "user_tokens", "thirdparty", "keys", "apps",
			"subdomains", "snapshots", "blobs", "blob_refs", "databases", "logs", "log_counts",
			"domains", "owner_domains", "dns_records", "dns_serials"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		put(tx, "meta", "schema_version", binary.BigEndian.AppendUint64(nil, 1))
		for _, u := range []string{"alice", "bob", "carol"} {
			put(tx, "users", u, paas.User{Name: u, Email: u + "@example.com"})
			put(tx, "emails", u+"@example.com", []byte(u))
		}
		for _, a := range []paas.App{
			{Owner: "alice", Name: "web", Subdomain: "web", State: paas.AppStopped},
			{Owner: "alice", Name: "api", Subdomain: "api", State: paas.AppStopped},
			{Owner: "bob", Name: "web", Subdomain: "web-bob", State: paas.AppStopped},
		} {
			put(tx, "apps", a.Owner+"\x00"+a.Name, a)
			put(tx, "subdomains", a.Subdomain, []byte(a.Owner+"\x00"+a.Name))
		}
		put(tx, "subdomains", "gone", []byte("alice\x00gone"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateV1(t *testing.T) {
	dir := t.TempDir()
	writeV1File(t, dir)
	s := openTestStore(t, dir) // the cleanup's Check covers the migrated indexes

	hosts := []struct {
		label string
		want  store.HostTarget
	}{
		{"web", store.HostTarget{Kind: store.HostApp, Owner: "alice", Name: "web"}},
		{"api", store.HostTarget{Kind: store.HostApp, Owner: "alice", Name: "api"}},
		{"web-bob", store.HostTarget{Kind: store.HostApp, Owner: "bob", Name: "web"}},
	}
	for _, c := range hosts {
		if h, err := s.Host(c.label); err != nil || h != c.want {
			t.Errorf("Host(%s) = %+v %v, want %+v", c.label, h, err, c.want)
		}
	}
	if _, err := s.Host("gone"); !paas.IsNotFound(err) {
		t.Errorf("the dangling subdomain was carried over: %v", err)
	}
	if a, err := s.AppBySubdomain("web-bob"); err != nil || a.Key() != "bob/web" {
		t.Errorf("AppBySubdomain(web-bob) = %s %v", a.Key(), err)
	}
	// The first owner in key order keeps a shared name; the other app stays
	// reachable by owner and name.
	if a, err := s.AppByName("web"); err != nil || a.Key() != "alice/web" {
		t.Errorf("AppByName(web) = %s %v, want alice/web", a.Key(), err)
	}
	if a, err := s.App("bob", "web"); err != nil || a.Key() != "bob/web" {
		t.Errorf("App(bob, web) = %s %v", a.Key(), err)
	}
	if a, err := s.AppByName("api"); err != nil || a.Key() != "alice/api" {
		t.Errorf("AppByName(api) = %s %v", a.Key(), err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "carol", Name: "web", Subdomain: "web-carol"}); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("a new app took a migrated name: %v", err)
	}
	// When alice's "web" goes, bob's takes the name rather than leaving it
	// free for a third owner.
	if _, err := s.DeleteApp("alice", "web"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.AppByName("web"); err != nil || a.Key() != "bob/web" {
		t.Errorf("AppByName(web) after alice's went = %s %v, want bob/web", a.Key(), err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "carol", Name: "web", Subdomain: "web-carol"}); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("a new app took a name still in use: %v", err)
	}

	err := store.BoltDB(s).View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("subdomains")) != nil {
			return errors.New("the subdomains bucket is still there")
		}
		for _, b := range []string{"teams", "team_members", "app_names", "hosts"} {
			if tx.Bucket([]byte(b)) == nil {
				return errors.New("no bucket " + b)
			}
		}
		if v := binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("schema_version"))); v != 2 {
			t.Errorf("schema version %d after migrating, want 2", v)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestInstancePrefix: a new installation gets a name of its own for its
// engine objects, kept across restarts; one upgraded from schema 1 keeps
// the shared name its running units carry.
func TestInstancePrefix(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.InstancePrefix()
	if err != nil || len(first) != len("paas-")+6 || first[:5] != "paas-" {
		t.Fatalf("new installation: %q, %v", first, err)
	}
	s.Close()
	s = openTestStore(t, dir)
	if again, err := s.InstancePrefix(); err != nil || again != first {
		t.Fatalf("after a restart: %q, %v; want %q", again, err, first)
	}
	other, _ := openTestStore(t, t.TempDir()).InstancePrefix()
	if other == first {
		t.Errorf("two installations share the prefix %q", first)
	}

	old := t.TempDir()
	writeV1File(t, old)
	if p, err := openTestStore(t, old).InstancePrefix(); err != nil || p != "paas" {
		t.Fatalf("upgraded installation: %q, %v; want paas", p, err)
	}
}
