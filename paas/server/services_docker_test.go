package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// serviceImageFor is the image tests run kind's servers from: the host-
// built one (.ci/run builds it), else the official one if present.
func serviceImageFor(t *testing.T, d runtime.Runtime, kind string) string {
	t.Helper()
	for _, ref := range []string{runtime.HostServiceImage(kind), runtime.DefaultServiceImage(kind)} {
		if ok, err := d.ImageExists(context.Background(), ref); err == nil && ok {
			return ref
		}
	}
	msg := "no " + kind + " image: go run . service-image --from-host " + kind
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestDockerServices: real redis, postgresql and mongodb servers as Tsuru service
// instances (see testServices).
func TestDockerServices(t *testing.T) {
	d := dockertest.New(t)
	testServices(t, d, dockertest.HostBase(t, d), runtime.KindRedis, runtime.KindPostgreSQL, runtime.KindMongoDB)
}

// serviceEngine is an engine that runs databases.
type serviceEngine interface {
	runtime.Runtime
	runtime.ServiceRuntime
}

// testServices: servers of kinds as Tsuru service instances on rt, bound
// to an app that reads and writes them from inside its unit through the
// injected variables; the data survives a restart of the platform; a
// bound instance cannot be removed; unbinding takes the variables away;
// removing an instance removes its server.
func testServices(t *testing.T, rt serviceEngine, base string, kinds ...string) {
	// The instance of each kind, the dbclient app's path for it, and what it stores.
	instances := map[string]struct{ name, path, value string }{
		runtime.KindRedis:      {"cache", "/redis", "one"},
		runtime.KindPostgreSQL: {"pg", "/pg", "two"},
		runtime.KindMongoDB:    {"docs", "/mongo", "three"},
	}
	imageOf := map[string]string{}
	for _, k := range kinds {
		imageOf[k] = serviceImageFor(t, rt, k)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		svcs, _ := rt.Services(ctx)
		for _, s := range svcs {
			_ = rt.RemoveService(ctx, s.ID)
		}
	})
	dataDir := t.TempDir()
	images := func(c *server.Config) {
		c.RedisImage, c.PostgreSQLImage, c.MongoDBImage = imageOf[runtime.KindRedis], imageOf[runtime.KindPostgreSQL], imageOf[runtime.KindMongoDB]
	}
	s := startServer(t, dataDir, rt, base, images)
	const host = "dbc.localhost"
	s.must(201, "POST", "/apps/admin/dbc", []byte(`{"name":"dbc"}`), nil)
	s.must(201, "POST", "/apps/admin/dbc/snapshots/v1", paastest.TarGzDir(t, "../../testdata/apps/dbclient"), nil)
	s.must(200, "POST", "/apps/admin/dbc/snapshots/v1/activate", nil, nil)
	s.must(200, "POST", "/apps/admin/dbc/start", nil, nil)
	s.waitFor(host, "dbclient\n", 30*time.Second)

	var login struct{ Token string }
	_, out := tsuruCall(t, s, "", "POST", "/users/admin@localhost/tokens", "", []byte(`{"password":"`+s.password+`"}`))
	json.Unmarshal([]byte(out), &login)
	must := func(want int, method, path string, body []byte) string {
		t.Helper()
		code, out := tsuruCall(t, s, login.Token, method, path, "", body)
		if code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, out)
		}
		return out
	}
	for _, k := range kinds {
		must(201, "POST", "/services/instances", []byte(`{"name":"`+instances[k].name+`","service_name":"`+k+`"}`))
	}
	for _, k := range kinds {
		inst := instances[k].name
		must(200, "GET", "/services/instances/"+inst+"/status", nil)
		if out := must(200, "PUT", "/services/instances/"+inst+"/dbc", nil); strings.Contains(out, "redis://:") && !strings.Contains(out, "***") {
			t.Errorf("bind answer shows the password: %s", out)
		}
	}
	for _, k := range kinds {
		s.waitFor(host+instances[k].path+"/set?v="+instances[k].value, "ok", 30*time.Second)
	}
	for _, k := range kinds {
		s.waitFor(host+instances[k].path+"/get", instances[k].value, 5*time.Second)
	}

	// The platform restarts: the data is still there, read by the app.
	s.stop()
	s = startServer(t, dataDir, rt, base, images)
	for _, k := range kinds {
		s.waitFor(host+instances[k].path+"/get", instances[k].value, 30*time.Second)
	}

	first := instances[kinds[0]]
	must(409, "DELETE", "/services/instances/"+first.name, nil)
	for _, k := range kinds {
		must(200, "DELETE", "/services/instances/"+instances[k].name+"/dbc", nil)
	}
	s.waitStatus(host+first.path+"/get", 500, 30*time.Second) // no variables any more
	var info struct{ Apps []string }
	json.Unmarshal([]byte(must(200, "GET", "/services/instances/"+first.name, nil)), &info)
	if len(info.Apps) != 0 {
		t.Errorf("%s still bound to %v", first.name, info.Apps)
	}
	for _, k := range kinds {
		must(200, "DELETE", "/services/instances/"+instances[k].name, nil)
	}
	if svcs, err := rt.Services(context.Background()); err != nil || len(svcs) != 0 {
		t.Errorf("servers left after removal: %+v %v", svcs, err)
	}
}

// TestDockerDatabaseMetadata: what jitsu prints of a redis database (its
// metadata host, port and password) is what a client on the instance's
// network connects with.
func TestDockerDatabaseMetadata(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	redisImage := serviceImageFor(t, d, runtime.KindRedis)
	t.Cleanup(func() {
		svcs, _ := d.Services(context.Background())
		for _, s := range svcs {
			_ = d.RemoveService(context.Background(), s.ID)
		}
	})
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.RedisImage = redisImage })
	s.must(201, "POST", "/databases/admin/kv", []byte(`{"type":"redistogo"}`), nil)
	var db struct {
		Database struct {
			Type     string
			Metadata struct {
				Host, Password string
				Port           int
			}
		}
	}
	s.must(200, "GET", "/databases/admin/kv", nil, &db)
	m := db.Database.Metadata
	if db.Database.Type != "redistogo" || m.Host == "" || m.Port != 6379 || m.Password == "" {
		t.Fatalf("metadata: %+v", db.Database)
	}
	svcs, err := d.Services(context.Background())
	if err != nil || len(svcs) != 1 {
		t.Fatalf("services: %+v %v", svcs, err)
	}
	out, err := exec.Command("docker", "run", "--rm", "--network", svcs[0].Network, "-e", "REDISCLI_AUTH="+m.Password,
		"--entrypoint", "redis-cli", redisImage, "--no-auth-warning", "-h", m.Host, "-p", fmt.Sprint(m.Port), "PING").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "PONG" {
		t.Errorf("redis-cli with the metadata: %q %v", out, err)
	}
}
