package dns

import (
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestAXFR(t *testing.T) {
	allowed := Config{AllowTransfer: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	for name, tc := range map[string]struct {
		cfg   Config
		tcp   bool
		qtype uint16
		zone  string
		want  string // "refused", "axfr", "soa"
	}{
		"no ACL over TCP":       {Config{}, true, mdns.TypeAXFR, "example.com.", "refused"},
		"other client":          {Config{AllowTransfer: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, true, mdns.TypeAXFR, "example.com.", "refused"},
		"allowed over UDP":      {allowed, false, mdns.TypeAXFR, "example.com.", "refused"},
		"allowed, not a zone":   {allowed, true, mdns.TypeAXFR, "www.example.com.", "refused"},
		"allowed over TCP":      {allowed, true, mdns.TypeAXFR, "EXAMPLE.com.", "axfr"},
		"IXFR over TCP is full": {allowed, true, mdns.TypeIXFR, "example.com.", "axfr"},
		"IXFR over UDP":         {allowed, false, mdns.TypeIXFR, "example.com.", "soa"},
		"IXFR refused":          {Config{}, false, mdns.TypeIXFR, "example.com.", "refused"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, tc.cfg)
			rec := newRecorder(t, tc.tcp)
			s.ServeDNS(rec, query(tc.zone, tc.qtype))
			if len(rec.msgs) == 0 {
				t.Fatal("no response")
			}
			var all []mdns.RR
			for _, m := range rec.msgs {
				if m.Rcode != mdns.RcodeSuccess && tc.want != "refused" {
					t.Fatalf("rcode %s", mdns.RcodeToString[m.Rcode])
				}
				all = append(all, m.Answer...)
			}
			switch tc.want {
			case "refused":
				if m := rec.last(); m.Rcode != mdns.RcodeRefused || len(m.Answer) != 0 {
					t.Fatalf("rcode=%s answers=%d; want REFUSED", mdns.RcodeToString[m.Rcode], len(m.Answer))
				}
			case "soa":
				if len(all) != 1 || all[0].Header().Rrtype != mdns.TypeSOA {
					t.Fatalf("got %v, want a lone SOA", all)
				}
			case "axfr":
				if len(all) < 3 || all[0].Header().Rrtype != mdns.TypeSOA || all[len(all)-1].Header().Rrtype != mdns.TypeSOA {
					t.Fatalf("transfer not framed by SOA: %v", all)
				}
				text := rrStrings(t, all)
				joined := strings.Join(text, "\n")
				for _, want := range []string{
					"example.com.\t3600\tIN\tNS\tns2.example.net.",
					"www.example.com.\t60\tIN\tCNAME\tweb.example.com.",
					"*.example.com.\t60\tIN\tA\t192.0.2.99",
					"_sip._tcp.example.com.\t60\tIN\tSRV\t10 5 5060 sip.example.com.",
				} {
					if !strings.Contains(joined, want) {
						t.Errorf("transfer lacks %q", want)
					}
				}
				if strings.Contains(joined, "alias") {
					t.Errorf("transfer contains ALIAS data:\n%s", joined)
				}
				for _, m := range rec.msgs {
					if !m.Authoritative {
						t.Error("transfer message without AA")
					}
				}
			}
		})
	}
}

func TestAXFRLargeZoneIsChunked(t *testing.T) {
	s := NewServer(Config{Logger: quietLogger(), AllowTransfer: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err := s.SetZones([]Zone{benchZone(5000)}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, true)
	s.ServeDNS(rec, query("bench.test.", mdns.TypeAXFR))
	n := 0
	for _, m := range rec.msgs {
		n += len(m.Answer)
	}
	// SOA + NS + 5000 records + SOA
	if n != 5003 || len(rec.msgs) < 2 {
		t.Fatalf("got %d records in %d messages", n, len(rec.msgs))
	}
}

func TestACMEOverlay(t *testing.T) {
	s := newTestServer(t, Config{})
	soa := testSOA("example.com.", testSerial)
	chal := "_acme-challenge.www.example.com."
	nx := lookupCase{qname: chal, qtype: mdns.TypeTXT, rcode: mdns.RcodeNameError, aa: true, ns: []string{soa}}
	nx.run(t, s)

	s.AddTXT("_ACME-challenge.www.example.com", "token-1")
	s.AddTXT(chal, "token-2")
	s.AddTXT(chal, "token-2") // duplicate is a no-op
	have := lookupCase{qname: chal, qtype: mdns.TypeTXT, aa: true, answer: []string{
		chal + ` 10 IN TXT "token-1"`, chal + ` 10 IN TXT "token-2"`,
	}}
	have.run(t, s)
	// The challenge name now exists, so other types are NODATA.
	lookupCase{qname: chal, qtype: mdns.TypeA, aa: true, ns: []string{soa}}.run(t, s)

	// Survives SetZones.
	if err := s.SetZones(testZones()); err != nil {
		t.Fatal(err)
	}
	have.run(t, s)

	s.RemoveTXT(chal, "token-1")
	lookupCase{qname: chal, qtype: mdns.TypeTXT, aa: true, answer: []string{chal + ` 10 IN TXT "token-2"`}}.run(t, s)
	s.RemoveTXT(chal, "token-2")
	s.RemoveTXT(chal, "never-added")
	nx.run(t, s)

	// Added before its zone exists: answered once the zone is served.
	s.AddTXT("_acme-challenge.example.info.", "early")
	lookupCase{qname: "_acme-challenge.example.info.", qtype: mdns.TypeTXT, rcode: mdns.RcodeRefused}.run(t, s)
	if err := s.SetZones(append(testZones(), Zone{Origin: "example.info", Serial: 3})); err != nil {
		t.Fatal(err)
	}
	lookupCase{qname: "_acme-challenge.example.info.", qtype: mdns.TypeTXT, aa: true,
		answer: []string{`_acme-challenge.example.info. 10 IN TXT "early"`}}.run(t, s)

	// A challenge next to existing TXT data merges with it.
	s.AddTXT("example.com", "acme-at-apex")
	lookupCase{qname: "example.com.", qtype: mdns.TypeTXT, aa: true, answer: []string{
		`example.com. 10 IN TXT "v=spf1 -all"`, `example.com. 10 IN TXT "acme-at-apex"`,
	}}.run(t, s)

	// Invalid names are ignored rather than poisoning the overlay.
	s.AddTXT("bad name.example.com", "x")
}

func TestSetZonesSerialChanges(t *testing.T) {
	s := newTestServer(t, Config{})
	ask := func() uint32 {
		rec := newRecorder(t, false)
		s.ServeDNS(rec, query("example.com.", mdns.TypeSOA))
		return rec.last().Answer[0].(*mdns.SOA).Serial
	}
	if got := ask(); got != testSerial {
		t.Fatalf("serial %d", got)
	}
	zs := testZones()
	zs[0].Serial++
	zs[0].Records = append(zs[0].Records, Record{Name: "new", Type: "A", Value: "192.0.2.123"})
	if err := s.SetZones(zs); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != testSerial+1 {
		t.Fatalf("serial after SetZones = %d, want %d", got, testSerial+1)
	}
	lookupCase{qname: "new.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"new.example.com. 60 IN A 192.0.2.123"}}.run(t, s)

	// Removing a zone makes it REFUSED.
	if err := s.SetZones(zs[:1]); err != nil {
		t.Fatal(err)
	}
	lookupCase{qname: "www.example.org.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused}.run(t, s)
}

func TestSetZonesDropsBadRecordsOnly(t *testing.T) {
	s := NewServer(Config{Logger: quietLogger()})
	err := s.SetZones([]Zone{
		{Origin: "example.com", Serial: 1, Records: []Record{
			{Name: "both", Type: "CNAME", Value: "x.example.net"},
			{Name: "both", Type: "A", Value: "192.0.2.1"},
			{Name: "two", Type: "CNAME", Value: "a.example.net"},
			{Name: "two", Type: "CNAME", Value: "b.example.net"},
			{Name: "al", Type: "ALIAS", Value: "a.example.net"},
			{Name: "al", Type: "AAAA", Value: "2001:db8::1"},
			{Name: "bad", Type: "A", Value: "not-an-ip"},
			{Name: "ok", Type: "A", Value: "192.0.2.2"},
		}},
		{Origin: "example.com.", Serial: 2},
		{Origin: "bad..origin"},
	})
	if err == nil {
		t.Fatal("want an error listing dropped records")
	}
	for _, want := range []string{"CNAME at both.example.com dropped", "second CNAME at two", "ALIAS at al.example.com dropped", "not an IPv4", "more than once", "bad..origin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	soa := testSOA("example.com.", 1)
	lookupCase{qname: "both.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"both.example.com. 60 IN A 192.0.2.1"}}.run(t, s)
	lookupCase{qname: "two.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"two.example.com. 60 IN CNAME a.example.net."}}.run(t, s)
	lookupCase{qname: "al.example.com.", qtype: mdns.TypeA, aa: true, ns: []string{soa}}.run(t, s)
	lookupCase{qname: "ok.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"ok.example.com. 60 IN A 192.0.2.2"}}.run(t, s)
	lookupCase{qname: "bad.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, ns: []string{soa}}.run(t, s)
}

func TestRRsetTTLUnified(t *testing.T) {
	s := NewServer(Config{Logger: quietLogger()})
	if err := s.SetZones([]Zone{{Origin: "example.com", Records: []Record{
		{Name: "x", Type: "A", Value: "192.0.2.1", TTL: 300},
		{Name: "x", Type: "A", Value: "192.0.2.2", TTL: 120},
		{Name: "x", Type: "A", Value: "192.0.2.2", TTL: 120}, // duplicate
	}}}); err != nil {
		t.Fatal(err)
	}
	lookupCase{qname: "x.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{
		"x.example.com. 120 IN A 192.0.2.1", "x.example.com. 120 IN A 192.0.2.2",
	}}.run(t, s)
}

func TestALIASExternalIsCached(t *testing.T) {
	calls := 0
	s := newTestServer(t, Config{Resolver: fakeResolver(&calls)})
	for range 3 {
		lookupCase{qname: "alias-ext.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"alias-ext.example.com. 60 IN A 203.0.113.5"}}.run(t, s)
	}
	if calls != 1 {
		t.Fatalf("resolver called %d times, want 1", calls)
	}
}

func TestTXTEscaping(t *testing.T) {
	raw := "a\"b\\c d\x00é;"
	s := NewServer(Config{Logger: quietLogger()})
	if err := s.SetZones([]Zone{{Origin: "example.com", Records: []Record{{Name: "t", Type: "TXT", Value: raw}}}}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, false)
	s.ServeDNS(rec, query("t.example.com.", mdns.TypeTXT))
	txt := rec.last().Answer[0].(*mdns.TXT)
	if got := unescapeTXT(strings.Join(txt.Txt, "")); got != raw {
		t.Fatalf("TXT round trip: got %q, want %q", got, raw)
	}
}

// TestConcurrentUpdates is for -race: queries run while zones and the ACME
// overlay change underneath them.
func TestConcurrentUpdates(t *testing.T) {
	s := newTestServer(t, Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			zs := testZones()
			zs[0].Serial += uint32(i)
			_ = s.SetZones(zs)
			s.AddTXT("_acme-challenge.example.com", "v")
			s.RemoveTXT("_acme-challenge.example.com", "v")
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		rec := newRecorder(t, i%2 == 0)
		s.ServeDNS(rec, query([]string{"www.example.com.", "_acme-challenge.example.com.", "alias-ext.example.com.", "foo.example.com."}[i%4], mdns.TypeA))
		if m := rec.last(); m == nil || m.Rcode == mdns.RcodeRefused {
			t.Fatalf("bad answer during update: %v", m)
		}
	}
}
