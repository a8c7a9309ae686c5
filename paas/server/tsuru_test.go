package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/runtime"
)

// tsuruCall makes a request the tsuru client's way: bearer token
// (lowercase scheme), the body as given.
func tsuruCall(t *testing.T, s *testServer, token, method, path, ctype string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.api+"/tsuru"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Connection", "close")
	res, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.Header.Get("Supported-Tsuru") == "" {
		t.Errorf("%s %s: no Supported-Tsuru header", method, path)
	}
	return res.StatusCode, string(data)
}

// TestTsuruFlow drives a whole platform the tsuru client's way: log in,
// create a team and two apps, deploy both (the log streamed to OK), see
// them through the ingress, swap them and see both hostnames switch, run
// a command in the units and read the logs.
func TestTsuruFlow(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	s := startServer(t, t.TempDir(), fake, "", nil...)
	must := func(want int, token, method, path, ctype string, body []byte) string {
		t.Helper()
		code, out := tsuruCall(t, s, token, method, path, ctype, body)
		if code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, out)
		}
		return out
	}
	code, scheme := tsuruCall(t, s, "", "GET", "/auth/scheme", "", nil)
	if code != 200 || !strings.Contains(scheme, "native") {
		t.Fatalf("auth scheme: %d %s", code, scheme)
	}
	var login struct{ Token string }
	json.Unmarshal([]byte(must(200, "", "POST", "/users/admin@localhost/tokens", "", []byte(`{"password":"`+s.password+`"}`))), &login)
	tok := login.Token
	must(201, tok, "POST", "/teams", "", []byte(`{"name":"crew"}`))
	must(201, tok, "POST", "/apps", "", []byte(`{"name":"blue","platform":"node","teamOwner":"crew"}`))
	must(201, tok, "POST", "/apps", "", []byte(`{"name":"green"}`))
	for _, app := range []string{"blue", "green"} {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile("file", "archive.tar.gz")
		fw.Write(paastest.TarGz(t, map[string]string{"package.json": `{"name":"` + app + `","scripts":{"start":"node server.js"}}`, "server.js": "//"}))
		mw.Close()
		if out := must(200, tok, "POST", "/apps/"+app+"/deploy", mw.FormDataContentType(), b.Bytes()); !strings.HasSuffix(out, "\nOK\n") {
			t.Fatalf("deploy of %s: %q", app, out)
		}
	}
	waitPrefix := func(host, prefix string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body, err := s.get(host)
			if err == nil && code == 200 && strings.HasPrefix(body, prefix) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: want %q…, got %d %q %v", host, prefix, code, body, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var deploys []struct {
		ID, Error string
		Duration  int64
	}
	json.Unmarshal([]byte(must(200, tok, "GET", "/deploys?app=blue", "", nil)), &deploys)
	if len(deploys) != 1 || deploys[0].Duration <= 0 || deploys[0].Error != "" {
		t.Errorf("deploy list: %+v", deploys)
	}
	waitPrefix("blue.localhost", "crew/blue ")
	waitPrefix("green.localhost", "admin/green ")

	must(200, tok, "PUT", "/swap?app1=blue&app2=green", "", nil)
	waitPrefix("blue.localhost", "admin/green ")
	waitPrefix("green.localhost", "crew/blue ")
	var info struct {
		Ip      string
		Deploys uint
	}
	json.Unmarshal([]byte(must(200, tok, "GET", "/apps/blue", "", nil)), &info)
	if info.Ip != "green.localhost" || info.Deploys != 1 {
		t.Errorf("blue after the swap: address %q, %d deploys", info.Ip, info.Deploys)
	}

	if out := must(200, tok, "POST", "/apps/blue/run?once=true", "", []byte("echo hello")); !strings.Contains(out, `"Message":"ran echo hello in `) {
		t.Errorf("run: %s", out)
	}
	if out := must(200, tok, "POST", "/apps/blue/run", "", []byte("false")); !strings.Contains(out, `"Error":"the command exited with status 1`) {
		t.Errorf("a failing run: %s", out)
	}
	logs := must(200, tok, "GET", "/apps/blue/log?lines=50&source=tsuru", "", nil)
	if !strings.Contains(logs, "starting release") {
		t.Errorf("logs: %s", logs)
	}
	must(400, tok, "GET", "/apps/blue/log", "", nil)
	must(401, "not-a-token", "GET", "/apps", "", nil)
}
