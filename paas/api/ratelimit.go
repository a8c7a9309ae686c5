package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
)

// Limiter counts events per key in fixed windows that start at a key's
// first event: the one rate limiter of every face (the now face's request
// limit, failed logins). Memory stays bounded: when the table grows past
// maxKeys, expired windows are swept, and if all are live the table starts
// over (which can only let callers through, never lock them out).
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start time.Time
	n     int
}

const maxLimiterKeys = 100_000

// NewLimiter allows limit events per key per window; now is the clock (nil: time.Now).
func NewLimiter(limit int, every time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, window: every, now: now, keys: map[string]*window{}}
}

// Quota is a key's state after a call.
type Quota struct {
	Limit     int
	Remaining int
	Reset     time.Time // when the key's window ends
	Allowed   bool      // Take: the event was counted; Peek: another would be
}

// Take counts one event of key, unless the window's allowance is used up.
func (l *Limiter) Take(key string) Quota { return l.at(key, true) }

// Peek reports key's state without counting anything.
func (l *Limiter) Peek(key string) Quota { return l.at(key, false) }

func (l *Limiter) at(key string, take bool) Quota {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.keys[key]
	if w == nil || now.Sub(w.start) >= l.window {
		if !take {
			return Quota{Limit: l.limit, Remaining: l.limit, Reset: now.Add(l.window), Allowed: l.limit > 0}
		}
		l.makeRoom(now)
		w = &window{start: now}
		l.keys[key] = w
	}
	q := Quota{Limit: l.limit, Reset: w.start.Add(l.window), Allowed: w.n < l.limit}
	if take && q.Allowed {
		w.n++
	}
	q.Remaining = max(l.limit-w.n, 0)
	return q
}

func (l *Limiter) makeRoom(now time.Time) {
	if len(l.keys) < maxLimiterKeys {
		return
	}
	for k, w := range l.keys {
		if now.Sub(w.start) >= l.window {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxLimiterKeys {
		l.keys = map[string]*window{}
	}
}

// SetHeaders writes the X-Rate-Limit-* headers of q (the now document's),
// and Retry-After when q was refused.
func SetHeaders(w http.ResponseWriter, q Quota, now time.Time) {
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(q.Limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(q.Remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(q.Reset.Unix(), 10))
	if !q.Allowed {
		// Round up: a client retrying after Retry-After must find a new window.
		h.Set("Retry-After", strconv.Itoa(int((q.Reset.Sub(now)+time.Second-1)/time.Second)))
	}
}

// RateLimited is the error of a refused Quota.
func RateLimited(q Quota, every time.Duration) error {
	return paas.RateLimited("rate limit of %d requests per %s exceeded; the window resets at %s", q.Limit, every, q.Reset.UTC().Format(time.RFC3339))
}
