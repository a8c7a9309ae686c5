package dns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// recorder is a ResponseWriter that keeps what was written, after a
// pack/unpack round trip so tests see exactly what goes on the wire.
type recorder struct {
	t      testing.TB
	remote net.Addr
	msgs   []*mdns.Msg
}

func newRecorder(t testing.TB, tcp bool) *recorder {
	var a net.Addr = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 200), Port: 40000}
	if tcp {
		a = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 200), Port: 40000}
	}
	return &recorder{t: t, remote: a}
}

func (r *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		r.t.Errorf("response does not pack: %v\n%v", err, m)
		return err
	}
	got := new(mdns.Msg)
	if err := got.Unpack(b); err != nil {
		r.t.Errorf("response does not unpack: %v", err)
		return err
	}
	if _, udp := r.remote.(*net.UDPAddr); udp && len(b) > maxUDPSize {
		r.t.Errorf("UDP response of %d bytes", len(b))
	}
	r.msgs = append(r.msgs, got)
	return nil
}
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

func (r *recorder) last() *mdns.Msg {
	if len(r.msgs) == 0 {
		return nil
	}
	return r.msgs[len(r.msgs)-1]
}

const testSerial = 2024010101

func testSOA(origin string, serial uint32) string {
	return origin + " 60 IN SOA ns1." + origin + " hostmaster." + origin + " " +
		strconv.FormatUint(uint64(serial), 10) + " 3600 600 1209600 60"
}

func testZones() []Zone {
	return []Zone{
		{
			Origin: "Example.COM.",
			Serial: testSerial,
			NS:     []string{"ns1.example.com", "ns2.example.net."},
			Records: []Record{
				{Name: "", Type: "A", Value: "192.0.2.1", TTL: 300},
				{Name: "@", Type: "AAAA", Value: "2001:db8::1"},
				{Name: "", Type: "MX", Value: "mail.example.com", MXPriority: 10},
				{Name: "", Type: "MX", Value: "mx2.example.net", MXPriority: 20},
				{Name: "", Type: "TXT", Value: "v=spf1 -all"},
				{Name: "", Type: "CAA", Value: `0 issue "letsencrypt.org"`},
				{Name: "ns1", Type: "A", Value: "192.0.2.53"},
				{Name: "mail", Type: "A", Value: "192.0.2.25"},
				{Name: "www", Type: "CNAME", Value: "web.example.com"},
				{Name: "web", Type: "cname", Value: "APP.example.com."},
				{Name: "app", Type: "A", Value: "192.0.2.10"},
				{Name: "app", Type: "A", Value: "192.0.2.11"},
				{Name: "ext", Type: "CNAME", Value: "target.example.net"},
				{Name: "_sip._tcp", Type: "SRV", Value: "10 5 5060 sip.example.com"},
				{Name: "sip", Type: "AAAA", Value: "2001:db8::5060"},
				{Name: "a.b.c", Type: "A", Value: "192.0.2.30"},
				{Name: "*", Type: "A", Value: "192.0.2.99"},
				{Name: "*", Type: "TXT", Value: "wild"},
				{Name: "*.dev", Type: "CNAME", Value: "app.example.com"},
				{Name: "sub", Type: "TXT", Value: "exists"},
				{Name: "long", Type: "TXT", Value: strings.Repeat("x", 300)},
				{Name: "cross", Type: "CNAME", Value: "www.example.org"},
				{Name: "crossnx", Type: "CNAME", Value: "nope.example.org"},
				{Name: "loop1", Type: "CNAME", Value: "loop2.example.com"},
				{Name: "loop2", Type: "CNAME", Value: "loop1.example.com"},
				{Name: "alias-in", Type: "ALIAS", Value: "app.example.com"},
				{Name: "alias-www", Type: "ALIAS", Value: "www.example.com", TTL: 30},
				{Name: "alias-ext", Type: "ALIAS", Value: "cdn.provider.test"},
				{Name: "alias-fail", Type: "ALIAS", Value: "broken.provider.test"},
				{Name: "alias-nx", Type: "ALIAS", Value: "missing.provider.test"},
				{Name: "deleg", Type: "NS", Value: "ns.deleg.example.com"},
				{Name: "ns.deleg", Type: "A", Value: "192.0.2.77"},
			},
		},
		{
			Origin: "example.org",
			Serial: 7,
			Records: []Record{
				{Name: "", Type: "ALIAS", Value: "cdn.provider.test"},
				{Name: "www", Type: "A", Value: "198.51.100.1"},
			},
		},
	}
}

// fakeResolver stands in for the system resolver behind ALIAS.
func fakeResolver(calls *int) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		if calls != nil {
			*calls++
		}
		switch host {
		case "cdn.provider.test":
			return []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8:cd::5")}, nil
		case "missing.provider.test":
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return nil, errors.New("upstream timeout")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = fakeResolver(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s := NewServer(cfg)
	if err := s.SetZones(testZones()); err != nil {
		t.Fatalf("SetZones: %v", err)
	}
	return s
}

// rrStrings normalises records (given as RRs or presentation strings) for
// order-insensitive comparison.
func rrStrings(t testing.TB, rrs []mdns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func parseRRs(t testing.TB, ss []string) []string {
	t.Helper()
	var rrs []mdns.RR
	for _, s := range ss {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("bad test RR %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	return rrStrings(t, rrs)
}

func query(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return m
}
