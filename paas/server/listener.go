package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// unitSubnets is implemented by runtimes whose units live on known networks
// (runtime.Docker).
type unitSubnets interface {
	Subnets(ctx context.Context) ([]netip.Prefix, error)
}

// refusingListener drops connections from the given prefixes. The API uses
// it so that app units cannot reach it even when it listens beyond loopback
// (through their network's gateway).
type refusingListener struct {
	net.Listener
	refuse []netip.Prefix
	log    *slog.Logger
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.refused(c.RemoteAddr()) {
			return c, nil
		}
		l.log.Warn("refused an API connection from an app unit", "from", c.RemoteAddr().String())
		c.Close()
	}
}

func (l *refusingListener) refused(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range l.refuse {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// capListener caps the connections open at once per client address:
// idle or trickling connections from one address cannot use up the
// process's file descriptors (and with them the engine's socket). A
// connection over the cap is closed at once.
type capListener struct {
	net.Listener
	perAddr int
	log     *slog.Logger

	mu   sync.Mutex
	open map[netip.Addr]int
}

func newCapListener(ln net.Listener, perAddr int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, perAddr: perAddr, log: log, open: map[netip.Addr]int{}}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil
		}
		ip := ap.Addr().Unmap()
		l.mu.Lock()
		if l.open[ip] >= l.perAddr {
			l.mu.Unlock()
			l.log.Warn("too many connections from one address; closing a new one", "from", ip.String(), "cap", l.perAddr)
			c.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &cappedConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			if l.open[ip]--; l.open[ip] <= 0 {
				delete(l.open, ip)
			}
			l.mu.Unlock()
		})}, nil
	}
}

type cappedConn struct {
	net.Conn
	release func()
}

func (c *cappedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// bodyIdleTimeout cuts a request whose body stops arriving: each read of
// the body pushes the connection's read deadline on by idle, so a large
// upload at any steady pace goes through and a body trickling a byte every
// few seconds, or stalled, does not hold the connection. Streams the
// handler writes (log follows) are unaffected: only reading is bounded.
func bodyIdleTimeout(idle time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(idle)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, idle: idle}
			}
		}
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	return n, err
}
