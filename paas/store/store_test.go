package store_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

func openTestStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("the store is inconsistent after the test:\n%v", err)
		}
		s.Close()
	})
	return s
}

func TestOpenStoreTwiceIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTestStore(t, dir)
	done := make(chan error, 1)
	go func() {
		s, err := store.Open(dir)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("second OpenStore: %v, want ErrLocked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second OpenStore hangs instead of failing with ErrLocked")
	}
}

func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, "paas.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var version uint64
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if meta == nil {
			return errors.New("no meta bucket")
		}
		v := meta.Get([]byte("schema_version"))
		if len(v) != 8 {
			return fmt.Errorf("schema_version = %x", v)
		}
		version = binary.BigEndian.Uint64(v)
		// Pretend a newer binary wrote the file.
		return meta.Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, version+1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if version < 1 {
		t.Errorf("schema version %d", version)
	}
	// Reopening a file of the same version works; a newer one is refused.
	if s, err := store.Open(dir); err == nil {
		s.Close()
		t.Errorf("a store with a newer schema version was opened")
	}
}

func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	for _, n := range []string{"alice", "bob"} {
		if err := s.CreateUser(paas.User{Name: n, Email: n + "@example.com", Confirmed: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutThirdParty("alice", paas.ThirdPartyToken{ID: "gh", Provider: "github", Token: "sealed-secret"}); err != nil {
		t.Fatal(err)
	}

	// Back up while the store is open, then keep writing.
	restoreDir := t.TempDir()
	n, err := s.BackupFile(filepath.Join(restoreDir, "paas.db"))
	if err != nil || n == 0 {
		t.Fatalf("BackupFile: %d %v", n, err)
	}
	if err := s.CreateUser(paas.User{Name: "carol", Email: "carol@example.com"}); err != nil {
		t.Fatalf("the store is unusable after a backup: %v", err)
	}
	var buf bytes.Buffer
	if n, err := s.Backup(&buf); err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d %v (%d bytes)", n, err, buf.Len())
	}
	key, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restoreDir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := openTestStore(t, restoreDir)
	users, err := restored.Users()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if fmt.Sprint(names) != "[alice bob]" {
		t.Errorf("restored users %v, want [alice bob]", names)
	}
	tps, err := restored.ThirdParty("alice")
	if err != nil || len(tps) != 1 || tps[0].Token != "sealed-secret" {
		t.Errorf("restored third-party tokens %v %v", tps, err)
	}

	// The streamed backup is a complete database too.
	dir3 := t.TempDir()
	os.WriteFile(filepath.Join(dir3, "paas.db"), buf.Bytes(), 0o600)
	os.WriteFile(filepath.Join(dir3, "secret.key"), key, 0o600)
	if users, err := openTestStore(t, dir3).Users(); err != nil || len(users) != 3 {
		t.Errorf("streamed backup users %d %v", len(users), err)
	}

	// Without the key, sealed values cannot be read (but the store opens).
	dir4 := t.TempDir()
	os.WriteFile(filepath.Join(dir4, "paas.db"), buf.Bytes(), 0o600)
	if _, err := openTestStore(t, dir4).ThirdParty("alice"); err == nil {
		t.Errorf("sealed values readable with another key")
	}
}

func TestBlobRefcounting(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	if err := s.CreateUser(paas.User{Name: "dev", Email: "dev@example.com", Confirmed: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(paas.App{Owner: "dev", Name: "app", Subdomain: "app", State: paas.AppStopped}); err != nil {
		t.Fatal(err)
	}
	file := func(path, content string) paas.ArchiveFile {
		sum := sha1.Sum([]byte(content))
		return paas.ArchiveFile{File: paas.File{Path: path, SHA1: hex.EncodeToString(sum[:]), Size: int64(len(content)), Mode: 0o644}, Data: []byte(content)}
	}
	shared := file("lib/shared.js", "shared content")
	only1 := file("one.js", "only in one")
	only2 := file("two.js", "only in two")
	sameTwice := file("copy/shared.js", "shared content") // same content under another path
	mk := func(id string, files ...paas.ArchiveFile) {
		t.Helper()
		if _, err := s.CreateSnapshot(paas.Snapshot{Owner: "dev", App: "app", ID: id, Filename: "app-" + id + ".tgz"}, files); err != nil {
			t.Fatalf("CreateSnapshot %s: %v", id, err)
		}
	}
	has := func(f paas.ArchiveFile) bool {
		t.Helper()
		data, err := s.Blob(f.SHA1)
		if paas.IsNotFound(err) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != string(f.Data) {
			t.Fatalf("blob %s has %q", f.SHA1, data)
		}
		return true
	}
	mk("1", shared, only1)
	mk("2", shared, only2, sameTwice)
	if _, err := s.CreateSnapshot(paas.Snapshot{Owner: "dev", App: "app", ID: "1"}, []paas.ArchiveFile{file("z", "zzz")}); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("duplicate snapshot: %v", err)
	}
	if has(file("z", "zzz")) {
		t.Errorf("the refused snapshot's file was stored")
	}
	fsys, err := s.SnapshotFS(mustSnapshot(t, s, "2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []paas.ArchiveFile{shared, only2, sameTwice} {
		if data, err := fs.ReadFile(fsys, f.Path); err != nil || string(data) != string(f.Data) {
			t.Errorf("snapshot 2 file %s = %q %v", f.Path, data, err)
		}
	}

	if err := s.DeleteSnapshot("dev", "app", "1"); err != nil {
		t.Fatal(err)
	}
	if !has(shared) || !has(only2) || has(only1) {
		t.Errorf("after deleting 1: shared %v only2 %v only1 %v", has(shared), has(only2), has(only1))
	}
	// The active snapshot is protected.
	if _, err := s.UpdateApp("dev", "app", func(a *paas.App) error { a.Snapshot = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot("dev", "app", "2"); !errors.Is(err, paas.ErrConflict) {
		t.Errorf("deleting the active snapshot: %v", err)
	}
	if _, err := s.UpdateApp("dev", "app", func(a *paas.App) error { a.Snapshot = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot("dev", "app", "2"); err != nil {
		t.Fatal(err)
	}
	if has(shared) || has(only2) {
		t.Errorf("blobs left after deleting both snapshots")
	}
	if err := s.DeleteSnapshot("dev", "app", "2"); !paas.IsNotFound(err) {
		t.Errorf("deleting a deleted snapshot: %v", err)
	}
	// Deleting an app releases its snapshots' files too.
	mk("3", shared)
	if _, err := s.DeleteApp("dev", "app"); err != nil {
		t.Fatal(err)
	}
	if has(shared) {
		t.Errorf("blob left after deleting the app")
	}
}

func mustSnapshot(t *testing.T, s *store.Store, id string) paas.Snapshot {
	t.Helper()
	sn, err := s.Snapshot("dev", "app", id)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}
