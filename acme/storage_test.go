package acme_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas/store"
)

func newStorage(t *testing.T, ttl time.Duration) (*acme.Storage, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	s := acme.NewStorage(st, "proc-1", ttl)
	t.Cleanup(func() { s.Close() })
	return s, st, dir
}

// TestStorageContract runs certmagic's Storage expectations (its doc
// comment) over the real store.
func TestStorageContract(t *testing.T) {
	s, _, _ := newStorage(t, 0)
	ctx := context.Background()
	for _, k := range []string{"a/b/c", "a/b/d", "a/e", "ab/c", "x"} {
		if err := s.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Load(ctx, "a/b/c"); err != nil || string(v) != "value of a/b/c" {
		t.Fatalf("Load: %q %v", v, err)
	}
	if _, err := s.Load(ctx, "a/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	lists := []struct {
		path      string
		recursive bool
		want      []string
	}{
		{"a", false, []string{"a/b", "a/e"}},
		{"a", true, []string{"a/b/c", "a/b/d", "a/e"}},
		{"a/b", false, []string{"a/b/c", "a/b/d"}},
		{"", false, []string{"a", "ab", "x"}},
	}
	for _, l := range lists {
		got, err := s.List(ctx, l.path, l.recursive)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, l.want) {
			t.Errorf("List(%q, %t) = %v, %v; want %v", l.path, l.recursive, got, err, l.want)
		}
	}
	if _, err := s.List(ctx, "nope", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing path: %v", err)
	}
	for k, want := range map[string]bool{"a": true, "a/b": true, "a/b/c": true, "ab": true, "a/b/c/d": false, "b": false} {
		if got := s.Exists(ctx, k); got != want {
			t.Errorf("Exists(%q) = %t, want %t", k, got, want)
		}
	}
	if info, err := s.Stat(ctx, "a/e"); err != nil || !info.IsTerminal || info.Size != int64(len("value of a/e")) || info.Modified.IsZero() {
		t.Errorf("Stat of a file: %+v, %v", info, err)
	}
	if info, err := s.Stat(ctx, "a/b"); err != nil || info.IsTerminal {
		t.Errorf("Stat of a directory: %+v, %v", info, err)
	}
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v", err)
	}
	// Delete of a directory takes what is under it, by components: "ab" stays.
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "a/b/c") || s.Exists(ctx, "a") || !s.Exists(ctx, "ab/c") {
		t.Error("Delete of a directory removed the wrong keys")
	}
	if err := s.Delete(ctx, "never-was"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if err := s.Store(ctx, "/bad/", []byte("x")); err == nil {
		t.Error("a key with slashes at its ends was stored")
	}
}

// TestStorageSealsValues: values, private keys among them, are not in the
// data file in clear.
func TestStorageSealsValues(t *testing.T) {
	s, st, dir := newStorage(t, 0)
	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIdistinctivebytes\n-----END EC PRIVATE KEY-----")
	if err := s.Store(context.Background(), "certificates/ca/example.org/example.org.key", secret); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := st.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "paas.db"))
	if bytes.Contains(backup.Bytes(), []byte("distinctivebytes")) || bytes.Contains(raw, []byte("distinctivebytes")) {
		t.Fatal("a private key is in the data file in clear")
	}
}

// TestStorageLocks: a lock excludes another holder until released; a lock
// whose holder died (no more renewals) expires; a live holder's lock does
// not, however long it holds it.
func TestStorageLocks(t *testing.T) {
	const ttl = 300 * time.Millisecond
	a, st, _ := newStorage(t, ttl)
	b := acme.NewStorage(st, "proc-2", ttl)
	defer b.Close()
	ctx := context.Background()
	if err := a.Lock(ctx, "issue"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*ttl)
	defer cancel()
	if err := b.Lock(short, "issue"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second holder got a live lock (held %s past its TTL): %v", 3*ttl, err)
	}
	if err := a.Unlock(ctx, "issue"); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx, "issue"); err != nil {
		t.Fatal(err)
	}
	// b dies holding it: its renewals stop; a new process gets it after the TTL.
	b.Close()
	c := acme.NewStorage(st, "proc-3", ttl)
	defer c.Close()
	start := time.Now()
	waitCtx, cancelWait := context.WithTimeout(ctx, 10*ttl)
	defer cancelWait()
	if err := c.Lock(waitCtx, "issue"); err != nil {
		t.Fatalf("a dead holder's lock never expired: %v", err)
	}
	if waited := time.Since(start); waited > 5*ttl {
		t.Errorf("waited %s for a stale lock (TTL %s)", waited, ttl)
	}
	if err := c.Unlock(ctx, "issue"); err != nil {
		t.Fatal(err)
	}
}
