// Package swarmtest gives tests a Swarm runtime of their own on the local
// engine, as dockertest does for the Docker runtime: a unique prefix, and a
// cleanup that removes every service, container, volume, image and network
// the test created, even when it fails.
//
// The engine is put in Swarm mode for as long as some test needs it: a
// single-node swarm on 127.0.0.1 is initialised when the engine is in none,
// and left (with the gateway bridge it made) when the last test of every
// process using it is done. An engine that already was a manager stays one.
// Test binaries of several packages run at once on one engine, so who uses
// the swarm is kept in a file under the temporary directory, behind a file
// lock. Without a reachable engine the test is skipped, except under
// CI=true, where that is a failure.
package swarmtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// New returns a Swarm runtime scoped to this test, on a swarm that lasts
// at least as long as the test.
func New(t testing.TB) *runtime.Swarm {
	t.Helper()
	Join(t)
	suffix := strings.ToLower(rand.Text()[:8])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := runtime.NewSwarm(ctx, runtime.DockerConfig{Network: "paasswarm-" + suffix, Prefix: "paasswarm" + suffix, CodeDir: t.TempDir()})
	if err != nil {
		t.Fatalf("swarm runtime: %v", err)
	}
	t.Cleanup(func() { Cleanup(t, s) })
	return s
}

// Cleanup removes every unit, database service (with its data), prepared
// volume, image and network of s, then closes it.
func Cleanup(t testing.TB, s *runtime.Swarm) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removeAll(t, ctx, "units", s.Units, func(u runtime.Unit) string { return u.ID },
		func(ctx context.Context, id string) error { return s.Stop(ctx, id, 0) })
	// After the units: a unit's service holds the networks of its databases.
	removeAll(t, ctx, "database services", s.Services, func(svc runtime.Service) string { return svc.ID }, s.RemoveService)
	if err := s.CollectIncomplete(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	removeAll(t, ctx, "prepared volumes", s.Codes, func(c runtime.Code) string { return c.Ref }, s.RemoveCode)
	removeAll(t, ctx, "images", s.Images, func(im runtime.Image) string { return im.Ref }, s.RemoveImage)
	if err := s.RemoveNetworks(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	s.Close()
}

// removeAll removes every object list returns, reporting failures.
func removeAll[T any](t testing.TB, ctx context.Context, what string, list func(context.Context) ([]T, error),
	ref func(T) string, remove func(context.Context, string) error) {
	objs, err := list(ctx)
	if err != nil {
		t.Errorf("cleanup: list %s: %v", what, err)
	}
	for _, o := range objs {
		if err := remove(ctx, ref(o)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// HostBase returns runtime.HostBaseImage, building it when missing (see
// dockertest.HostBase).
func HostBase(t testing.TB) string {
	t.Helper()
	return dockertest.HostBase(t, dockertest.New(t))
}

// users is the shared record of who uses the swarm.
type users struct {
	Inited     bool  // a test initialised the swarm: the last user leaves it
	HadGateway bool  // docker_gwbridge existed before the swarm did
	Pids       []int // one entry per Join not yet released
}

const gatewayNetwork = "docker_gwbridge"

// Join makes sure the engine is a Swarm manager until the test ends.
func Join(t testing.TB) {
	t.Helper()
	cli := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := withUsers(func(u *users) error {
		info, err := cli.Info(ctx)
		if err != nil {
			return fmt.Errorf("engine info: %w", err)
		}
		st := info.Swarm
		if len(u.Pids) == 0 && !(u.Inited && st.LocalNodeState == swarm.LocalNodeStateActive) {
			// The first user, and not after a crashed run that left its swarm.
			*u = users{}
			switch st.LocalNodeState {
			case swarm.LocalNodeStateActive:
				if !st.ControlAvailable {
					return errors.New("the engine is a swarm worker; the tests need a manager")
				}
			case swarm.LocalNodeStateInactive:
				_, gwErr := cli.NetworkInspect(ctx, gatewayNetwork, network.InspectOptions{})
				u.HadGateway = gwErr == nil
				if _, err := cli.SwarmInit(ctx, swarm.InitRequest{ListenAddr: "127.0.0.1", AdvertiseAddr: "127.0.0.1"}); err != nil {
					return fmt.Errorf("init a single-node swarm: %w", err)
				}
				u.Inited = true
			default:
				return fmt.Errorf("the engine's swarm is %s", st.LocalNodeState)
			}
		}
		u.Pids = append(u.Pids, os.Getpid())
		return nil
	})
	if err != nil {
		t.Fatalf("swarm: %v", err)
	}
	t.Cleanup(func() { release(t, cli) })
}

// release undoes one Join; the last one leaves a swarm a test made.
func release(t testing.TB, cli *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := withUsers(func(u *users) error {
		if i := slices.Index(u.Pids, os.Getpid()); i >= 0 {
			u.Pids = slices.Delete(u.Pids, i, i+1)
		}
		if len(u.Pids) > 0 || !u.Inited {
			return nil
		}
		if err := cli.SwarmLeave(ctx, true); err != nil {
			return fmt.Errorf("leave the swarm: %w", err)
		}
		u.Inited = false
		if u.HadGateway {
			return nil
		}
		// The engine made it for the swarm's containers and keeps it; it
		// is busy for a moment after the swarm's last container went.
		var err error
		for range 50 {
			if err = cli.NetworkRemove(ctx, gatewayNetwork); err == nil || cerrdefs.IsNotFound(err) {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("remove %s: %w", gatewayNetwork, err)
	})
	if err != nil {
		t.Errorf("swarm cleanup: %v", err)
	}
}

// withUsers runs fn on the shared record under an exclusive file lock,
// dropping entries of processes that no longer run, and saves it.
func withUsers(fn func(*users) error) error {
	dir := os.TempDir()
	lock, err := os.OpenFile(filepath.Join(dir, "paas-swarmtest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	path := filepath.Join(dir, "paas-swarmtest.json")
	var u users
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &u); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	u.Pids = slices.DeleteFunc(u.Pids, func(pid int) bool { return syscall.Kill(pid, 0) != nil && pid != os.Getpid() })
	ferr := fn(&u)
	if len(u.Pids) == 0 && !u.Inited {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return errors.Join(ferr, err)
		}
		return ferr
	}
	b, err := json.Marshal(u)
	if err != nil {
		return errors.Join(ferr, err)
	}
	return errors.Join(ferr, os.WriteFile(path, b, 0o600))
}

// engine returns a client of the engine, skipping the test without one
// (failing it under CI=true).
func engine(t testing.TB) *client.Client {
	t.Helper()
	cli := dockertest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("a Docker engine is required on CI: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	return cli
}
