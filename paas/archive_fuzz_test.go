package paas

import (
	"bytes"
	"path"
	"testing"

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
		files, err := ReadArchive(bytes.NewReader(data), ArchiveLimits{MaxFiles: 100, MaxBytes: 1 << 20})
		if err != nil {
			if _, apiErr, ok := ErrorStatus(err); !ok || apiErr.Status >= 500 {
				t.Fatalf("archive error is not a client error: %v", err)
			}
			return
		}
		for _, file := range files {
			if _, err := cleanArchivePath(file.Path); err != nil || file.Path != path.Clean(file.Path) {
				t.Fatalf("accepted unclean path %q", file.Path)
			}
		}
		if _, err := SnapshotFromFiles(files); err != nil {
			if _, apiErr, ok := ErrorStatus(err); !ok || apiErr.Status >= 500 {
				t.Fatalf("snapshot error is not a client error: %v", err)
			}
		}
	})
}
