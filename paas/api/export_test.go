package api

// LimiterKeys is how many keys l holds (tests of its memory bound).
func LimiterKeys(l *Limiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
