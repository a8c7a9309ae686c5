package nodejitsu_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(data)
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarOf starts an uncompressed tar of entries, left open for more.
func tarOf(t *testing.T, entries ...paastest.TarEntry) (*bytes.Buffer, *tar.Writer) {
	t.Helper()
	raw := &bytes.Buffer{}
	tw := tar.NewWriter(raw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatal(err)
		}
	}
	return raw, tw
}

// oversized is a .tgz of entries followed by the header of a file of size
// bytes, and none of its content.
func oversized(t *testing.T, size int64, entries ...paastest.TarEntry) []byte {
	t.Helper()
	raw, tw := tarOf(t, entries...)
	if err := tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	// Not closed: the writer would insist on the missing content.
	return gzipped(t, raw.Bytes())
}

// manyFiles is a .tgz of entries and then n empty files. Their headers are
// stamped from one template: the tar and gzip writers would take seconds
// for the default limit's files under the race detector.
func manyFiles(t *testing.T, n int, entries ...paastest.TarEntry) []byte {
	t.Helper()
	raw, tw := tarOf(t, entries...)
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	const name = "f/00000000.js"
	var tmpl bytes.Buffer
	tt := tar.NewWriter(&tmpl)
	if err := tt.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	block := tmpl.Bytes()[:512]
	for i := range n {
		copy(block, fmt.Sprintf("f/%08d.js", i))
		copy(block[148:156], "        ")
		sum := 0
		for _, c := range block {
			sum += int(c)
		}
		copy(block[148:156], fmt.Sprintf("%06o\x00 ", sum))
		raw.Write(block)
	}
	raw.Write(make([]byte, 1024)) // the end-of-archive marker
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	gz.Write(raw.Bytes())
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBadSnapshotUploads: every bad archive gets its 4xx and stores nothing:
// no snapshot, and none of its files' contents.
func TestBadSnapshotUploads(t *testing.T) {
	t.Parallel()
	// paastest.Config sets no archive limits, so these are the defaults.
	lim := paas.DefaultArchiveLimits
	h := newHarness(t)
	u := h.NewUser(t, "dev")
	h.createApp(t, "dev", "app")
	h.uploadSnapshot(t, "dev", "app", "0.0.1")

	goodPkg := `{"name":"app","scripts":{"start":"node server.js"}}`
	cases := []struct {
		name    string
		id      string
		archive func(marker string) []byte
		want    int
	}{
		{"not gzip", "1.0.0", func(m string) []byte { return []byte("this is not a gzip stream " + m) }, 400},
		{"gzip but not tar", "1.0.0", func(m string) []byte { return gzipped(t, []byte("plain text, not a tar "+m)) }, 400},
		{"truncated upload", "1.0.0", func(m string) []byte {
			full := paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: strings.Repeat(m, 50)}}...)
			return full[:len(full)/2]
		}, 400},
		{"dot-dot entry", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "../evil", Body: "x" + m}}...)
		}, 400},
		{"dot-dot inside a path", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package/package.json", Body: goodPkg}, {Name: "package/server.js", Body: m}, {Name: "package/../../evil", Body: "x" + m}}...)
		}, 400},
		{"absolute path", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "/etc/evil", Body: "x" + m}}...)
		}, 400},
		{"backslash path", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: `..\evil`, Body: "x" + m}}...)
		}, 400},
		{"symlink", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "passwd", Type: tar.TypeSymlink, Link: "/etc/passwd"}}...)
		}, 400},
		{"hard link", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "passwd", Type: tar.TypeLink, Link: "/etc/passwd"}}...)
		}, 400},
		{"fifo", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "pipe", Type: tar.TypeFifo}}...)
		}, 400},
		{"duplicate entry", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "package.json", Body: goodPkg}, {Name: "server.js", Body: m}, {Name: "./server.js", Body: "x" + m}}...)
		}, 400},
		{"no package.json", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "server.js", Body: m}}...)
		}, 400},
		{"package.json in a nested folder", "1.0.0", func(m string) []byte {
			return paastest.TarGzEntries(t, []paastest.TarEntry{{Name: "a/b/package.json", Body: goodPkg}, {Name: "a/b/server.js", Body: m}}...)
		}, 400},
		{"package.json not JSON", "1.0.0", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": "{name: app", "server.js": m})
		}, 400},
		{"package.json with wrong types", "1.0.0", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": `{"name":"app","scripts":["node server.js"]}`, "server.js": m})
		}, 400},
		{"package.json without name", "1.0.0", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": `{"scripts":{"start":"node server.js"}}`, "server.js": m})
		}, 400},
		{"no way to start", "1.0.0", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": `{"name":"app"}`, "index.js": m})
		}, 400},
		{"main not in the archive", "1.0.0", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": `{"name":"app","main":"lib/app.js"}`, "index.js": m})
		}, 400},
		{"too many files", "1.0.0", func(m string) []byte {
			return manyFiles(t, lim.MaxFiles-1,
				paastest.TarEntry{Name: "package.json", Body: goodPkg}, paastest.TarEntry{Name: "server.js", Body: m})
		}, 413},
		{"too many bytes", "1.0.0", func(m string) []byte {
			// The entry that goes over is refused by its header, before
			// its content is read, so the archive need not carry it.
			return oversized(t, lim.MaxBytes+1-int64(len(goodPkg)+len(m)),
				paastest.TarEntry{Name: "package.json", Body: goodPkg}, paastest.TarEntry{Name: "server.js", Body: m})
		}, 413},
		{"snapshot id taken", "0.0.1", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": goodPkg, "server.js": m})
		}, 409},
		{"snapshot id ending in .tgz", "1.0.0.tgz", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": goodPkg, "server.js": m})
		}, 400},
		{"snapshot id with a bad character", "1.0.0~x", func(m string) []byte {
			return appTgz(t, map[string]string{"package.json": goodPkg, "server.js": m})
		}, 400},
		{"empty body", "1.0.0", func(string) []byte { return []byte{} }, 400},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := fmt.Sprintf("// unique marker %d %s\n", i, c.name)
			before, err := h.Store.Snapshots("dev", "app")
			if err != nil {
				t.Fatal(err)
			}
			r := h.do(t, "POST", "/apps/dev/app/snapshots/"+c.id, u.Basic(), c.archive(marker))
			want(t, r, c.want)
			after, err := h.Store.Snapshots("dev", "app")
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("snapshots %d → %d", len(before), len(after))
			}
			for _, content := range []string{marker, "x" + marker} {
				if _, err := h.Store.Blob(sha1Hex(content)); !paas.IsNotFound(err) {
					t.Errorf("content of the refused archive was stored (err %v)", err)
				}
			}
		})
	}

	// The same checks hold on an app that does not exist (404) and for a
	// caller who does not own the app (403): nothing is stored.
	other := h.NewUser(t, "other")
	marker := "// marker for the refused callers\n"
	archive := appTgz(t, map[string]string{"package.json": goodPkg, "server.js": marker})
	want(t, h.do(t, "POST", "/apps/dev/nosuchapp/snapshots/1.0.0", u.Basic(), archive), 404)
	want(t, h.do(t, "POST", "/apps/dev/app/snapshots/1.0.0", other.Basic(), archive), 403)
	if _, err := h.Store.Blob(sha1Hex(marker)); !paas.IsNotFound(err) {
		t.Errorf("content of a refused upload was stored (err %v)", err)
	}

	// A good archive still goes through after all that.
	want(t, h.do(t, "POST", "/apps/dev/app/snapshots/1.0.0", u.Basic(), archive), 201)
}

