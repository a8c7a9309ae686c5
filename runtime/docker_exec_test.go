package runtime_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/runtime"
)

// TestDockerExec: a command run in a unit (Tsuru's app-run) runs as the
// unit's unprivileged user with its environment, its output comes back,
// a failing command reports its exit code, and only the installation's
// own running units can be reached.
func TestDockerExec(t *testing.T) {
	d, base, ctx := engine(t, 2*time.Minute)
	ref := buildApp(t, ctx, d, base, "hello", "../testdata/apps/hello-v1", false)
	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/hello", Snapshot: "s1", Release: "r1", Image: ref, Env: map[string]string{"GREETING": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(ctx, u.ID, time.Second)
	for _, tc := range []struct {
		cmd  []string
		code int
		out  string
	}{
		{[]string{"node", "-e", "console.log(process.getuid(), process.env.GREETING)"}, 0, "1000 hi"},
		{[]string{"node", "-e", "console.error('to stderr'); process.exit(3)"}, 3, "to stderr"},
	} {
		var out bytes.Buffer
		code, err := d.Exec(ctx, u.ID, tc.cmd, &out)
		if err != nil || code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("Exec %v = %d, %v, %q; want %d and %q", tc.cmd, code, err, out.String(), tc.code, tc.out)
		}
	}
	if _, err := d.Exec(ctx, "not-a-unit", []string{"true"}, &bytes.Buffer{}); err == nil {
		t.Error("Exec in a container that is not a unit of this installation succeeded")
	}
}
