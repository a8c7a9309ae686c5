package paas_test

import (
	"bytes"
	"path"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// FuzzReadArchive feeds arbitrary bytes to the upload path: it must never
// panic, and whatever it accepts must be a valid app (package.json present,
// paths clean and inside the root).
func FuzzReadArchive(f *testing.F) {
	f.Add(paastest.TarGz(f, map[string]string{"package.json": `{"name":"a","scripts":{"start":"node a.js"}}`, "a.js": "x"}))
	f.Add(paastest.TarGz(f, map[string]string{"../evil": "x"}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := paas.ReadArchive(bytes.NewReader(data), paas.ArchiveLimits{MaxFiles: 100, MaxBytes: 1 << 20})
		if err != nil {
			if _, apiErr, ok := paas.ErrorStatus(err); !ok || apiErr.Status >= 500 {
				t.Fatalf("archive error is not a client error: %v", err)
			}
			return
		}
		for _, file := range files {
			p := file.Path
			if p != path.Clean(p) || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") || p == "." {
				t.Fatalf("accepted unclean path %q", file.Path)
			}
		}
		if _, err := paas.SnapshotFromFiles(files); err != nil {
			if _, apiErr, ok := paas.ErrorStatus(err); !ok || apiErr.Status >= 500 {
				t.Fatalf("snapshot error is not a client error: %v", err)
			}
		}
	})
}
