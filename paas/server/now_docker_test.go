package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/runtime/dockertest"
)

// nowDeploymentBody is POST /now/deployments's body: app name, answering greeting.
func nowDeploymentBody(t *testing.T, name, greeting string) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"package":   map[string]any{"name": name, "version": "1.0.0", "scripts": map[string]string{"start": "node server.js"}},
		"server.js": "require('http').createServer((q, s) => s.end(" + strconv.Quote(greeting) + ")).listen(process.env.PORT);\n",
		"lib/a.txt": "same in both\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

type nowDeployment struct {
	UID, Host, State, Name string
	URL                    *string
}

// waitDeployment polls GET /now/deployments/:id until it leaves BOOTING.
func waitDeployment(t *testing.T, s *testServer, uid string) nowDeployment {
	t.Helper()
	var d nowDeployment
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s.must(200, "GET", "/now/deployments/"+uid, nil, &d)
		if d.State != "BOOTING" {
			return d
		}
	}
	t.Fatalf("deployment %s still BOOTING after 2 minutes", uid)
	return d
}

// TestDockerNowDeployments: now deployments on the real engine. Two of one
// app run side by side, each on its own hostname; their files read back
// byte for byte; they survive a restart of the platform; a deployment that
// cannot start ends in DEPLOYMENT_ERROR; a deleted one stops answering.
func TestDockerNowDeployments(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, d, base)

	var one, two nowDeployment
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "side", "one"), &one)
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "side", "two"), &two)
	if one.State != "BOOTING" || !strings.HasPrefix(one.Host, "side-") || one.Host == two.Host {
		t.Fatalf("created %+v and %+v", one, two)
	}
	for _, dep := range []struct {
		nowDeployment
		want string
	}{{one, "one"}, {two, "two"}} {
		if got := waitDeployment(t, s, dep.UID); got.State != "READY" || got.URL == nil || *got.URL != dep.Host {
			t.Fatalf("deployment %s: %+v", dep.UID, got)
		}
		s.waitFor(dep.Host, dep.want, 10*time.Second)
	}

	// Files: the tree with SHA-1 uids, and each content byte for byte.
	var tree []struct {
		Type, Name, UID string
		Children        []struct{ Type, Name, UID string }
	}
	s.must(200, "GET", "/now/deployments/"+two.UID+"/files", nil, &tree)
	if len(tree) != 3 || tree[0].Name != "lib" || len(tree[0].Children) != 1 || tree[1].Name != "package.json" || tree[2].Name != "server.js" {
		t.Fatalf("files tree: %+v", tree)
	}
	code, body := rawGet(t, s, "/now/deployments/"+two.UID+"/files/"+tree[2].UID)
	if code != 200 || body != "require('http').createServer((q, s) => s.end(\"two\")).listen(process.env.PORT);\n" {
		t.Errorf("server.js = %d %q", code, body)
	}
	if code, _ := rawGet(t, s, "/now/deployments/"+one.UID+"/files/"+tree[2].UID); code != 404 {
		t.Errorf("another deployment's file by uid: %d, want 404", code)
	}

	// A restart of the platform: both still answer, adopted.
	s.stop()
	s = startServer(t, dataDir, d, base)
	s.waitFor(one.Host, "one", 30*time.Second)
	s.waitFor(two.Host, "two", 30*time.Second)
	var list struct{ Deployments []nowDeployment }
	s.must(200, "GET", "/now/deployments", nil, &list)
	if len(list.Deployments) != 2 || list.Deployments[0].UID != one.UID || list.Deployments[1].State != "READY" {
		t.Errorf("list after restart: %+v", list)
	}

	// A deployment whose server exits at once ends in error, with the reason in its logs.
	var bad nowDeployment
	badBody, _ := json.Marshal(map[string]any{"package": map[string]any{"name": "broken", "scripts": map[string]string{"start": "node server.js"}},
		"server.js": "process.exit(3)\n"})
	s.must(200, "POST", "/now/deployments", badBody, &bad)
	if got := waitDeployment(t, s, bad.UID); got.State != "DEPLOYMENT_ERROR" {
		t.Errorf("a crashing deployment: %+v", got)
	}

	// Deleted: its host answers 404 (no such app), the other goes on.
	var del struct{ UID, State string }
	s.must(200, "DELETE", "/now/deployments/"+one.UID, nil, &del)
	if del.UID != one.UID || del.State != "DELETED" {
		t.Errorf("DELETE: %+v", del)
	}
	s.waitStatus(one.Host, 404, 10*time.Second)
	s.waitFor(two.Host, "two", 5*time.Second)
	s.must(404, "GET", "/now/deployments/"+one.UID, nil, nil)
	s.must(200, "DELETE", "/now/deployments/"+two.UID, nil, nil)
	s.must(200, "DELETE", "/now/deployments/"+bad.UID, nil, nil)
	units, err := d.Units(t.Context())
	if err != nil || len(units) != 0 {
		t.Errorf("units left after every deployment is deleted: %+v %v", units, err)
	}
}

// rawGet is an admin GET of path on the API, answering the status and the body as text.
func rawGet(t *testing.T, s *testServer, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.api+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", s.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}