// TestBadJSON: malformed, mistyped and invalid bodies get a 400 (or 413 over
// the limit) and change nothing.
func TestBadJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.NewUser(t, "dev")
	h.createApp(t, "dev", "app")
	if _, err := h.UpdateApp(t.Context(), h.asAdmin, "dev", "app", paas.AppSpec{Env: &map[string]string{"KEEP": "me"}}); err != nil {
		t.Fatal(err)
	}
	huge := `{"name":"big","description":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"create: malformed", "POST", "/apps/dev/newapp", `{"name": "newapp"`, 400},
		{"create: array", "POST", "/apps/dev/newapp", `["newapp"]`, 400},
		{"create: name not a string", "POST", "/apps/dev/newapp", `{"name": 5}`, 400},
		{"create: drones not a number", "POST", "/apps/dev/newapp", `{"name":"newapp","drones":"two"}`, 400},
		{"create: too many drones", "POST", "/apps/dev/newapp", `{"name":"newapp","drones":99}`, 400},
		{"create: env not an object", "POST", "/apps/dev/newapp", `{"name":"newapp","env":"A=1"}`, 400},
		{"create: name mismatch", "POST", "/apps/dev/newapp", `{"name":"other"}`, 400},
		{"create: invalid app name", "POST", "/apps/dev/New_App", `{}`, 400},
		{"create: invalid app name in body", "POST", "/apps/dev", `{"name":"-bad"}`, 400},
		{"create: no name", "POST", "/apps/dev", `{}`, 400},
		{"create: invalid subdomain", "POST", "/apps/dev/newapp", `{"subdomain":"-bad-"}`, 400},
		{"create: existing app", "POST", "/apps/dev/app", `{}`, 409},
		{"create: over 1 MiB", "POST", "/apps/dev/big", huge, 413},
		{"update: malformed", "PUT", "/apps/dev/app", `{"env":`, 400},
		{"update: env values not strings", "PUT", "/apps/dev/app", `{"env":{"A":1}}`, 400},
		{"update: env sets PORT", "PUT", "/apps/dev/app", `{"env":{"PORT":"80"}}`, 400},
		{"update: bad env name", "PUT", "/apps/dev/app", `{"env":{"1A":"x"}}`, 400},
		{"update: rename", "PUT", "/apps/dev/app", `{"name":"renamed"}`, 400},
		{"update: over 1 MiB", "PUT", "/apps/dev/app", huge, 413},
		{"update by body: no name", "PUT", "/apps/dev", `{"env":{}}`, 400},
		{"update by body: name not a string", "PUT", "/apps/dev", `{"name":true}`, 400},
		{"available: bad subdomain type", "POST", "/apps/dev/newapp/available", `{"subdomain":1}`, 400},
		{"available: invalid name", "POST", "/apps/dev/UP/available", `{}`, 400},
		{"scale: not JSON", "POST", "/apps/dev/app/cloud", `drones=2`, 400},
		{"scale: zero", "POST", "/apps/dev/app/cloud", `[{"drones":0}]`, 400},
		{"scale: too many", "POST", "/apps/dev/app/cloud", `[{"drones":99}]`, 400},
		{"scale: no drones", "POST", "/apps/dev/app/cloud", `[{}]`, 400},
		{"scale: two entries", "POST", "/apps/dev/app/cloud", `[{"drones":1},{"drones":2}]`, 400},
		{"scale: unknown provider", "POST", "/apps/dev/app/cloud", `[{"drones":2,"provider":"joyent","datacenter":"us-east-1"}]`, 400},
		{"scale: drones as string", "POST", "/apps/dev/app/cloud", `[{"drones":"2"}]`, 400},
		{"database: unknown type", "POST", "/databases/dev/mydb", `{"type":"oracle"}`, 400},
		{"database: no type", "POST", "/databases/dev/mydb", `{}`, 400},
		{"database: type not a string", "POST", "/databases/dev/mydb", `{"type":["redis"]}`, 400},
		{"database: invalid name", "POST", "/databases/dev/-mydb", `{"type":"redis"}`, 400},
		{"database: malformed", "POST", "/databases/dev/mydb", `{"type":"redis"`, 400},
		{"database: over 1 MiB", "POST", "/databases/dev/mydb", `{"type":"redis","x":"` + strings.Repeat("y", 1<<20) + `"}`, 413},
		{"logs: bad from", "POST", "/logs/dev/app", `{"from":"yesterday"}`, 400},
		{"logs: bad until", "POST", "/logs/dev/app", `{"until":"NOW-3FORTNIGHTS"}`, 400},
		{"logs: bad rows", "POST", "/logs/dev/app", `{"rows":"many"}`, 400},
		{"logs: zero rows", "POST", "/logs/dev", `{"rows":0}`, 400},
		{"logs: malformed", "POST", "/logs/dev/app", `{"rows":`, 400},
		{"logs: bad amount", "GET", "/logs/dev/app/-3", ``, 400},
		{"stream: bad rows", "GET", "/apps/dev/app/logs?rows=x", ``, 400},
		{"token: invalid id", "POST", "/users/dev/tokens", `{"id":"bad id!"}`, 400},
		{"token: id not a string", "POST", "/users/dev/tokens", `{"id":7}`, 400},
		{"token: existing id", "POST", "/users/dev/tokens", `{"id":"tok"}`, 409},
		{"thirdparty: missing token", "POST", "/users/dev/thirdparty", `{"provider":"github"}`, 400},
		{"thirdparty: unknown provider", "POST", "/users/dev/thirdparty", `{"provider":"myspace","token":"abc"}`, 400},
		{"thirdparty: malformed", "POST", "/users/dev/thirdparty", `{`, 400},
		{"key: not a key", "POST", "/users/dev/keys", `{"key":"hello"}`, 400},
		{"key: invalid id", "PUT", "/users/dev/keys/bad%20id", `{"key":"` + testSSHKey + `"}`, 400},
		{"user: nothing to update", "PUT", "/users/dev", `{}`, 400},
		{"user: bad email", "PUT", "/users/dev", `{"email":"not an email"}`, 400},
		{"user: short password", "PUT", "/users/dev", `{"password":"short"}`, 400},
		{"user: password not a string", "PUT", "/users/dev", `{"password":12345678}`, 400},
		{"user: malformed", "PUT", "/users/dev", `{"password"`, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.Digest(t, "dev")
			apps, _ := h.Store.AllApps()
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(t, c.method, c.path, u.Basic(), body)
			want(t, r, c.want)
			if after := h.Digest(t, "dev"); after != before {
				t.Errorf("a refused request changed data:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if after, _ := h.Store.AllApps(); len(after) != len(apps) {
				t.Errorf("apps %d → %d", len(apps), len(after))
			}
		})
	}
	a, err := h.Store.App("dev", "app")
	if err != nil {
		t.Fatal(err)
	}
	if a.Env["KEEP"] != "me" || len(a.Env) != 1 || a.Units != 1 {
		t.Errorf("app changed: env %v units %d", a.Env, a.Units)
	}
}
