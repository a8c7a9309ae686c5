package dns

import (
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

type lookupCase struct {
	qname  string
	qtype  uint16
	tcp    bool
	rcode  int
	aa     bool
	answer []string
	ns     []string
	extra  []string
}

func (tc lookupCase) run(t *testing.T, s *Server) {
	t.Helper()
	rec := newRecorder(t, tc.tcp)
	s.ServeDNS(rec, query(tc.qname, tc.qtype))
	if len(rec.msgs) != 1 {
		t.Fatalf("%s %s: got %d responses, want 1", tc.qname, mdns.TypeToString[tc.qtype], len(rec.msgs))
	}
	m := rec.msgs[0]
	if m.Rcode != tc.rcode {
		t.Errorf("rcode = %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tc.rcode])
	}
	if m.Authoritative != tc.aa {
		t.Errorf("AA = %v, want %v", m.Authoritative, tc.aa)
	}
	if m.RecursionAvailable {
		t.Errorf("RA set")
	}
	if len(m.Question) != 1 || m.Question[0].Name != tc.qname {
		t.Errorf("question = %v, want %s echoed as sent", m.Question, tc.qname)
	}
	for _, sec := range []struct {
		name      string
		got, want []string
	}{
		{"answer", rrStrings(t, m.Answer), parseRRs(t, tc.answer)},
		{"authority", rrStrings(t, m.Ns), parseRRs(t, tc.ns)},
		{"additional", rrStrings(t, m.Extra), parseRRs(t, tc.extra)},
	} {
		if !slices.Equal(sec.got, sec.want) {
			t.Errorf("%s section:\n got: %q\nwant: %q", sec.name, sec.got, sec.want)
		}
	}
}

func TestLookup(t *testing.T) {
	s := newTestServer(t, Config{})
	soa := testSOA("example.com.", testSerial)
	soaOrg := testSOA("example.org.", 7)
	long := strings.Repeat("x", 255)
	appA := []string{"app.example.com. 60 IN A 192.0.2.10", "app.example.com. 60 IN A 192.0.2.11"}
	wwwChain := append([]string{
		"www.example.com. 60 IN CNAME web.example.com.",
		"web.example.com. 60 IN CNAME app.example.com.",
	}, appA...)

	cases := map[string]lookupCase{
		"apex A":    {qname: "example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"example.com. 300 IN A 192.0.2.1"}},
		"apex AAAA": {qname: "example.com.", qtype: mdns.TypeAAAA, aa: true, answer: []string{"example.com. 60 IN AAAA 2001:db8::1"}},
		"apex MX with glue": {qname: "example.com.", qtype: mdns.TypeMX, aa: true,
			answer: []string{"example.com. 60 IN MX 10 mail.example.com.", "example.com. 60 IN MX 20 mx2.example.net."},
			extra:  []string{"mail.example.com. 60 IN A 192.0.2.25"}},
		"apex TXT": {qname: "example.com.", qtype: mdns.TypeTXT, aa: true, answer: []string{`example.com. 60 IN TXT "v=spf1 -all"`}},
		"apex CAA": {qname: "example.com.", qtype: mdns.TypeCAA, aa: true, answer: []string{`example.com. 60 IN CAA 0 issue "letsencrypt.org"`}},
		"apex NS": {qname: "example.com.", qtype: mdns.TypeNS, aa: true,
			answer: []string{"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.net."},
			extra:  []string{"ns1.example.com. 60 IN A 192.0.2.53"}},
		"apex SOA": {qname: "example.com.", qtype: mdns.TypeSOA, aa: true,
			answer: []string{"example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 3600 600 1209600 60"}},
		"SRV": {qname: "_sip._tcp.example.com.", qtype: mdns.TypeSRV, aa: true,
			answer: []string{"_sip._tcp.example.com. 60 IN SRV 10 5 5060 sip.example.com."},
			extra:  []string{"sip.example.com. 60 IN AAAA 2001:db8::5060"}},
		"long TXT split": {qname: "long.example.com.", qtype: mdns.TypeTXT, aa: true,
			answer: []string{`long.example.com. 60 IN TXT "` + long + `" "` + strings.Repeat("x", 45) + `"`}},
		"CNAME chain":      {qname: "www.example.com.", qtype: mdns.TypeA, aa: true, answer: wwwChain},
		"CNAME asked":      {qname: "www.example.com.", qtype: mdns.TypeCNAME, aa: true, answer: []string{"www.example.com. 60 IN CNAME web.example.com."}},
		"CNAME out":        {qname: "ext.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"ext.example.com. 60 IN CNAME target.example.net."}},
		"CNAME cross zone": {qname: "cross.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"cross.example.com. 60 IN CNAME www.example.org.", "www.example.org. 60 IN A 198.51.100.1"}},
		"CNAME to NXDOMAIN in other zone": {qname: "crossnx.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true,
			answer: []string{"crossnx.example.com. 60 IN CNAME nope.example.org."}, ns: []string{soaOrg}},
		"CNAME loop": {qname: "loop1.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"loop1.example.com. 60 IN CNAME loop2.example.com.", "loop2.example.com. 60 IN CNAME loop1.example.com."}},
		"NXDOMAIN below existing name": {qname: "x.sub.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, ns: []string{soa}},
		"NXDOMAIN below leaf":          {qname: "nope.a.b.c.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, ns: []string{soa}},
		"NODATA":                       {qname: "app.example.com.", qtype: mdns.TypeMX, aa: true, ns: []string{soa}},
		"NODATA exists, no wildcard":   {qname: "sub.example.com.", qtype: mdns.TypeA, aa: true, ns: []string{soa}},
		"empty non-terminal":           {qname: "b.c.example.com.", qtype: mdns.TypeA, aa: true, ns: []string{soa}},
		"empty non-terminal 2":         {qname: "c.example.com.", qtype: mdns.TypeTXT, aa: true, ns: []string{soa}},
		"deep name":                    {qname: "a.b.c.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"a.b.c.example.com. 60 IN A 192.0.2.30"}},
		"wildcard A":                   {qname: "foo.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"foo.example.com. 60 IN A 192.0.2.99"}},
		"wildcard deep":                {qname: "foo.bar.example.com.", qtype: mdns.TypeTXT, aa: true, answer: []string{`foo.bar.example.com. 60 IN TXT "wild"`}},
		"wildcard NODATA":              {qname: "foo.example.com.", qtype: mdns.TypeMX, aa: true, ns: []string{soa}},
		"wildcard CNAME": {qname: "x.dev.example.com.", qtype: mdns.TypeA, aa: true,
			answer: append([]string{"x.dev.example.com. 60 IN CNAME app.example.com."}, appA...)},
		"wildcard parent is ENT": {qname: "dev.example.com.", qtype: mdns.TypeA, aa: true, ns: []string{soa}},
		"ALIAS in zone": {qname: "alias-in.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"alias-in.example.com. 60 IN A 192.0.2.10", "alias-in.example.com. 60 IN A 192.0.2.11"}},
		"ALIAS in zone no AAAA": {qname: "alias-in.example.com.", qtype: mdns.TypeAAAA, aa: true, ns: []string{soa}},
		"ALIAS through CNAMEs": {qname: "alias-www.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"alias-www.example.com. 30 IN A 192.0.2.10", "alias-www.example.com. 30 IN A 192.0.2.11"}},
		"ALIAS external A":    {qname: "alias-ext.example.com.", qtype: mdns.TypeA, aa: true, answer: []string{"alias-ext.example.com. 60 IN A 203.0.113.5"}},
		"ALIAS external AAAA": {qname: "alias-ext.example.com.", qtype: mdns.TypeAAAA, aa: true, answer: []string{"alias-ext.example.com. 60 IN AAAA 2001:db8:cd::5"}},
		"ALIAS other type":    {qname: "alias-ext.example.com.", qtype: mdns.TypeTXT, aa: true, ns: []string{soa}},
		"ALIAS failing":       {qname: "alias-fail.example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeServerFailure, aa: true},
		"ALIAS target gone":   {qname: "alias-nx.example.com.", qtype: mdns.TypeA, aa: true, ns: []string{soa}},
		"ALIAS at apex":       {qname: "example.org.", qtype: mdns.TypeA, aa: true, answer: []string{"example.org. 60 IN A 203.0.113.5"}},
		"ALIAS apex keeps SOA": {qname: "example.org.", qtype: mdns.TypeSOA, aa: true,
			answer: []string{"example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 7 3600 600 1209600 60"}},
		"referral": {qname: "host.deleg.example.com.", qtype: mdns.TypeA,
			ns:    []string{"deleg.example.com. 60 IN NS ns.deleg.example.com."},
			extra: []string{"ns.deleg.example.com. 60 IN A 192.0.2.77"}},
		"DS at cut is ours": {qname: "deleg.example.com.", qtype: mdns.TypeDS, aa: true, ns: []string{soa}},
		"outside zones":     {qname: "www.example.net.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		"parent of zone":    {qname: "com.", qtype: mdns.TypeNS, rcode: mdns.RcodeRefused},
		"case insensitive": {qname: "WwW.ExAmPlE.cOm.", qtype: mdns.TypeA, aa: true,
			answer: append([]string{"WwW.ExAmPlE.cOm. 60 IN CNAME web.example.com.", "web.example.com. 60 IN CNAME app.example.com."}, appA...)},
		"case insensitive wildcard": {qname: "FOO.example.COM.", qtype: mdns.TypeA, aa: true, answer: []string{"FOO.example.COM. 60 IN A 192.0.2.99"}},
		"ANY over UDP":              {qname: "app.example.com.", qtype: mdns.TypeANY, aa: true, answer: []string{`app.example.com. 60 IN HINFO "RFC8482" ""`}},
		"ANY over TCP":              {qname: "app.example.com.", qtype: mdns.TypeANY, tcp: true, aa: true, answer: appA},
		"RD ignored":                {qname: "app.example.com.", qtype: mdns.TypeA, aa: true, answer: appA},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { tc.run(t, s) })
	}
}

func TestRDIsEchoedNotHonoured(t *testing.T) {
	s := newTestServer(t, Config{})
	q := query("www.example.net.", mdns.TypeA) // SetQuestion sets RD
	rec := newRecorder(t, false)
	s.ServeDNS(rec, q)
	m := rec.last()
	if !m.RecursionDesired || m.RecursionAvailable || m.Rcode != mdns.RcodeRefused {
		t.Fatalf("RD=%v RA=%v rcode=%s; want RD echoed, no RA, REFUSED", m.RecursionDesired, m.RecursionAvailable, mdns.RcodeToString[m.Rcode])
	}
}

func TestClassCHAOSRefused(t *testing.T) {
	s := newTestServer(t, Config{})
	q := query("version.bind.", mdns.TypeTXT)
	q.Question[0].Qclass = mdns.ClassCHAOS
	rec := newRecorder(t, false)
	s.ServeDNS(rec, q)
	if m := rec.last(); m.Rcode != mdns.RcodeRefused {
		t.Fatalf("rcode = %s, want REFUSED", mdns.RcodeToString[m.Rcode])
	}
}

func TestMalformed(t *testing.T) {
	s := newTestServer(t, Config{})
	two := query("example.com.", mdns.TypeA)
	two.Question = append(two.Question, mdns.Question{Name: "example.org.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	none := query("example.com.", mdns.TypeA)
	none.Question = nil
	notify := query("example.com.", mdns.TypeSOA)
	notify.Opcode = mdns.OpcodeNotify
	update := query("example.com.", mdns.TypeSOA)
	update.Opcode = mdns.OpcodeUpdate
	badVers := query("example.com.", mdns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)

	for name, tc := range map[string]struct {
		q     *mdns.Msg
		rcode int
	}{
		"two questions": {two, mdns.RcodeFormatError},
		"no question":   {none, mdns.RcodeFormatError},
		"notify":        {notify, mdns.RcodeNotImplemented},
		"update":        {update, mdns.RcodeNotImplemented},
		"EDNS version":  {badVers, mdns.RcodeBadVers},
	} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, false)
			s.ServeDNS(rec, tc.q)
			m := rec.last()
			if m == nil {
				t.Fatal("no response")
			}
			if m.Rcode != tc.rcode || len(m.Answer) != 0 || m.Authoritative {
				t.Fatalf("rcode=%s answers=%d AA=%v; want %s, empty, no AA", mdns.RcodeToString[m.Rcode], len(m.Answer), m.Authoritative, mdns.RcodeToString[tc.rcode])
			}
			if tc.rcode == mdns.RcodeBadVers && m.IsEdns0() == nil {
				t.Fatal("BADVERS without OPT")
			}
		})
	}

	t.Run("response is ignored", func(t *testing.T) {
		q := query("example.com.", mdns.TypeA)
		q.Response = true
		rec := newRecorder(t, false)
		s.ServeDNS(rec, q)
		if len(rec.msgs) != 0 {
			t.Fatalf("answered a response: %v", rec.last())
		}
	})
	t.Run("nil message", func(t *testing.T) {
		s.ServeDNS(newRecorder(t, false), nil)
	})
}

func TestEDNSAndTruncation(t *testing.T) {
	s := newTestServer(t, Config{})
	big := bigTXTZone()
	if err := s.SetZones(append(testZones(), big)); err != nil {
		t.Fatal(err)
	}
	ask := func(tcp bool, ednsSize uint16) *mdns.Msg {
		q := query("big.example.net.", mdns.TypeTXT)
		if ednsSize > 0 {
			q.SetEdns0(ednsSize, false)
		}
		rec := newRecorder(t, tcp)
		s.ServeDNS(rec, q)
		return rec.last()
	}

	m := ask(false, 0)
	if !m.Truncated || m.IsEdns0() != nil || len(m.Answer) >= bigTXTCount {
		t.Errorf("UDP without EDNS: TC=%v OPT=%v answers=%d; want TC, no OPT, partial", m.Truncated, m.IsEdns0() != nil, len(m.Answer))
	}
	if n, _ := m.Pack(); len(n) > 512 {
		t.Errorf("UDP without EDNS: %d bytes", len(n))
	}
	m = ask(false, 4096)
	if m.Truncated || len(m.Answer) != bigTXTCount || m.IsEdns0() == nil {
		t.Errorf("UDP with EDNS 4096: TC=%v answers=%d OPT=%v; want all %d and OPT", m.Truncated, len(m.Answer), m.IsEdns0() != nil, bigTXTCount)
	}
	m = ask(false, 100) // below 512 counts as 512 (RFC 6891 §6.2.5)
	if !m.Truncated || m.IsEdns0() == nil {
		t.Errorf("UDP with EDNS 100: TC=%v OPT=%v", m.Truncated, m.IsEdns0() != nil)
	}
	m = ask(true, 0)
	if m.Truncated || len(m.Answer) != bigTXTCount {
		t.Errorf("TCP: TC=%v answers=%d", m.Truncated, len(m.Answer))
	}
	m = ask(false, 1232)
	if opt := m.IsEdns0(); opt == nil || opt.UDPSize() != advertisedUDPSize || opt.Version() != 0 {
		t.Errorf("OPT in reply = %v", opt)
	}
}

const bigTXTCount = 20

// bigTXTZone has an RRset of about 2 KB: over 512, under 4096.
func bigTXTZone() Zone {
	z := Zone{Origin: "example.net", Serial: 1}
	for i := range bigTXTCount {
		z.Records = append(z.Records, Record{Name: "big", Type: "TXT", Value: strings.Repeat(string(rune('a'+i)), 90)})
	}
	z.Records = append(z.Records, Record{Name: "www", Type: "A", Value: "192.0.2.80"})
	return z
}
