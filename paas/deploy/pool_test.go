package deploy_test

import (
	"slices"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// TestUnitSpecPool: units carry their app's pool, for engines that place
// units by pool, and its databases' networks, for engines that attach
// them only as units start.
func TestUnitSpecPool(t *testing.T) {
	tp := paastest.NewPlatform(t)
	app := paas.App{Owner: "crew", Name: "web", Pool: "gpu", ServiceNetworks: []string{"net-a", "net-b"}}
	spec := tp.Deployer.UnitSpec(app, 1)
	if spec.Pool != "gpu" || !slices.Equal(spec.Networks, app.ServiceNetworks) || spec.Index != 1 {
		t.Errorf("UnitSpec of %+v = pool %q, networks %v, index %d", app, spec.Pool, spec.Networks, spec.Index)
	}
	if spec := tp.Deployer.UnitSpec(paas.App{Owner: "crew", Name: "plain"}, 0); spec.Pool != "" || spec.Networks != nil {
		t.Errorf("UnitSpec of an app of the default pool = pool %q, networks %v", spec.Pool, spec.Networks)
	}
}
