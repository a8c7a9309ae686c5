package paas

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDeploymentFiles(t *testing.T) {
	pkg := json.RawMessage(`{"name":"web"}`)
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	cases := []struct {
		name    string
		body    map[string]json.RawMessage
		wantErr string
		paths   []string
	}{
		{"files and package", map[string]json.RawMessage{"package": pkg, "server.js": str("x"), "lib/a.js": str("y")}, "",
			[]string{"lib/a.js", "package.json", "server.js"}},
		{"no package", map[string]json.RawMessage{"server.js": str("x")}, "no \"package\"", nil},
		{"package not an object", map[string]json.RawMessage{"package": str("x")}, "JSON object", nil},
		{"package null", map[string]json.RawMessage{"package": json.RawMessage("null")}, "JSON object", nil},
		{"escapes", map[string]json.RawMessage{"package": pkg, "../x.js": str("x")}, "escapes", nil},
		{"absolute", map[string]json.RawMessage{"package": pkg, "/etc/passwd": str("x")}, "absolute", nil},
		{"backslash", map[string]json.RawMessage{"package": pkg, `a\b`: str("x")}, "invalid name", nil},
		{"not a string", map[string]json.RawMessage{"package": pkg, "a.js": json.RawMessage("12")}, "JSON string", nil},
		{"package.json as a file", map[string]json.RawMessage{"package": pkg, "package.json": str("{}")}, "as \"package\"", nil},
		{"the same path twice", map[string]json.RawMessage{"package": pkg, "a/b.js": str("1"), "a/./b.js": str("2")}, "twice", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files, err := DeploymentFiles(c.body)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.Path)
				if len(f.SHA1) != 40 || f.Size != int64(len(f.Data)) {
					t.Errorf("file %+v", f.File)
				}
			}
			if strings.Join(paths, ",") != strings.Join(c.paths, ",") {
				t.Errorf("paths = %v, want %v", paths, c.paths)
			}
		})
	}
}
