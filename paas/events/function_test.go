package events

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{"export default function (e) { return e }", ""},
		{"export default async (e, ctx) => { ctx.log.info('x'); return [e, e] }", ""},
		{"function f(e) { return e }", "no default export"},
		{"export default function (e) {\n  return e +\n}", "line 3"},
	} {
		err := Check("f", c.code)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%q) = %v, want %q", c.code, err, c.want)
		}
	}
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		name, code, event string
		want              []string
		wantErr           string
	}{
		{"changed", `export default function (e) { e.seen = true; return e }`, `{"a":1}`, []string{`{"a":1,"seen":true}`}, ""},
		{"dropped", `export default function (e) { if (e.a > 0) return; return e }`, `{"a":1}`, nil, ""},
		{"several", `export default function (e) { return [{n: 1}, {n: 2}] }`, `{}`, []string{`{"n":1}`, `{"n":2}`}, ""},
		{"async", `export default async function (e) { e.x = await Promise.resolve(3); return e }`, `{}`, []string{`{"x":3}`}, ""},
		{"throws", `export default function (e) { throw new Error("nope") }`, `{}`, nil, "nope"},
		{"rejects", `export default async function (e) { throw new Error("later") }`, `{}`, nil, "later"},
		{"loops", `export default function (e) { for (;;) {} }`, `{}`, nil, "time limit"},
		{"not an event", `export default function (e) { return 42 }`, `{}`, nil, "not an event"},
		{"no host", `export default function (e) { return {r: typeof require, p: typeof process, f: typeof fetch} }`, `{}`,
			[]string{`{"f":"undefined","p":"undefined","r":"undefined"}`}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Compile("fn", c.code, 50*time.Millisecond, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.Run([]byte(c.event))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range out {
				got = append(got, string(o))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("= %v, want %v", got, c.want)
			}
			// The runtime stays usable after a call.
			if _, err := f.Run([]byte(c.event)); err != nil {
				t.Errorf("second run: %v", err)
			}
		})
	}
}
