package paas_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func openTestStore(t *testing.T, dir string) *paas.Store {
	t.Helper()
	s, err := paas.OpenStore(dir)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenStoreTwiceIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTestStore(t, dir)
	done := make(chan error, 1)
	go func() {
		s, err := paas.OpenStore(dir)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, paas.ErrLocked) {
			t.Fatalf("second OpenStore: %v, want ErrLocked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second OpenStore hangs instead of failing with ErrLocked")
	}
}

func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := paas.OpenStore(dir)
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
	if s, err := paas.OpenStore(dir); err == nil {
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

func TestParseLogTime(t *testing.T) {
	now := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	def := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", def, false},
		{"  ", def, false},
		{"NOW", now, false},
		{"now", now, false},
		{"NOW-3YEARS", now.AddDate(-3, 0, 0), false},
		{"NOW-1YEAR", now.AddDate(-1, 0, 0), false},
		{"NOW-1DAY+2HOURS", now.AddDate(0, 0, -1).Add(2 * time.Hour), false},
		{"NOW-90MINUTES", now.Add(-90 * time.Minute), false},
		{"NOW-30SECONDS", now.Add(-30 * time.Second), false},
		{"NOW-500MILLISECONDS", now.Add(-500 * time.Millisecond), false},
		{"NOW-2WEEKS", now.AddDate(0, 0, -14), false},
		{"NOW-1MONTH", now.AddDate(0, -1, 0), false},
		{"NOW+1HOUR", now.Add(time.Hour), false},
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2024-01-02T03:04:05+02:00", time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC), false},
		{"2024-01-02T03:04:05.123Z", time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC), false},
		{"2024-01-02T03:04:05", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2024-01-02", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"1700000000000", time.UnixMilli(1700000000000).UTC(), false},
		{"garbage", time.Time{}, true},
		{"NOW-", time.Time{}, true},
		{"NOW-3", time.Time{}, true},
		{"NOW-3EONS", time.Time{}, true},
		{"NOWISH", time.Time{}, true},
		{"NOW-1DAY garbage", time.Time{}, true},
		{"NOW-99999999YEARS", time.Time{}, true},
		{"2024-13-45", time.Time{}, true},
		{"-5", time.Time{}, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := paas.ParseLogTime(c.in, now, def)
			if c.err {
				if err == nil {
					t.Fatalf("ParseLogTime(%q) = %v, want an error", c.in, got)
				}
				if status, _, _ := paas.ErrorStatus(err); status != http.StatusBadRequest {
					t.Errorf("error status %d, want 400", status)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLogTime(%q): %v", c.in, err)
			}
			if !got.Equal(c.want) {
				t.Errorf("ParseLogTime(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

const testPkg = `{"name":"app","scripts":{"start":"node server.js"}}`

func TestReadArchive(t *testing.T) {
	lim := paas.ArchiveLimits{MaxFiles: 4, MaxBytes: 1000}
	cases := []struct {
		name   string
		data   []byte
		paths  []string // on success
		status int      // on failure
	}{
		{"npm pack layout", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package/", Type: tar.TypeDir}, paastest.TarEntry{Name: "package/package.json", Body: testPkg},
			paastest.TarEntry{Name: "package/server.js", Body: "x"}, paastest.TarEntry{Name: "package/lib/a.js", Body: "a"}),
			[]string{"lib/a.js", "package.json", "server.js"}, 0},
		{"other top folder", paastest.TarGzEntries(t, paastest.TarEntry{Name: "myapp/package.json", Body: testPkg}, paastest.TarEntry{Name: "myapp/server.js", Body: "x"}),
			[]string{"package.json", "server.js"}, 0},
		{"flat layout", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "server.js", Body: "x"}),
			[]string{"package.json", "server.js"}, 0},
		{"flat layout with a folder", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "package/x.js", Body: "x"}),
			[]string{"package.json", "package/x.js"}, 0},
		{"dot slash", paastest.TarGzEntries(t, paastest.TarEntry{Name: "./package.json", Body: testPkg}, paastest.TarEntry{Name: "./server.js", Body: "x"}),
			[]string{"package.json", "server.js"}, 0},
		{"pax global header", paastest.TarGzEntries(t, paastest.TarEntry{Name: "pax_global_header", Type: tar.TypeXGlobalHeader}, paastest.TarEntry{Name: "package/package.json", Body: testPkg}),
			[]string{"package.json"}, 0},
		{"dot-dot", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "../evil", Body: "x"}), nil, 400},
		{"dot-dot after prefix", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package/package.json", Body: testPkg}, paastest.TarEntry{Name: "package/../../evil", Body: "x"}), nil, 400},
		{"dot-dot in the middle", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "a/../b", Body: "x"}), nil, 400},
		{"absolute", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "/etc/passwd", Body: "x"}), nil, 400},
		{"backslash", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: `a\..\..\b`, Body: "x"}), nil, 400},
		{"symlink", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "l", Type: tar.TypeSymlink, Link: "../../etc"}), nil, 400},
		{"hard link", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "l", Type: tar.TypeLink, Link: "package.json"}), nil, 400},
		{"char device", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "null", Type: tar.TypeChar}), nil, 400},
		{"duplicate", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "a.js", Body: "1"}, paastest.TarEntry{Name: "./a.js", Body: "2"}), nil, 400},
		{"not gzip", []byte("hello"), nil, 400},
		{"empty", nil, nil, 400},
		{"too many files", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "1", Body: "1"}, paastest.TarEntry{Name: "2", Body: "2"},
			paastest.TarEntry{Name: "3", Body: "3"}, paastest.TarEntry{Name: "4", Body: "4"}), nil, 413},
		{"too many bytes", paastest.TarGzEntries(t, paastest.TarEntry{Name: "package.json", Body: testPkg}, paastest.TarEntry{Name: "big", Body: strings.Repeat("b", 1000)}), nil, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files, err := paas.ReadArchive(bytes.NewReader(c.data), lim)
			if c.status != 0 {
				if err == nil {
					t.Fatalf("accepted: %v", files)
				}
				if status, _, _ := paas.ErrorStatus(err); status != c.status {
					t.Errorf("status %d, want %d (%v)", status, c.status, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadArchive: %v", err)
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.Path)
				sum := sha1.Sum(f.Data)
				if f.SHA1 != hex.EncodeToString(sum[:]) || f.Size != int64(len(f.Data)) {
					t.Errorf("%s: sha %s size %d do not match its data", f.Path, f.SHA1, f.Size)
				}
			}
			if fmt.Sprint(paths) != fmt.Sprint(c.paths) {
				t.Errorf("paths %v, want %v", paths, c.paths)
			}
		})
	}
}

