package deploy

import (
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

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

// UnitSpec is the spec the deployer starts unit i of app's release with.
func (d *Deployer) UnitSpec(app paas.App, i int) runtime.UnitSpec {
	return d.unitSpec(app, &release{ID: "r1", Snapshot: app.Snapshot}, i)
}
