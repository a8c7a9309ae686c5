package nodejitsu

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/selfhost/paas/paas"
)

var dateMathRE = regexp.MustCompile(`(?i)^([+-])(\d+)(MILLISECONDS?|SECONDS?|MINUTES?|HOURS?|DAYS?|WEEKS?|MONTHS?|YEARS?)`)

// parseLogTime reads the times the Nodejitsu log API takes: "NOW",
// Solr-style date math ("NOW-3YEARS", "NOW-1DAY+2HOURS"), RFC 3339 and plain
// ISO dates. An empty string yields def.
func parseLogTime(s string, now time.Time, def time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	if len(s) >= 3 && strings.EqualFold(s[:3], "NOW") {
		t, rest := now, s[3:]
		for rest != "" {
			m := dateMathRE.FindStringSubmatch(rest)
			if m == nil {
				return time.Time{}, paas.BadRequest("invalid date math %q", s)
			}
			n, err := strconv.Atoi(m[2])
			if err != nil || n > 1_000_000 {
				return time.Time{}, paas.BadRequest("invalid date math %q", s)
			}
			if m[1] == "-" {
				n = -n
			}
			unit := strings.TrimSuffix(strings.ToUpper(m[3]), "S")
			switch unit {
			case "MILLISECOND":
				t = t.Add(time.Duration(n) * time.Millisecond)
			case "SECOND":
				t = t.Add(time.Duration(n) * time.Second)
			case "MINUTE":
				t = t.Add(time.Duration(n) * time.Minute)
			case "HOUR":
				t = t.Add(time.Duration(n) * time.Hour)
			case "DAY":
				t = t.AddDate(0, 0, n)
			case "WEEK":
				t = t.AddDate(0, 0, 7*n)
			case "MONTH":
				t = t.AddDate(0, n, 0)
			case "YEAR":
				t = t.AddDate(n, 0, 0)
			}
			rest = rest[len(m[0]):]
		}
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC(), nil // epoch milliseconds, as JavaScript clients send
	}
	return time.Time{}, paas.BadRequest("invalid time %q: use NOW, NOW-<n><UNIT> or an ISO date", s)
}
