package store_test

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// populatedStore fills a store, through its methods, with one of every
// indexed thing. It is not opened with openTestStore: the tests below break
// it on purpose.
func populatedStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"alice", "bob"} {
		must(s.CreateUser(paas.User{Name: n, Email: n + "@example.com"}))
	}
	_, err = s.CreateTeam(paas.Team{Name: "ops", Members: []paas.Member{{User: "alice", Role: paas.RoleOwner}}})
	must(err)
	_, _, err = s.CreateToken("alice", "tok", false)
	must(err)
	_, err = s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web"})
	must(err)
	_, err = s.CreateApp(paas.App{Owner: "ops", Name: "tool", Subdomain: "tool"})
	must(err)
	content := []byte("console.log(1)")
	sum := sha1.Sum(content)
	sha := hex.EncodeToString(sum[:])
	_, err = s.CreateSnapshot(paas.Snapshot{Owner: "alice", App: "web", ID: "1"},
		[]paas.ArchiveFile{{File: paas.File{Path: "a.js", SHA1: sha, Size: int64(len(content))}, Data: content}})
	must(err)
	must(s.AppendLogs("alice/web", []paas.LogEntry{{Time: time.Now(), Text: "hello"}}))
	_, _, err = s.CreateDomain(paas.Domain{UID: "dom_1", Name: "example.test", Owner: "alice", Verified: true})
	must(err)
	_, err = s.CreateRecord("alice", "example.test", paas.Record{ID: "rec_1", Type: "A", Value: "192.0.2.1"}, nil)
	must(err)
	_, err = s.CreateDatabase(paas.Database{Owner: "ops", Name: "db", Type: "redis"})
	must(err)
	if err := s.Check(); err != nil {
		t.Fatalf("Check of a store written only through its methods:\n%v", err)
	}
	return s, sha
}

func TestCheckFindsBrokenIndexes(t *testing.T) {
	put := func(bucket, k string, v []byte) func(*bolt.Tx, string) error {
		return func(tx *bolt.Tx, _ string) error { return tx.Bucket([]byte(bucket)).Put([]byte(k), v) }
	}
	del := func(bucket, k string) func(*bolt.Tx, string) error {
		return func(tx *bolt.Tx, _ string) error { return tx.Bucket([]byte(bucket)).Delete([]byte(k)) }
	}
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	cases := []struct {
		name    string
		corrupt func(tx *bolt.Tx, sha string) error
		want    string
	}{
		{"email not indexed", del("emails", "bob@example.com"), `user "bob": email "bob@example.com" is not indexed`},
		{"email of nobody", put("emails", "zed@example.com", []byte("zed")), `emails: "zed@example.com" names the missing user "zed"`},
		{"token not indexed", del("user_tokens", "alice\x00tok"), `token tok of alice: not indexed in user_tokens`},
		{"token index dangling", put("user_tokens", "alice\x00old", []byte("feed")), `user_tokens: "feed" names no token old of alice`},
		{"host of a missing app", put("hosts", "ghost", []byte(`{"kind":"app","owner":"alice","name":"ghost"}`)), `hosts: "ghost" points at the missing app alice/ghost`},
		{"host of an unknown kind", put("hosts", "redirect", []byte(`{"kind":"redirect","owner":"alice","name":"x"}`)), `hosts: "redirect" has the unknown kind "redirect"`},
		{"host of a missing alias", put("hosts", "alias", []byte(`{"kind":"alias","owner":"alice","name":"x"}`)), `hosts: "alias" points at the missing alias x`},
		{"host of a missing deployment", put("hosts", "dep", []byte(`{"kind":"deployment","owner":"alice","name":"x"}`)), `hosts: "dep" points at the missing deployment x`},
		{"app without host", del("hosts", "web"), `app alice/web: subdomain "web" is not indexed to the app in hosts`},
		{"app without name", del("app_names", "tool"), `app ops/tool: name "tool" is not in app_names`},
		{"name of a missing app", put("app_names", "ghost", []byte("alice")), `app_names: "ghost" names the missing app alice/ghost`},
		{"member not indexed", del("team_members", "alice\x00ops"), `team ops: member alice (owner) is not indexed in team_members`},
		{"index names a non-member", put("team_members", "bob\x00ops", []byte("member")), `team_members: bob is "member" in team ops, the team says ""`},
		{"user and team share a name", put("teams", "bob", []byte(`{"name":"bob"}`)), `owner "bob" is both a user and a team`},
		{"domain not indexed", del("owner_domains", "alice\x00example.test"), `domain example.test: not indexed to alice in owner_domains`},
		{"record of a missing domain", put("dns_records", "gone.test\x00rec_2", []byte(`{"id":"rec_2"}`)), `dns_records: rec_2 belongs to the missing domain "gone.test"`},
		{"blob count off", func(tx *bolt.Tx, sha string) error { return tx.Bucket([]byte("blob_refs")).Put([]byte(sha), u64(5)) },
			`counts 5 references, snapshots make 1`},
		{"blob missing", func(tx *bolt.Tx, sha string) error { return tx.Bucket([]byte("blobs")).Delete([]byte(sha)) },
			`referenced by snapshots, missing from blobs`},
		{"unreferenced blob", put("blobs", "deadbeef", []byte("x")), `blobs: deadbeef is referenced by no snapshot`},
		{"app of a missing owner", put("apps", "zed\x00x", []byte(`{"owner":"zed","name":"x","subdomain":"x"}`)), `app zed/x: owner "zed" does not exist`},
		{"database of a missing owner", put("databases", "zed\x00db", []byte(`{"owner":"zed","name":"db"}`)), `database zed/db: owner "zed" does not exist`},
		{"logs of a missing app", func(tx *bolt.Tx, _ string) error {
			_, err := tx.Bucket([]byte("logs")).CreateBucket([]byte("zed/x"))
			return err
		}, `logs: "zed/x" is not an existing app`},
		{"log count off", put("log_counts", "alice/web", u64(99)), `log_counts: "alice/web" counts 99 lines, its log holds 1`},
		{"undecodable team", put("teams", "broken", []byte("{")), `teams: decode paas.Team "broken"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, sha := populatedStore(t)
			if err := store.BoltDB(s).Update(func(tx *bolt.Tx) error { return c.corrupt(tx, sha) }); err != nil {
				t.Fatal(err)
			}
			err := s.Check()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check after %s:\n%v\nwant a problem containing %q", c.name, err, c.want)
			}
		})
	}
}

// TestCheckReportsEveryProblem: problems are joined, not just the first.
func TestCheckReportsEveryProblem(t *testing.T) {
	s, _ := populatedStore(t)
	err := store.BoltDB(s).Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("emails")).Delete([]byte("bob@example.com")); err != nil {
			return err
		}
		return tx.Bucket([]byte("app_names")).Delete([]byte("web"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check()
	for _, want := range []string{`user "bob": email`, `app alice/web: name "web"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v\nwant a problem containing %q", err, want)
		}
	}
}
