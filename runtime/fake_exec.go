package runtime

import (
	"context"
	"fmt"
	"io"
	"strings"
)

var _ Executor = (*Fake)(nil)

// Exec on the fake "runs" cmd: it writes "ran <cmd> in <unit>" and exits
// 0, or 1 when the command is "false", so callers' streaming and exit
// handling can be tested without an engine.
func (f *Fake) Exec(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
	f.mu.Lock()
	u, ok := f.units[id]
	f.mu.Unlock()
	if !ok || !u.unit.Running {
		return 0, fmt.Errorf("exec in %s: no such running unit", id)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "ran %s in %s\n", strings.Join(cmd, " "), id)
	if len(cmd) == 1 && cmd[0] == "false" {
		return 1, nil
	}
	return 0, nil
}
