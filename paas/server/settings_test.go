package server_test

import (
	"net/http"
	"testing"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
)

// TestNowRateLimitSetting: the now face's limit is a setting; the fourth
// call of a minute with a limit of 3 is refused with the document's 429.
func TestNowRateLimitSetting(t *testing.T) {
	s := startServer(t, t.TempDir(), runtime.NewFake(), "base", func(c *server.Config) { c.NowRateLimit = 3 })
	for i := range 4 {
		code, body := rawGet(t, s, "/now/secrets")
		want := http.StatusOK
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("call %d: %d %s, want %d", i+1, code, body, want)
		}
	}
}
