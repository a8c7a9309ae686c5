// Package paastest holds helpers shared by the platform's tests.
package paastest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
)

// TarEntry is one member of a test archive. Type 0 is a regular file; Mode 0
// is 0644 (0755 for directories).
type TarEntry struct {
	Name string
	Body string
	Type byte
	Link string
	Mode int64
}

// TarGzEntries packs entries exactly as given (names unchanged, links and
// special files included), so tests can build hostile archives too.
func TarGzEntries(t testing.TB, entries ...TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.Name, Typeflag: typ, Linkname: e.Link, Mode: mode, ModTime: time.Unix(1700000000, 0)}
		if typ == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: typ, PAXRecords: map[string]string{"comment": "global"}}
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatalf("tar body %s: %v", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TarGz packs path → content as an app archive under "package/", the way
// npm pack and jitsu do, in name order.
func TarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	entries := []TarEntry{{Name: "package/", Type: tar.TypeDir}}
	for _, n := range names {
		entries = append(entries, TarEntry{Name: "package/" + n, Body: files[n]})
	}
	return TarGzEntries(t, entries...)
}

// TarGzDir packs a directory as an app archive under "package/".
func TarGzDir(t testing.TB, dir string) []byte {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(os.DirFS(dir), p)
		files[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return TarGz(t, files)
}

// DirFS returns dir as an fs.FS, failing the test when it does not exist.
func DirFS(t testing.TB, dir string) fs.FS {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	return os.DirFS(dir)
}

// AppFiles are the files of a minimal app named name (package.json and a
// server.js that listens), as a now deployment takes them.
func AppFiles(t testing.TB, name string) []paas.ArchiveFile {
	t.Helper()
	files, err := paas.DeploymentFiles(map[string]json.RawMessage{
		"package":   json.RawMessage(`{"name":"` + name + `","scripts":{"start":"node server.js"}}`),
		"server.js": json.RawMessage(`"require('http').createServer().listen(process.env.PORT)"`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
