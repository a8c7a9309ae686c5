package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// Run runs cmd in the serving units of app, one after another (only the
// first with once), each unit's output going to out(unit) as it comes. A
// command that exits non-zero ends the run with an error naming the unit
// and the exit code.
func (d *Deployer) Run(ctx context.Context, appKey string, cmd []string, once bool, out func(unit string) io.Writer) error {
	ex, ok := d.rt.(runtime.Executor)
	if !ok {
		return &paas.Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: "this container engine cannot run commands in units"}
	}
	rel, ok := d.Release(appKey)
	var units []string
	for _, u := range rel.Units {
		if u.Running {
			units = append(units, u.ID)
		}
	}
	if !ok || len(units) == 0 {
		return paas.Conflict("app %s has no running units to run the command in; start it first", appKey)
	}
	if once {
		units = units[:1]
	}
	for _, id := range units {
		code, err := ex.Exec(ctx, id, cmd, out(id))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("run in %s: %w", appKey, err)
		}
		if code != 0 {
			return &paas.Error{Status: http.StatusBadRequest, Code: "command_failed", Err: errors.New("non-zero exit"),
				Message: fmt.Sprintf("the command exited with status %d in unit %.12s", code, id)}
		}
	}
	return nil
}
