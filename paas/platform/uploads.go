package platform

import (
	"sync"

	"github.com/selfhost/paas/paas"
)

// uploadSlots bounds the uploads being unpacked at once, in all and per
// owner: an upload costs a spool file, CPU for decompression and hashing,
// and a connection, so a client opening many at once is refused rather
// than queued.
type uploadSlots struct {
	max, perOwner int

	mu     sync.Mutex
	total  int
	owners map[string]int
}

func (s *uploadSlots) acquire(owner string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners[owner] >= s.perOwner {
		return nil, paas.RateLimited("an upload of %q is already in progress; wait for it to finish", owner)
	}
	if s.total >= s.max {
		return nil, paas.RateLimited("the server is unpacking %d uploads already; try again in a moment", s.total)
	}
	s.total++
	s.owners[owner]++
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.total--
		if s.owners[owner]--; s.owners[owner] == 0 {
			delete(s.owners, owner)
		}
	}), nil
}
