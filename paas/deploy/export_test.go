package deploy

// PreparationWaiters is how many deploys wait for app's preparation of
// snapshot (each holding its app's lock): tests sequence on it.
func (d *Deployer) PreparationWaiters(appKey, snapshot string) int {
	d.mu.Lock()
	p := d.preps[prepKey(appKey, snapshot)]
	d.mu.Unlock()
	if p == nil {
		return 0
	}
	return int(p.waiters.Load())
}
