package now

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
)

// limiter is a fixed-window rate limiter. Windows are aligned to multiples
// of the window length for every key, so one map holds the current window
// and is dropped whole when the next starts: memory stays bounded by the
// callers of one window, with no sweeping.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time // the current window's start
	counts map[string]int
}

func newLimiter(limit int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: window, now: now, counts: map[string]int{}}
}

// take counts one request of key, sets the X-Rate-Limit-* headers and
// returns 429 rate_limited when the window's allowance is used up.
func (l *limiter) take(w http.ResponseWriter, key string) error {
	l.mu.Lock()
	now := l.now()
	start := now.Truncate(l.window)
	if !start.Equal(l.start) {
		l.start, l.counts = start, map[string]int{}
	}
	n := l.counts[key]
	allowed := n < l.limit
	if allowed {
		n++
		l.counts[key] = n
	}
	l.mu.Unlock()

	reset := start.Add(l.window)
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(l.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(l.limit-n))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !allowed {
		// Round up: a client retrying after Retry-After must find a new window.
		h.Set("Retry-After", strconv.Itoa(int((reset.Sub(now)+time.Second-1)/time.Second)))
		return paas.RateLimited("rate limit of %d requests per %s exceeded; the window resets at %s", l.limit, l.window, reset.UTC().Format(time.RFC3339))
	}
	return nil
}
