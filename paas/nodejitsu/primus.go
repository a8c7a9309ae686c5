package nodejitsu

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
)

// The live tail of nodejitsu-api 0.6 (`jitsu logs tail`): a Primus 1.4
// socket (websockets transformer, JSON parser) at
// /primus/?subscribe=logs/<user>/<app>, authenticated by the Basic
// credentials its URL carries. Every frame is one JSON value: the server
// sends the last lines and then each new one in the shape of GET
// /logs/:u/:app; the client's "primus::ping::<ms>" gets
// "primus::pong::<ms>"; "primus::server::close" ends the socket, sent when
// the credential, the user or the app goes.
//
// github.com/coder/websocket does the RFC 6455 side (handshake, masking,
// fragments, close, ping): a small, maintained, context-aware library,
// where writing the protocol here would be several hundred lines to get
// right for one route.

const (
	primusBacklog   = 10                     // lines sent at once, as GET /logs/:u/:app's default
	primusPoll      = 300 * time.Millisecond // how often new lines are looked for
	primusPerUser   = 8                      // sockets one user may hold open
	primusReadLimit = 4 << 10                // a client frame: pings, nothing big
)

// primusSockets counts the open sockets per user.
type primusSockets struct {
	mu     sync.Mutex
	byUser map[string]int
}

func (s *primusSockets) acquire(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byUser == nil {
		s.byUser = map[string]int{}
	}
	if s.byUser[user] >= primusPerUser {
		return false
	}
	s.byUser[user]++
	return true
}

func (s *primusSockets) release(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byUser[user]--; s.byUser[user] <= 0 {
		delete(s.byUser, user)
	}
}

func (f *Face) primus(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	sub := r.URL.Query().Get("subscribe")
	rest, ok := strings.CutPrefix(sub, "logs/")
	user, appName, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || user == "" || appName == "" {
		return paas.BadRequest("subscribe to logs/<user>/<app>")
	}
	a, err := f.p.App(r.Context(), pr, user, appName)
	if err != nil {
		return err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		return &paas.Error{Status: http.StatusUpgradeRequired, Code: "upgrade_required", Err: paas.ErrBadRequest,
			Message: "the live tail is a websocket: connect with Upgrade: websocket"}
	}
	if !f.sockets.acquire(pr.User.Name) {
		return paas.RateLimited("%s has %d live tails open already", pr.User.Name, primusPerUser)
	}
	defer f.sockets.release(pr.User.Name)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil // Accept answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(primusReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	var wmu sync.Mutex
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		wmu.Lock()
		defer wmu.Unlock()
		wctx, done := context.WithTimeout(ctx, 10*time.Second)
		defer done()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	// The client's frames: pings are answered; anything else is ignored;
	// a read error (the client went) ends the socket.
	go func() {
		defer cancel()
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var msg string
			if json.Unmarshal(data, &msg) == nil {
				if ms, ok := strings.CutPrefix(msg, "primus::ping::"); ok {
					if send("primus::pong::"+ms) != nil {
						return
					}
				}
			}
		}
	}()
	entries, cursor, err := f.p.TailLogs(ctx, pr, a, nil, primusBacklog)
	for err == nil {
		for _, e := range entries {
			if err = send(logLine(e)); err != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(primusPoll):
		}
		// TailLogs checks the credential and the app each time.
		entries, cursor, err = f.p.TailLogs(ctx, pr, a, cursor, maxLogRows)
	}
	if ctx.Err() == nil {
		_ = send("primus::server::close")
		conn.Close(websocket.StatusNormalClosure, "the credential or the app is gone")
	}
	return nil
}
