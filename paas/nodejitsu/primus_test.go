package nodejitsu_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/selfhost/paas/paas/paastest"
)

// TestPrimusLiveTail: a websocket client speaking Primus's framing (as
// nodejitsu-api 0.6 does) subscribes with Basic credentials, receives the
// backlog and a line written afterwards, gets its pongs, and is closed
// once its token is deleted.
func TestPrimusLiveTail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, paastest.Config{})
	u := h.NewUser(t, "dev")
	h.createApp(t, "dev", "app")
	h.uploadSnapshot(t, "dev", "app", "v1")
	if r := h.do(t, "POST", "/apps/dev/app/start", u.Basic(), "{}"); r.Status != 200 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(user, secret string) (*websocket.Conn, *http.Response, error) {
		url := strings.Replace(h.Server.URL, "http://", "ws://", 1) + "/primus/?subscribe=logs/dev/app&_primuscb=" + "x1"
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{
			"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))}}})
	}
	if _, res, err := dial("dev", "wrong"); err == nil || res == nil || res.StatusCode != 401 {
		t.Errorf("wrong credentials: %v %v", res, err)
	}
	conn, _, err := dial("dev", u.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	read := func() any {
		t.Helper()
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("a frame that is not JSON: %q", data)
		}
		return v
	}
	// The backlog: the deploy's lines, in the listing's shape.
	first, ok := read().(map[string]any)
	if !ok || first["service"] != "logs/stdout" || first["description"] == nil || first["time"] == nil {
		t.Fatalf("first frame: %v", first)
	}
	// A ping gets its pong; a line written now arrives.
	if err := conn.Write(ctx, websocket.MessageText, []byte(`"primus::ping::1234"`)); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "POST", "/apps/dev/app/restart", u.Basic(), "{}"); r.Status != 200 {
		t.Fatalf("restart: %d %s", r.Status, r.Body)
	}
	sawPong, sawNew := false, false
	for !sawPong || !sawNew {
		switch v := read().(type) {
		case string:
			sawPong = sawPong || v == "primus::pong::1234"
		case map[string]any:
			sawNew = sawNew || strings.Contains(v["description"].(string), "restart") || strings.Contains(v["description"].(string), "starting release")
		}
	}
	// The token goes: the server says so and closes.
	if r := h.do(t, "DELETE", "/users/dev/tokens/tok", u.Basic(), nil); r.Status/100 != 2 {
		t.Fatalf("delete the token: %d %s", r.Status, r.Body)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			break // closed
		}
		if string(data) == `"primus::server::close"` {
			if _, _, err := conn.Read(ctx); err == nil {
				t.Error("the socket stayed open after primus::server::close")
			}
			break
		}
	}
}
