package nodejitsu

import (
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
)

func TestParseLogTime(t *testing.T) {
	now := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	def := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", def, false},
		{"  ", def, false},
		{"NOW", now, false},
		{"now", now, false},
		{"NOW-3YEARS", now.AddDate(-3, 0, 0), false},
		{"NOW-1YEAR", now.AddDate(-1, 0, 0), false},
		{"NOW-1DAY+2HOURS", now.AddDate(0, 0, -1).Add(2 * time.Hour), false},
		{"NOW-90MINUTES", now.Add(-90 * time.Minute), false},
		{"NOW-30SECONDS", now.Add(-30 * time.Second), false},
		{"NOW-500MILLISECONDS", now.Add(-500 * time.Millisecond), false},
		{"NOW-2WEEKS", now.AddDate(0, 0, -14), false},
		{"NOW-1MONTH", now.AddDate(0, -1, 0), false},
		{"NOW+1HOUR", now.Add(time.Hour), false},
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2024-01-02T03:04:05+02:00", time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC), false},
		{"2024-01-02T03:04:05.123Z", time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC), false},
		{"2024-01-02T03:04:05", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2024-01-02", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"1700000000000", time.UnixMilli(1700000000000).UTC(), false},
		{"garbage", time.Time{}, true},
		{"NOW-", time.Time{}, true},
		{"NOW-3", time.Time{}, true},
		{"NOW-3EONS", time.Time{}, true},
		{"NOWISH", time.Time{}, true},
		{"NOW-1DAY garbage", time.Time{}, true},
		{"NOW-99999999YEARS", time.Time{}, true},
		{"2024-13-45", time.Time{}, true},
		{"-5", time.Time{}, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseLogTime(c.in, now, def)
			if c.err {
				if err == nil {
					t.Fatalf("parseLogTime(%q) = %v, want an error", c.in, got)
				}
				if status, _, _ := paas.ErrorStatus(err); status != http.StatusBadRequest {
					t.Errorf("error status %d, want 400", status)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLogTime(%q): %v", c.in, err)
			}
			if !got.Equal(c.want) {
				t.Errorf("parseLogTime(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}
