package server_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// nowDeploymentBody is POST /now/deployments's body: app name, answering greeting.
func nowDeploymentBody(t testing.TB, name, greeting string) []byte {
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
	if code, out := rawGet(t, s, "/now/deployments/"+waitDeployment(t, s, bad.UID).UID); code != 200 ||
		!strings.Contains(out, `"state":"DEPLOYMENT_ERROR"`) || !strings.Contains(out, "exited with code 3") {
		t.Errorf("a crashing deployment: %d %s", code, out)
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

// rawGet is an admin GET of path, answering the status and the body as text.
func rawGet(t *testing.T, s *testServer, path string) (int, string) {
	t.Helper()
	return rawCall(t, s, "GET", path, "")
}

// TestDockerNowAliases: an alias follows the deployment it is set to, and
// moving it from one READY deployment to another fails no request made to
// it meanwhile. The app's own hostname is an alias too: the app then
// serves that deployment, as the Nodejitsu face shows.
func TestDockerNowAliases(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base)

	var one, two nowDeployment
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "shop", "one"), &one)
	waitDeployment(t, s, one.UID)
	var created struct{ UID, OldID, Created string }
	s.must(200, "POST", "/now/deployments/"+one.UID+"/aliases", []byte(`{"alias":"www"}`), &created)
	if created.UID == "" || created.OldID != "" {
		t.Fatalf("new alias: %+v", created)
	}
	const alias = "www.localhost"
	s.waitFor(alias, "one", 10*time.Second)
	if code, body := rawCall(t, s, "POST", "/now/deployments/"+one.UID+"/aliases", `{"alias":"www.now.sh"}`); code != 409 || !strings.Contains(body, created.UID) {
		t.Errorf("the same alias again: %d %s, want 409 with its uid", code, body)
	}

	// Requests to the alias while it moves: every one answered, first by
	// one, then by two, never an error.
	stop := make(chan struct{})
	type result struct {
		answers map[string]int
		failed  []string
	}
	done := make(chan result)
	go func() {
		res := result{answers: map[string]int{}}
		for {
			select {
			case <-stop:
				done <- res
				return
			default:
			}
			code, body, err := s.get(alias)
			switch {
			case err != nil:
				res.failed = append(res.failed, err.Error())
			case code != 200:
				res.failed = append(res.failed, strconv.Itoa(code)+" "+body)
			default:
				res.answers[body]++
			}
		}
	}()
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "shop", "two"), &two)
	var moved struct{ UID, OldID string }
	// Set while two still boots: the move waits until it is READY.
	s.must(200, "POST", "/now/deployments/"+two.UID+"/aliases", []byte(`{"alias":"www"}`), &moved)
	if moved.UID != created.UID || moved.OldID != one.UID {
		t.Errorf("moved alias: %+v, want uid %s and oldId %s", moved, created.UID, one.UID)
	}
	s.waitFor(alias, "two", 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	res := <-done
	if len(res.failed) > 0 || res.answers["one"] == 0 || res.answers["two"] == 0 {
		t.Errorf("requests during the move: answers %v, %d failed: %v", res.answers, len(res.failed), res.failed[:min(len(res.failed), 5)])
	}
	t.Logf("during the move: %v", res.answers)
	s.waitFor(one.Host, "one", 5*time.Second) // its own hostname still serves it

	// The app's own hostname.
	s.must(200, "POST", "/now/deployments/"+one.UID+"/aliases", []byte(`{"alias":"shop"}`), nil)
	s.waitFor("shop.localhost", "one", 10*time.Second)
	var app struct {
		App struct{ Snapshot, State string }
	}
	s.must(200, "GET", "/apps/admin/shop", nil, &app)
	if app.App.Snapshot != one.UID {
		t.Errorf("the Nodejitsu view of the app: %+v, want snapshot %s", app.App, one.UID)
	}
	var aliases struct {
		Aliases []struct{ UID, Alias, DeploymentID string }
	}
	s.must(200, "GET", "/now/aliases", nil, &aliases)
	if len(aliases.Aliases) != 2 || aliases.Aliases[0].Alias != alias || aliases.Aliases[0].DeploymentID != two.UID || aliases.Aliases[1].Alias != "shop.localhost" {
		t.Errorf("aliases: %+v", aliases)
	}

	// Deleting an alias takes its hostname away; deleting a deployment its aliases.
	s.must(200, "DELETE", "/now/aliases/"+created.UID, nil, nil)
	s.waitStatus(alias, 404, 10*time.Second)
	s.must(200, "DELETE", "/now/deployments/"+one.UID, nil, nil)
	s.must(200, "GET", "/now/aliases", nil, &aliases)
	if len(aliases.Aliases) != 0 {
		t.Errorf("aliases left: %+v", aliases)
	}
	s.must(200, "DELETE", "/apps/admin/shop", nil, nil)
	if units, err := d.Units(t.Context()); err != nil || len(units) != 0 {
		t.Errorf("units left after the app is deleted: %+v %v", units, err)
	}
}

