package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas/api"
)

func named(name string) api.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) error {
		w.Header().Set("X-Handler", name)
		w.Header().Set("X-Param", ps.ByName("user"))
		return nil
	}
}

// TestRouterGroups: a static segment beside a parameter, which one
// httprouter tree refuses, works as two groups tried in order.
func TestRouterGroups(t *testing.T) {
	a := &api.Adapter{Before: func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Face", "test") }}
	rt := a.NewRouter(
		[]api.Route{{Method: "GET", Path: "/users/info", Name: "info", Handle: named("info")}},
		[]api.Route{
			{Method: "GET", Path: "/users/:user", Name: "user", Handle: named("user")},
			{Method: "POST", Path: "/users/:user/password", Name: "password", Handle: named("password")},
		},
	)
	cases := []struct {
		method, path   string
		status         int
		handler, param string
	}{
		{"GET", "/users/info", 200, "info", ""},
		{"GET", "/users/bob", 200, "user", "bob"},
		{"POST", "/users/info/password", 200, "password", "info"}, // the static group has no such path
		{"POST", "/users/info", 405, "", ""},                      // known path, other method
		{"DELETE", "/users/bob", 405, "", ""},
		{"GET", "/users/bob/password", 405, "", ""},
		{"GET", "/nope", 404, "", ""},
		{"GET", "/Users/info", 404, "", ""}, // never redirected to the fixed path
		{"GET", "/users/bob/", 404, "", ""}, // nor to the one without the slash (StripTrailingSlash does that)
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.status || rec.Header().Get("X-Handler") != c.handler || rec.Header().Get("X-Param") != c.param {
				t.Fatalf("got %d handler %q param %q, want %d %q %q: %s", rec.Code, rec.Header().Get("X-Handler"),
					rec.Header().Get("X-Param"), c.status, c.handler, c.param, rec.Body)
			}
			if rec.Header().Get("X-Face") != "test" {
				t.Errorf("answer without the face's headers")
			}
		})
	}
	if n := len(rt.Routes()); n != 3 {
		t.Errorf("Routes() lists %d routes, want 3", n)
	}
	rec := httptest.NewRecorder()
	api.StripTrailingSlash(rt).ServeHTTP(rec, httptest.NewRequest("GET", "/users/bob/", nil))
	if rec.Header().Get("X-Handler") != "user" {
		t.Errorf("StripTrailingSlash: /users/bob/ reached %q", rec.Header().Get("X-Handler"))
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	l := api.NewLimiter(3, time.Minute, func() time.Time { return now })
	if q := l.Peek("a"); !q.Allowed || q.Remaining != 3 {
		t.Fatalf("fresh key: %+v", q)
	}
	for i := 3; i > 0; i-- {
		q := l.Take("a")
		if !q.Allowed || q.Remaining != i-1 || !q.Reset.Equal(now.Add(time.Minute)) {
			t.Fatalf("take %d: %+v", 4-i, q)
		}
	}
	if q := l.Take("a"); q.Allowed || q.Remaining != 0 {
		t.Fatalf("over the limit: %+v", q)
	}
	if q := l.Peek("a"); q.Allowed {
		t.Fatalf("peek over the limit: %+v", q)
	}
	if q := l.Take("b"); !q.Allowed || q.Remaining != 2 {
		t.Fatalf("another key shares the allowance: %+v", q)
	}
	start := now
	now = start.Add(time.Minute - time.Nanosecond)
	if q := l.Take("a"); q.Allowed {
		t.Fatalf("allowed before the window ended: %+v", q)
	}
	now = start.Add(time.Minute)
	if q := l.Take("a"); !q.Allowed || q.Remaining != 2 || !q.Reset.Equal(now.Add(time.Minute)) {
		t.Fatalf("new window: %+v", q)
	}
}

// TestLimiterMemoryIsBounded: a flood of distinct keys never grows the
// table beyond its bound, and live keys are kept while expired ones go.
func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := api.NewLimiter(1, time.Minute, func() time.Time { return now })
	for i := range 250_000 {
		l.Take(string(rune(i)) + "k")
	}
	if n := api.LimiterKeys(l); n > 100_000 {
		t.Fatalf("%d keys kept, want at most 100000", n)
	}
}
