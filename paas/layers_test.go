package paas_test

import (
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/selfhost/paas"

// The layers, top to bottom. Imports flow one way: faces → platform (the
// service) → store and deploy → the vocabulary (paas), runtime, dns, acme.
// A face that reached past the service into the store or the deployer
// would bypass validation and authorization, so this is checked, not hoped.
//
// A face necessarily depends on the store through the service, so the rules
// are on direct imports; the vocabulary and the bottom packages must not
// reach the listed packages even indirectly (deps: true).
var layerRules = []struct {
	pkg       string
	deps      bool
	forbidden []string
}{
	// The vocabulary does no I/O of its own and knows no layer above it.
	{"paas", true, []string{"paas/store", "paas/platform", "paas/deploy", "paas/api", "paas/nodejitsu", "paas/now", "paas/tsuru", "paas/server", "go.etcd.io/bbolt"}},
	{"paas/store", false, []string{"paas/platform", "paas/deploy", "paas/api", "paas/nodejitsu", "paas/now", "paas/tsuru", "paas/server", "runtime"}},
	{"paas/deploy", false, []string{"paas/platform", "paas/api", "paas/nodejitsu", "paas/now", "paas/tsuru", "paas/server"}},
	{"paas/platform", false, []string{"paas/api", "paas/nodejitsu", "paas/now", "paas/tsuru", "paas/server", "go.etcd.io/bbolt"}},
	{"paas/api", false, []string{"paas/store", "paas/deploy", "paas/nodejitsu", "paas/now", "paas/tsuru", "paas/server", "go.etcd.io/bbolt"}},
	// Faces translate HTTP to service calls and nothing else.
	{"paas/nodejitsu", false, []string{"paas/store", "paas/deploy", "go.etcd.io/bbolt", "runtime", "acme", "paas/now", "paas/tsuru", "paas/server"}},
	{"paas/now", false, []string{"paas/store", "paas/deploy", "go.etcd.io/bbolt", "runtime", "acme", "paas/nodejitsu", "paas/tsuru", "paas/server"}},
	{"paas/tsuru", false, []string{"paas/store", "paas/deploy", "go.etcd.io/bbolt", "runtime", "acme", "paas/nodejitsu", "paas/now", "paas/server"}},
	{"paas/ingress", false, []string{"paas/store", "paas/deploy", "paas/platform", "go.etcd.io/bbolt"}},
	{"runtime", true, []string{"paas", "dns"}},
	{"dns", true, []string{"paas", "runtime"}},
	{"acme", true, []string{"paas", "runtime", "go.etcd.io/bbolt"}},
}

// TestLayerImports checks, over go list's view of the packages (not of their
// tests), that no layer imports one it must not.
func TestLayerImports(t *testing.T) {
	for _, rule := range layerRules {
		t.Run(rule.pkg, func(t *testing.T) {
			deps := imports(t, rule.pkg, rule.deps)
			for _, f := range rule.forbidden {
				if slices.Contains(deps, fullPath(f)) {
					t.Errorf("%s imports %s (directly, or with deps=%t through another package)", rule.pkg, f, rule.deps)
				}
			}
		})
	}
}

// TestLayerCheckSeesImports keeps TestLayerImports honest: the composition
// root does import the store and the faces, and the check must see it.
func TestLayerCheckSeesImports(t *testing.T) {
	direct := imports(t, "paas/server", false)
	for _, want := range []string{"paas/store", "paas/deploy", "paas/nodejitsu"} {
		if !slices.Contains(direct, fullPath(want)) {
			t.Errorf("go list shows no import of %s by paas/server: %v", want, direct)
		}
	}
	if deps := imports(t, "paas/nodejitsu", true); !slices.Contains(deps, fullPath("go.etcd.io/bbolt")) {
		t.Errorf("go list -deps of a face does not reach bbolt through the service: %v", deps)
	}
}

func fullPath(p string) string {
	if strings.Contains(p, ".") {
		return p
	}
	return module + "/" + p
}

// imports lists pkg's direct imports, or with deps its whole dependency list.
func imports(t *testing.T, pkg string, deps bool) []string {
	t.Helper()
	args := []string{"list", "-f", `{{join .Imports "\n"}}`, module + "/" + pkg}
	if deps {
		args = []string{"list", "-deps", "-f", "{{.ImportPath}}", module + "/" + pkg}
	}
	out, err := exec.Command(filepath.Join(goruntime.GOROOT(), "bin", "go"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}