// rawCall is an admin API call with a JSON body, answering the status and the body as text.
func rawCall(t *testing.T, s *testServer, method, path, body string) (int, string) {
	t.Helper()
	return rawCallHeaders(t, s, method, path, body, nil)
}

// rawCallHeaders is rawCall with headers; an X-Write-Key sends no admin credentials.
func rawCallHeaders(t *testing.T, s *testServer, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if headers["X-Write-Key"] == "" {
		req.SetBasicAuth("admin", s.password)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestDockerNowCLIFlow: the now CLI 3.x's deploy on the real engine. Create
// answers the SHA-1s the store lacks; each is synced by its SHA-1 (the
// CLI garbles x-now-file); the last one boots the deployment, whose env
// has the value of the secret it names. The same files again are missing
// nothing. The secret's value is in no answer and not in the data file.
func TestDockerNowCLIFlow(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, d, base)

	const secret = "s3cret-greeting-value"
	var sec struct{ UID string }
	s.must(200, "POST", "/now/secrets", []byte(`{"name":"greeting","value":"`+secret+`"}`), &sec)
	pkg := `{"name":"cli","version":"1.0.0","scripts":{"start":"node server.js"}}`
	server := "require('http').createServer((q, s) => s.end(process.env.GREETING + ' ' + process.env.PLAIN)).listen(process.env.PORT);\n"
	files := map[string]string{"package.json": pkg, "server.js": server}
	createBody := func() []byte {
		var list []map[string]any
		for _, name := range []string{"package.json", "server.js"} {
			list = append(list, map[string]any{"sha": sha1Hex(files[name]), "size": len(files[name]), "file": name, "mode": 33188})
		}
		b, _ := json.Marshal(map[string]any{"name": "cli", "deploymentType": "NPM", "files": list,
			"env": map[string]any{"GREETING": "@greeting", "PLAIN": "plain"}, "forceNew": false, "public": false})
		return b
	}
	var created struct {
		DeploymentID, URL string
		Missing           []string
	}
	code, out := rawCall(t, s, "POST", "/now/create", string(createBody()))
	if code != 200 {
		t.Fatalf("create: %d %s", code, out)
	}
	json.Unmarshal([]byte(out), &created)
	if len(created.Missing) != 2 || !strings.HasPrefix(created.URL, "cli-") || strings.Contains(out, secret) {
		t.Fatalf("create: %s", out)
	}
	var dep nowDeployment
	s.must(200, "GET", "/now/deployments/"+created.DeploymentID, nil, &dep)
	if dep.State != "DEPLOYING" || dep.URL != nil {
		t.Errorf("before its files: %+v, want DEPLOYING with url null", dep)
	}
	bySHA := map[string]string{sha1Hex(pkg): pkg, sha1Hex(server): server}
	for _, sha := range created.Missing {
		req, _ := http.NewRequest("POST", "http://"+s.api+"/now/sync", strings.NewReader(bySHA[sha]))
		req.SetBasicAuth("admin", s.password)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("x-now-deployment-id", created.DeploymentID)
		req.Header.Set("x-now-sha", sha)
		req.Header.Set("x-now-file", "%2Fgarbled%2F")
		req.Header.Set("x-now-size", strconv.Itoa(len(bySHA[sha])))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("sync %s: %d", sha, resp.StatusCode)
		}
	}
	if got := waitDeployment(t, s, created.DeploymentID); got.State != "READY" {
		t.Fatalf("after sync: %+v", got)
	}
	s.waitFor(created.URL, secret+" plain", 10*time.Second)

	// The same files: nothing missing, booted at once.
	code, out = rawCall(t, s, "POST", "/now/create", string(createBody()))
	if code != 200 || !strings.Contains(out, `"missing":[]`) {
		t.Fatalf("create again: %d %s", code, out)
	}
	var again struct{ DeploymentID, URL string }
	json.Unmarshal([]byte(out), &again)
	waitDeployment(t, s, again.DeploymentID)
	s.waitFor(again.URL, secret+" plain", 10*time.Second)

	// Listed with epoch milliseconds; removed the CLI's way.
	code, out = rawGet(t, s, "/now/list?app=cli")
	if code != 200 || strings.Count(out, `"uid"`) != 2 || strings.Contains(out, secret) {
		t.Errorf("list: %d %s", code, out)
	}
	for _, uid := range []string{created.DeploymentID, again.DeploymentID} {
		if code, out := rawCall(t, s, "DELETE", "/now/remove", `{"deploymentId":"`+uid+`","hard":true}`); code != 200 {
			t.Errorf("remove: %d %s", code, out)
		}
	}
	s.must(200, "DELETE", "/apps/admin/cli", nil, nil)
	s.stop()
	raw, err := os.ReadFile(filepath.Join(dataDir, "paas.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("the secret's value is in the data file in the clear")
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// waitState polls GET /now/deployments/:id until its state is want.
func waitState(t testing.TB, s *testServer, uid, want string, within time.Duration) {
	t.Helper()
	var d nowDeployment
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.must(200, "GET", "/now/deployments/"+uid, nil, &d)
		if d.State == want {
			return
		}
	}
	t.Fatalf("deployment %s is %s after %s, want %s", uid, d.State, within, want)
}

// unitsOf counts the engine's units of deployment uid.
func unitsOf(t testing.TB, d *runtime.Docker, uid string) int {
	t.Helper()
	units, err := d.Units(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range units {
		if strings.HasSuffix(u.App, "~"+uid) {
			n++
		}
	}
	return n
}

// TestDockerNowScaleToZero: a deployment no alias points at is stopped
// after the idle time without a request and shown FROZEN; its next
// requests, all at once, are held, answered, and start it once; an
// aliased deployment is never frozen.
func TestDockerNowScaleToZero(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	s := startServer(t, t.TempDir(), d, base, func(c *server.Config) { c.IdleTimeout = time.Second })

	var idle, kept nowDeployment
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "nap", "zzz"), &idle)
	s.must(200, "POST", "/now/deployments", nowDeploymentBody(t, "nap", "kept"), &kept)
	// Its first request is held while it boots, never a 503.
	s.waitFor(idle.Host, "zzz", 30*time.Second)
	waitDeployment(t, s, kept.UID)
	s.must(200, "POST", "/now/deployments/"+kept.UID+"/aliases", []byte(`{"alias":"nap-live"}`), nil)

	waitState(t, s, idle.UID, "FROZEN", 10*time.Second)
	for deadline := time.Now().Add(15 * time.Second); unitsOf(t, d, idle.UID) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a frozen deployment still has %d units", unitsOf(t, d, idle.UID))
		}
	}
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, err := s.get(idle.Host)
			answers[i] = fmt.Sprintf("%d %s %v", code, body, err)
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a != "200 zzz <nil>" {
			t.Errorf("request %d to the frozen deployment: %s", i, a)
		}
	}
	if n := unitsOf(t, d, idle.UID); n != 1 {
		t.Errorf("after the wake: %d units, want 1 (started once)", n)
	}
	var got nowDeployment
	s.must(200, "GET", "/now/deployments/"+idle.UID, nil, &got)
	if got.State != "READY" {
		t.Errorf("after the wake: %s", got.State)
	}
	s.must(200, "GET", "/now/deployments/"+kept.UID, nil, &got)
	if got.State != "READY" || unitsOf(t, d, kept.UID) != 1 {
		t.Errorf("the aliased deployment: %s, %d units", got.State, unitsOf(t, d, kept.UID))
	}
	s.waitFor("nap-live.localhost", "kept", 5*time.Second)
}
