package server_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
)

// dnsE2E is a running platform with its DNS server, driven over real
// sockets: HTTP for the APIs, UDP for DNS.
type dnsE2E struct{ *testServer }

func startDNSE2E(t *testing.T) *dnsE2E {
	t.Helper()
	return &dnsE2E{startServer(t, t.TempDir(), runtime.NewFake(), "", func(c *server.Config) {
		c.Domain, c.PublicIP = "paas.test", "203.0.113.7"
	})}
}

// query asks the platform's DNS server over UDP.
func (e *dnsE2E) query(t *testing.T, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, e.dns)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return resp
}

// await asks until cond holds for the answer: the DNS view follows the
// store on its own goroutine, so an API call's change is served moments
// after the call returns, not necessarily at once.
func (e *dnsE2E) await(t *testing.T, name string, qtype uint16, what string, cond func(*mdns.Msg) bool) *mdns.Msg {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.query(t, name, qtype)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: not %s within 5s: %v", name, mdns.TypeToString[qtype], what, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *dnsE2E) soaSerial(t *testing.T, zone string) uint32 {
	t.Helper()
	r := e.query(t, zone, mdns.TypeSOA)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("SOA %s: %v", zone, r)
	}
	return r.Answer[0].(*mdns.SOA).Serial
}

func answerA(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestDNSEndToEnd(t *testing.T) {
	e := startDNSE2E(t)

	t.Run("platform zone", func(t *testing.T) {
		for _, name := range []string{"paas.test", "ns1.paas.test"} {
			r := e.query(t, name, mdns.TypeA)
			if got := answerA(r); len(got) != 1 || got[0] != "203.0.113.7" || !r.Authoritative {
				t.Errorf("%s A: %v", name, r)
			}
		}
		r := e.query(t, "paas.test", mdns.TypeNS)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.NS).Ns != "ns1.paas.test." {
			t.Errorf("NS: %v", r)
		}
	})

	t.Run("app name resolves once the app exists", func(t *testing.T) {
		if r := e.query(t, "myapp.paas.test", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
			t.Fatalf("before the app: %v", r)
		}
		e.on(t).mustJSON("POST", "/apps/admin/myapp", map[string]any{"name": "myapp"})
		r := e.await(t, "myapp.paas.test", mdns.TypeA, "answered", func(r *mdns.Msg) bool { return r.Rcode != mdns.RcodeNameError })
		if got := answerA(r); r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(got) != 1 || got[0] != "203.0.113.7" {
			t.Fatalf("myapp.paas.test A: %v", r)
		}
	})

	t.Run("unknown name is NXDOMAIN with the SOA", func(t *testing.T) {
		r := e.query(t, "nope.paas.test", mdns.TypeA)
		if r.Rcode != mdns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 {
			t.Fatalf("%v", r)
		}
		if _, ok := r.Ns[0].(*mdns.SOA); !ok {
			t.Fatalf("authority is not the SOA: %v", r.Ns)
		}
	})

	t.Run("name outside every zone is REFUSED", func(t *testing.T) {
		if r := e.query(t, "example.com", mdns.TypeA); r.Rcode != mdns.RcodeRefused {
			t.Fatalf("%v", r)
		}
	})

	t.Run("user zone and records answer right after the call", func(t *testing.T) {
		if r := e.query(t, "example.org", mdns.TypeSOA); r.Rcode != mdns.RcodeRefused {
			t.Fatalf("before the domain: %v", r)
		}
		e.on(t).mustJSON("POST", "/domains", map[string]any{"name": "example.org", "isExternal": false})
		e.await(t, "example.org", mdns.TypeSOA, "served", func(r *mdns.Msg) bool { return r.Rcode != mdns.RcodeRefused })
		serial := e.soaSerial(t, "example.org")
		r := e.query(t, "example.org", mdns.TypeNS)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.NS).Ns != "ns1.paas.test." {
			t.Fatalf("user zone NS: %v", r)
		}

		e.on(t).mustJSON("POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "192.0.2.44"}})
		r = e.await(t, "www.example.org", mdns.TypeA, "answered", func(r *mdns.Msg) bool { return len(answerA(r)) > 0 })
		if got := answerA(r); !r.Authoritative || len(got) != 1 || got[0] != "192.0.2.44" {
			t.Fatalf("www.example.org A: %v", r)
		}
		if next := e.soaSerial(t, "example.org"); next <= serial {
			t.Fatalf("serial %d → %d after adding a record", serial, next)
		}

		e.on(t).mustJSON("DELETE", "/domains/example.org", nil)
		e.await(t, "www.example.org", mdns.TypeA, "REFUSED after deleting the domain", func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeRefused })
	})
}

// TestDNSAddressInUse: a DNS address that cannot be bound fails the start
// with an error naming it, like the other listeners.
func TestDNSAddressInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := server.Defaults
	cfg.DataDir = t.TempDir()
	cfg.APIAddr, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.DNSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", pc.LocalAddr().String()
	cfg.AdminPassword, cfg.Runtime = "admin-password-1", runtime.NewFake()
	cfg.Ready = func(string, string) { t.Error("the API started although DNS could not bind") }
	err = server.Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "dns listener") {
		t.Fatalf("Run: %v, want a dns listener error", err)
	}
}
