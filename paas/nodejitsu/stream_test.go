package nodejitsu_test

import (
	"bufio"
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// TestLogStreamEndsOnRevocation: a live log stream ends when its token is
// revoked or its user deleted, and never carries the logs of a new account
// or app that took the same name.
func TestLogStreamEndsOnRevocation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cred   func(a paastest.Account) paastest.Cred
		revoke func(t *testing.T, h *harness, a paastest.Account)
	}{
		{"token revoked", paastest.Account.Bearer, func(t *testing.T, h *harness, a paastest.Account) {
			want(t, h.do(t, "DELETE", "/users/"+a.Name+"/tokens/tok", a.Basic(), nil), 200)
		}},
		{"user deleted and signed up again", paastest.Account.Basic, func(t *testing.T, h *harness, a paastest.Account) {
			want(t, h.do(t, "DELETE", "/users/"+a.Name, a.Basic(), nil), 200)
			again := h.NewUser(t, a.Name) // same name, same password: another account
			h.createApp(t, again.Name, "stream-"+a.Name)
			_ = h.Store.AppendLogs(again.Name+"/stream-"+a.Name, []paas.LogEntry{{Time: time.Now().UTC(), Source: "app", Text: "the new account's secret"}})
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			a := h.NewUser(t, "streamer"+string(rune('a'+i)))
			app := "stream-" + a.Name
			h.createApp(t, a.Name, app)
			if err := h.Store.AppendLogs(a.Name+"/"+app, []paas.LogEntry{{Time: time.Now().UTC(), Source: "app", Text: "first"}}); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", h.URL()+"/apps/"+a.Name+"/"+app+"/logs?follow=1&rows=10", nil)
			c.cred(a)(req)
			res, err := h.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			lines := make(chan string, 100)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			select {
			case <-lines:
			case <-time.After(5 * time.Second):
				t.Fatal("no first line")
			}
			c.revoke(t, h, a)
			deadline := time.After(5 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						return // the stream ended
					}
					t.Errorf("the stream went on after the revocation: %s", l)
				case <-deadline:
					t.Fatal("the stream is still open after the revocation")
				}
			}
		})
	}
}
