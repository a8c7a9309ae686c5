package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// hostServerMissing says why this machine cannot build kind's host image,
// "" when it can.
func hostServerMissing(kind string) string {
	switch kind {
	case runtime.KindRedis:
		for _, b := range []string{"redis-server", "redis-cli"} {
			if _, err := exec.LookPath(b); err != nil {
				return b + " not found (apt-get install redis-server)"
			}
		}
	case runtime.KindPostgreSQL:
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) == 0 {
			if _, err := exec.LookPath("postgres"); err != nil {
				return "no PostgreSQL server (apt-get install postgresql)"
			}
		}
	case runtime.KindMongoDB:
		if _, err := exec.LookPath("ferretdb"); err != nil {
			return "no ferretdb on PATH (.ci/run builds it; see the README, Services)"
		}
	}
	return ""
}

// TestBuildHostServiceImage builds each kind's image under a tag of its own
// (removed at the end) and runs an instance of it to a successful probe.
func TestBuildHostServiceImage(t *testing.T) {
	t.Parallel() // engine-bound and independent: they overlap each other
	for _, kind := range runtime.ServiceKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if why := hostServerMissing(kind); why != "" {
				if os.Getenv("CI") == "true" {
					t.Fatal(why)
				}
				t.Skip(why)
			}
			d := dockertest.New(t)
			tag := "paastest" + strings.ToLower(rand.Text()[:8]) + "-" + kind + ":host"
			// Registered before the instance's cleanup, so it runs after it.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := d.RemoveImage(ctx, tag); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			const id = "t-host"
			removeServicesAtCleanup(t, d, id)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()

			var log bytes.Buffer
			start := time.Now()
			if err := runtime.BuildHostServiceImage(ctx, d, kind, tag, &log); err != nil {
				t.Fatalf("build: %v\n%s", err, log.String())
			}
			t.Logf("built %s in %s", tag, time.Since(start).Round(time.Millisecond))
			first, err := dockertest.Client(t).ImageInspect(ctx, tag)
			if err != nil {
				t.Fatal(err)
			}
			if first.Config == nil || first.Config.User != map[string]string{runtime.KindRedis: "redis", runtime.KindPostgreSQL: "postgres", runtime.KindMongoDB: "mongodb"}[kind] {
				t.Errorf("image config = %+v, want the server user", first.Config)
			}
			if len(first.Config.Labels) > 0 {
				t.Errorf("image labels = %v: a platform label would make Images list it for removal", first.Config.Labels)
			}

			if _, err := d.StartService(ctx, runtime.ServiceSpec{ID: id, Kind: kind, Image: tag, Password: servicePassword()}); err != nil {
				t.Fatal(err)
			}
			waitServiceHealthy(t, ctx, d, id)
			if err := d.RemoveService(ctx, id); err != nil {
				t.Fatal(err)
			}

			if kind != runtime.KindRedis {
				return // rebuilding is the same code for both; redis is the fast one
			}
			if err := runtime.BuildHostServiceImage(ctx, d, kind, tag, &log); err != nil {
				t.Fatalf("rebuild: %v\n%s", err, log.String())
			}
			if _, err := dockertest.Client(t).ImageInspect(ctx, first.ID); err == nil {
				t.Errorf("the image a rebuild replaced (%s) is still there", first.ID)
			}
		})
	}
}

func TestBuildHostServiceImageUnknownKind(t *testing.T) {
	d := dockertest.New(t)
	err := runtime.BuildHostServiceImage(context.Background(), d, "couchdb", "", nil)
	if err == nil || !strings.Contains(err.Error(), "unsupported kind") {
		t.Errorf("BuildHostServiceImage(couchdb) = %v, want an unsupported kind error", err)
	}
}
