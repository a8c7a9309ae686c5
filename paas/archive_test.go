package paas_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

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

// dirBomb is a .tgz of n identical directory headers: tiny compressed,
// huge uncompressed, and no file at all.
func dirBomb(t testing.TB, n int) []byte {
	t.Helper()
	var tmpl bytes.Buffer
	tw := tar.NewWriter(&tmpl)
	if err := tw.WriteHeader(&tar.Header{Name: "d/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	block := tmpl.Bytes()[:512]
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	for range n {
		gz.Write(block)
	}
	gz.Write(make([]byte, 1024))
	gz.Close()
	return buf.Bytes()
}

// TestReadArchiveHeaderBomb: every header counts against the limits, so a
// flood of directory entries is refused at once instead of costing seconds
// of CPU; and unpacking has a time bound.
func TestReadArchiveHeaderBomb(t *testing.T) {
	bomb := dirBomb(t, 60_000) // past the default 40,000 entries: 30 MB of tar in 30 KB
	start := time.Now()
	_, err := paas.ReadArchive(bytes.NewReader(bomb), paas.DefaultArchiveLimits)
	if status, _, _ := paas.ErrorStatus(err); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("directory bomb: %v, want 413", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing the bomb took %s", d)
	}
	ok := paastest.TarGz(t, map[string]string{"package.json": `{"name":"a"}`, "server.js": "x"})
	_, err = paas.ReadArchive(bytes.NewReader(ok), paas.ArchiveLimits{MaxFiles: 10, MaxBytes: 1 << 20, MaxTime: time.Nanosecond})
	if status, _, _ := paas.ErrorStatus(err); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the time bound: %v, want 413", err)
	}
	if _, err := paas.ReadArchive(bytes.NewReader(ok), paas.DefaultArchiveLimits); err != nil {
		t.Fatalf("a normal archive: %v", err)
	}
}
