package dns

import (
	"context"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary wire messages to the handler, bypassing
// miekg's accept filter and the panic safety net, over both transports.
// Every reply must pack (the recorder checks) and nothing may panic.
func FuzzServeDNS(f *testing.F) {
	seed := func(m *mdns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.com.", mdns.TypeA},
		{"WWW.EXAMPLE.COM.", mdns.TypeAAAA},
		{"x.dev.example.com.", mdns.TypeA},
		{"alias-www.example.com.", mdns.TypeA},
		{"alias-ext.example.com.", mdns.TypeAAAA},
		{"host.deleg.example.com.", mdns.TypeA},
		{"example.com.", mdns.TypeAXFR},
		{"example.com.", mdns.TypeIXFR},
		{"example.com.", mdns.TypeANY},
		{"example.com.", mdns.TypeMX},
		{"nope.sub.example.com.", mdns.TypeTXT},
		{"loop1.example.com.", mdns.TypeA},
		{".", mdns.TypeNS},
		{"elsewhere.test.", mdns.TypeA},
	} {
		m := query(q.name, q.qtype)
		seed(m)
		m.SetEdns0(4096, true)
		seed(m)
	}
	m := query("example.com.", mdns.TypeA)
	m.Opcode = mdns.OpcodeUpdate
	seed(m)
	m = query("example.com.", mdns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	seed(m)
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}) // compression loop

	s := NewServer(Config{
		Logger:        quietLogger(),
		Resolver:      fakeResolver(nil),
		AllowTransfer: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
	})
	if err := s.SetZones(append(testZones(), bigTXTZone())); err != nil {
		f.Fatal(err)
	}
	s.AddTXT("_acme-challenge.example.com", "fuzz")

	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		for _, tcp := range []bool{false, true} {
			s.serve(context.Background(), newRecorder(t, tcp), m)
		}
	})
}
