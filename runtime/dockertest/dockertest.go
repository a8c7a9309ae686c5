// Package dockertest gives tests a Docker runtime of their own: a unique
// network and name prefix, and a cleanup that removes every unit, image and
// network the test created, even when it fails. Without a reachable engine
// the test is skipped, except under CI=true, where that is a failure.
package dockertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/selfhost/paas/runtime"
)

// New returns a Docker runtime scoped to this test.
func New(t testing.TB) *runtime.Docker {
	t.Helper()
	// rand.Text never fails; 8 of its base32 characters are 40 bits.
	suffix := strings.ToLower(rand.Text()[:8])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := runtime.NewDocker(ctx, runtime.DockerConfig{Network: "paastest-" + suffix, Prefix: "paastest" + suffix, CodeDir: t.TempDir()})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("a Docker engine is required on CI: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { Cleanup(t, d) })
	return d
}

// Cleanup removes every unit, prepared volume, image and the network of d,
// then closes it.
func Cleanup(t testing.TB, d *runtime.Docker) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if units, err := d.Units(ctx); err != nil {
		t.Errorf("cleanup: list units: %v", err)
	} else {
		for _, u := range units {
			if err := d.Stop(ctx, u.ID, 0); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if err := d.CollectIncomplete(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if codes, err := d.Codes(ctx); err != nil {
		t.Errorf("cleanup: list prepared volumes: %v", err)
	} else {
		for _, c := range codes {
			if err := d.RemoveCode(ctx, c.Ref); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if images, err := d.Images(ctx); err != nil {
		t.Errorf("cleanup: list images: %v", err)
	} else {
		for _, im := range images {
			if err := d.RemoveImage(ctx, im.Ref); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if err := d.RemoveNetwork(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	d.Close()
}

var baseMu sync.Mutex

// HostBase returns runtime.HostBaseImage, building it from this machine's
// node when missing. It is never removed: CI prebuilds it and later runs reuse it.
func HostBase(t testing.TB, d *runtime.Docker) string {
	t.Helper()
	baseMu.Lock()
	defer baseMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ok, err := d.ImageExists(ctx, runtime.HostBaseImage)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		var log bytes.Buffer
		if err := runtime.BuildHostBaseImage(ctx, d, "", runtime.HostBaseImage, &log); err != nil {
			t.Fatalf("build host base image: %v\n%s", err, log.String())
		}
		t.Logf("built %s:\n%s", runtime.HostBaseImage, log.String())
	}
	return runtime.HostBaseImage
}

// Client returns a Docker engine client configured from the environment, as
// runtime.NewDocker is, for what a test inspects or does behind the runtime's
// back. It is closed when the test ends.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Kill kills a container as a crash would (SIGKILL, outside the platform).
func Kill(t testing.TB, id string) {
	t.Helper()
	if err := Client(t).ContainerKill(context.Background(), id, "KILL"); err != nil {
		t.Fatalf("kill %s: %v", id, err)
	}
}