// TestReadArchiveTruncated: an upload cut anywhere is refused, never taken
// for a smaller app.
func TestReadArchiveTruncated(t *testing.T) {
	data := paastest.TarGzEntries(t, paastest.TarEntry{Name: "package/package.json", Body: testPkg}, paastest.TarEntry{Name: "package/server.js", Body: strings.Repeat("s", 3000)},
		paastest.TarEntry{Name: "package/lib/x.js", Body: strings.Repeat("x", 3000)})
	for n := 0; n < len(data); n++ {
		if files, err := paas.ReadArchive(bytes.NewReader(data[:n]), paas.DefaultArchiveLimits); err == nil {
			t.Errorf("archive cut at %d of %d bytes accepted with %d files", n, len(data), len(files))
		}
	}
}

// TestReadArchiveCorrupted: a bit flipped anywhere in the compressed stream
// is refused or, when deflate cannot notice, the gzip checksum catches it;
// never is an app with other content accepted.
func TestReadArchiveCorrupted(t *testing.T) {
	data := paastest.TarGzEntries(t, paastest.TarEntry{Name: "package/package.json", Body: testPkg}, paastest.TarEntry{Name: "package/server.js", Body: strings.Repeat("s", 3000)},
		paastest.TarEntry{Name: "package/lib/x.js", Body: "console.log('hello world, a few words of text here');\n"})
	orig, err := paas.ReadArchive(bytes.NewReader(data), paas.DefaultArchiveLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < len(data); i++ { // after the gzip header, whose fields are advisory
		for bit := range 8 {
			d := append([]byte(nil), data...)
			d[i] ^= 1 << bit
			files, err := paas.ReadArchive(bytes.NewReader(d), paas.DefaultArchiveLimits)
			if err != nil {
				continue
			}
			same := len(files) == len(orig)
			for j := 0; same && j < len(files); j++ {
				same = files[j].Path == orig[j].Path && string(files[j].Data) == string(orig[j].Data)
			}
			if !same {
				t.Fatalf("flipping bit %d of byte %d gave an accepted archive with other content", bit, i)
			}
		}
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

func mustSnapshot(t *testing.T, s *paas.Store, id string) paas.Snapshot {
	t.Helper()
	sn, err := s.Snapshot("dev", "app", id)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestErrorStatus: wrapped sentinels keep their status; other errors are 500
// and never reach the client.
func TestErrorStatus(t *testing.T) {
	cases := []struct {
		err    error
		status int
		ok     bool
	}{
		{paas.NotFound("x"), 404, true},
		{fmt.Errorf("ctx: %w", paas.Conflict("x")), 409, true},
		{fmt.Errorf("ctx: %w", paas.ErrForbidden), 403, true},
		{fmt.Errorf("ctx: %w", paas.ErrTooLarge), 413, true},
		{paas.TooLarge("x"), 413, true},
		{errors.New("disk on fire"), 500, false},
	}
	for _, c := range cases {
		status, apiErr, ok := paas.ErrorStatus(c.err)
		if status != c.status || ok != c.ok || (ok && apiErr == nil) {
			t.Errorf("ErrorStatus(%v) = %d %v %v", c.err, status, apiErr, ok)
		}
	}
}
