package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
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
