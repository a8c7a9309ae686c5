package dns

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// rateLimiter is a token bucket per client network: IPv4 /24, IPv6 /56,
// the networks a spoofed flood, or one site's resolvers, come from.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxRRLBuckets = 100_000

func newRateLimiter(perSecond int) *rateLimiter {
	return &rateLimiter{rate: float64(perSecond), burst: 2 * float64(perSecond), buckets: map[netip.Prefix]*bucket{}}
}

// allow takes a token of addr's network; false when there is none.
func (l *rateLimiter) allow(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return true
	}
	ip := ap.Addr().Unmap()
	bits := 24
	if ip.Is6() {
		bits = 56
	}
	p, _ := ip.Prefix(bits)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if len(l.buckets) >= maxRRLBuckets {
			l.buckets = map[netip.Prefix]*bucket{} // only lets answers through, never blocks more
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[p] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
