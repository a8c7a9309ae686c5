package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// startServer runs s on loopback port 0 and stops it when the test ends.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("ListenAndServe: %v", err)
	}
	u, tc := s.UDPAddr().(*net.UDPAddr), s.TCPAddr().(*net.TCPAddr)
	if u.Port != tc.Port {
		t.Fatalf("UDP port %d != TCP port %d", u.Port, tc.Port)
	}
	return u.String()
}

func exchange(t testing.TB, netw, addr string, q *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: netw}
	r, _, err := c.ExchangeContext(context.Background(), q, addr)
	if err != nil {
		t.Fatalf("%s exchange: %v", netw, err)
	}
	return r
}

func TestRealSockets(t *testing.T) {
	s := NewServer(Config{Addr: "127.0.0.1:0", Logger: quietLogger(), Resolver: fakeResolver(nil),
		AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := s.SetZones(append(testZones(), bigTXTZone())); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)

	for _, netw := range []string{"udp", "tcp"} {
		r := exchange(t, netw, addr, query("app.example.com.", mdns.TypeA))
		if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 2 {
			t.Errorf("%s: %v", netw, r)
		}
	}

	// Too big for 512 bytes: TC over UDP, complete over TCP.
	q := query("big.example.net.", mdns.TypeTXT)
	r := exchange(t, "udp", addr, q)
	if !r.Truncated {
		t.Errorf("UDP answer of %d records not truncated", len(r.Answer))
	}
	r = exchange(t, "tcp", addr, q)
	if r.Truncated || len(r.Answer) != bigTXTCount {
		t.Errorf("TCP: TC=%v answers=%d, want %d", r.Truncated, len(r.Answer), bigTXTCount)
	}
	q.SetEdns0(4096, false)
	r = exchange(t, "udp", addr, q)
	if r.Truncated || len(r.Answer) != bigTXTCount || r.IsEdns0() == nil {
		t.Errorf("UDP with EDNS 4096: TC=%v answers=%d OPT=%v", r.Truncated, len(r.Answer), r.IsEdns0() != nil)
	}

	// AXFR with the standard client.
	tr := new(mdns.Transfer)
	m := new(mdns.Msg)
	m.SetAxfr("example.com.")
	env, err := tr.In(m, s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		n += len(e.RR)
	}
	if n < 10 {
		t.Errorf("AXFR returned %d records", n)
	}

	// LookupTXT against our own server, with the TCP fallback and CNAMEs.
	s.AddTXT("_verify.example.com", "token with \"quotes\"")
	got, err := LookupTXT(context.Background(), addr, "_verify.example.com")
	if err != nil || !slices.Equal(got, []string{"token with \"quotes\""}) {
		t.Errorf("LookupTXT = %q, %v", got, err)
	}
	got, err = LookupTXT(context.Background(), addr, "big.example.net")
	if err != nil || len(got) != bigTXTCount {
		t.Errorf("LookupTXT big = %d values, %v", len(got), err)
	}
	got, err = LookupTXT(context.Background(), addr, "long.example.com")
	if err != nil || len(got) != 1 || got[0] != strings.Repeat("x", 300) {
		t.Errorf("LookupTXT long = %q, %v", got, err)
	}
	for _, missing := range []string{"x.sub.example.com", "app.example.com"} {
		_, err = LookupTXT(context.Background(), addr, missing)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("LookupTXT %s: err = %v, want not found", missing, err)
		}
	}
	if _, err = LookupTXT(context.Background(), addr, "www.elsewhere.test"); err == nil || !strings.Contains(err.Error(), "REFUSED") {
		t.Errorf("LookupTXT outside zones: %v", err)
	}
}

func TestServeWithoutTCP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, nil) }()
	<-s.Ready()
	r := exchange(t, "udp", pc.LocalAddr().String(), query("example.com.", mdns.TypeA))
	if len(r.Answer) != 1 {
		t.Errorf("answer %v", r.Answer)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestListenAndServeCancelledEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := NewServer(Config{Addr: "127.0.0.1:0", Logger: quietLogger()})
	if err := s.ListenAndServe(ctx); err != nil {
		t.Fatalf("got %v", err)
	}
}

func TestListenAndServeBadAddr(t *testing.T) {
	s := NewServer(Config{Addr: "no-port", Logger: quietLogger()})
	if err := s.ListenAndServe(context.Background()); err == nil {
		t.Fatal("want an error")
	}
}

// TestDig checks interoperability with a real-world client. CI installs
// Debian's dnsutils; locally the test is skipped when dig is missing.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig not found on PATH; install dnsutils")
		}
		t.Skip("dig not found on PATH")
	}
	s := newTestServer(t, Config{Addr: "127.0.0.1:0"})
	addr := startServer(t, s)
	host, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"www.example.com", "A", "+norec"}, "192.0.2.10"},
		{[]string{"www.example.com", "A", "+norec", "+tcp"}, "192.0.2.11"},
		{[]string{"EXAMPLE.com", "MX", "+norec"}, "10 mail.example.com."},
	} {
		args := append([]string{"@" + host, "-p", port, "+short", "+time=5", "+tries=1"}, tc.args...)
		out, err := exec.CommandContext(t.Context(), dig, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("dig %v:\n%s\nwant %q", args, out, tc.want)
		}
	}
	// Full output: flags must show an authoritative answer without recursion.
	out, err := exec.CommandContext(t.Context(), dig, "@"+host, "-p", port, "+time=5", "+tries=1", "+norec", "nope.sub.example.com", "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	for _, want := range []string{"status: NXDOMAIN", "flags: qr aa;", "hostmaster.example.com."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dig output lacks %q:\n%s", want, out)
		}
	}
}
