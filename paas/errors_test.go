package paas_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/selfhost/paas/paas"
)

// TestErrorStatus: wrapped sentinels keep their status; other errors are 500
// and never reach the client.
func TestErrorStatus(t *testing.T) {
	cases := []struct {
		err    error
		status int
		ok     bool
	}{
		{paas.NotFound("x"), 404, true},
		{fmt.Errorf("ctx: %w", paas.Conflict("x")), 409, true},
		{fmt.Errorf("ctx: %w", paas.ErrForbidden), 403, true},
		{fmt.Errorf("ctx: %w", paas.ErrTooLarge), 413, true},
		{paas.TooLarge("x"), 413, true},
		{errors.New("disk on fire"), 500, false},
	}
	for _, c := range cases {
		status, apiErr, ok := paas.ErrorStatus(c.err)
		if status != c.status || ok != c.ok || (ok && apiErr == nil) {
			t.Errorf("ErrorStatus(%v) = %d %v %v", c.err, status, apiErr, ok)
		}
	}
}
