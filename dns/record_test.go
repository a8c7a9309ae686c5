package dns

import (
	"strings"
	"testing"
)

func TestValidateRecord(t *testing.T) {
	for _, tc := range []struct {
		r       Record
		wantErr string // "" = valid
	}{
		{Record{Name: "", Type: "A", Value: "192.0.2.1"}, ""},
		{Record{Name: "@", Type: "a", Value: " 192.0.2.1 "}, ""},
		{Record{Name: "www", Type: "A", Value: "2001:db8::1"}, "not an IPv4 address"},
		{Record{Name: "www", Type: "A", Value: "1.2.3"}, "not an IPv4 address"},
		{Record{Name: "www", Type: "AAAA", Value: "2001:db8::1"}, ""},
		{Record{Name: "www", Type: "AAAA", Value: "192.0.2.1"}, "not an IPv6 address"},
		{Record{Name: "www", Type: "AAAA", Value: "fe80::1%eth0"}, "not an IPv6 address"},
		{Record{Name: "www", Type: "CNAME", Value: "app.example.net"}, ""},
		{Record{Name: "www", Type: "CNAME", Value: "app.example.net."}, ""},
		{Record{Name: "", Type: "CNAME", Value: "app.example.net"}, "cannot be at the zone apex"},
		{Record{Name: "@", Type: "CNAME", Value: "app.example.net"}, "cannot be at the zone apex"},
		{Record{Name: "www", Type: "CNAME", Value: "app"}, "fully qualified"},
		{Record{Name: "www", Type: "CNAME", Value: "www.example.com"}, "points to itself"},
		{Record{Name: "www", Type: "CNAME", Value: "bad_host!.example.net"}, "invalid character"},
		{Record{Name: "", Type: "ALIAS", Value: "app.example.net"}, ""},
		{Record{Name: "", Type: "ALIAS", Value: "."}, "root"},
		{Record{Name: "", Type: "MX", Value: "mail.example.com", MXPriority: 10}, ""},
		{Record{Name: "", Type: "MX", Value: "."}, ""}, // null MX, RFC 7505
		{Record{Name: "", Type: "MX", Value: "10 mail.example.com"}, "MXPriority"},
		{Record{Name: "", Type: "MX", Value: "mail..example.com"}, "empty label"},
		{Record{Name: "", Type: "TXT", Value: "v=spf1 include:_spf.example.net ~all"}, ""},
		{Record{Name: "_dmarc", Type: "TXT", Value: strings.Repeat("k", 1000)}, ""},
		{Record{Name: "", Type: "TXT", Value: strings.Repeat("k", maxTXTLen+1)}, "maximum"},
		{Record{Name: "", Type: "TXT", Value: ""}, "empty value"},
		{Record{Name: "", Type: "CAA", Value: `0 issue "letsencrypt.org"`}, ""},
		{Record{Name: "", Type: "CAA", Value: `0 issuewild ";"`}, ""},
		{Record{Name: "", Type: "CAA", Value: `128 iodef "mailto:security@example.com"`}, ""},
		{Record{Name: "", Type: "CAA", Value: `0 issue "letsencrypt.org; validationmethods=dns-01"`}, ""},
		{Record{Name: "", Type: "CAA", Value: `0 issue letsencrypt.org`}, ""},
		{Record{Name: "", Type: "CAA", Value: `issue "letsencrypt.org"`}, "CAA value must look like"},
		{Record{Name: "", Type: "CAA", Value: `256 issue "letsencrypt.org"`}, "CAA flags"},
		{Record{Name: "", Type: "CAA", Value: `0 is-sue "letsencrypt.org"`}, "CAA tag"},
		{Record{Name: "", Type: "CAA", Value: `0 issue "lets\"encrypt"`}, "quotes"},
		{Record{Name: "", Type: "CAA", Value: `0 issue "a b"`}, "single domain name"},
		{Record{Name: "_sip._tcp", Type: "SRV", Value: "10 5 5060 sip.example.com"}, ""},
		{Record{Name: "_sip._tcp", Type: "SRV", Value: "0 0 0 ."}, ""},
		{Record{Name: "_sip._tcp", Type: "SRV", Value: "10 5 sip.example.com"}, "priority weight port target"},
		{Record{Name: "_sip._tcp", Type: "SRV", Value: "10 5 70000 sip.example.com"}, "SRV port"},
		{Record{Name: "_sip._tcp", Type: "SRV", Value: "x 5 5060 sip.example.com"}, "SRV priority"},
		{Record{Name: "sub", Type: "NS", Value: "ns1.example.net"}, ""},
		{Record{Name: "*", Type: "NS", Value: "ns1.example.net"}, "wildcard"},
		{Record{Name: "*", Type: "A", Value: "192.0.2.1"}, ""},
		{Record{Name: "*.dev", Type: "A", Value: "192.0.2.1"}, ""},
		{Record{Name: "dev.*", Type: "A", Value: "192.0.2.1"}, "leftmost"},
		{Record{Name: "www.example.com", Type: "A", Value: "192.0.2.1"}, ""},
		{Record{Name: "WWW.Example.Com.", Type: "A", Value: "192.0.2.1"}, ""},
		{Record{Name: "www.example.org.", Type: "A", Value: "192.0.2.1"}, "outside the zone"},
		{Record{Name: "example.org.", Type: "A", Value: "192.0.2.1"}, "outside the zone"},
		{Record{Name: "-www", Type: "A", Value: "192.0.2.1"}, "cannot start or end"},
		{Record{Name: strings.Repeat("a", 64), Type: "A", Value: "192.0.2.1"}, "longer than 63"},
		{Record{Name: strings.Repeat("abcdefghi.", 25) + "x", Type: "A", Value: "192.0.2.1"}, "longer than 253"},
		{Record{Name: "www", Type: "A", Value: "192.0.2.1", TTL: 1 << 31}, "TTL"},
		{Record{Name: "www", Type: "PTR", Value: "x.example.com"}, "not supported"},
		{Record{Name: "www", Type: "", Value: "x"}, "type is missing"},
		{Record{Name: "www", Type: "A", Value: ""}, "empty value"},
	} {
		err := ValidateRecord("Example.com", tc.r)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.r, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%+v: accepted, want error containing %q", tc.r, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%+v: error %q does not contain %q", tc.r, err, tc.wantErr)
		}
	}
	if err := ValidateRecord("", Record{Type: "A", Value: "192.0.2.1"}); err == nil {
		t.Error("empty origin accepted")
	}
}
