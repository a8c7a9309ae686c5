package acme

import (
	"context"
	"fmt"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/libdns"
)

// TXTServer is the platform's own authoritative DNS server, as DNS-01
// needs it: a TXT record added is answered at once, and kept until
// removed.
type TXTServer interface {
	AddTXT(fqdn, value string)
	RemoveTXT(fqdn, value string)
}

// DNSProvider is a libdns provider writing the _acme-challenge TXT
// records of DNS-01 into the platform's own DNS server: no DNS-provider
// token, and no propagation wait, since the server that answers the CA is
// the one written to.
type DNSProvider struct{ Server TXTServer }

var _ certmagic.DNSProvider = DNSProvider{}

// AppendRecords adds TXT records; no other type is ever asked for by
// DNS-01, and none is accepted.
func (p DNSProvider) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		if rr := r.RR(); rr.Type != "TXT" {
			return nil, fmt.Errorf("dns provider: only TXT records, not %s", rr.Type)
		}
	}
	for _, r := range recs {
		rr := r.RR()
		p.Server.AddTXT(libdns.AbsoluteName(rr.Name, zone), rr.Data)
	}
	return recs, nil
}

// DeleteRecords removes TXT records added by AppendRecords.
func (p DNSProvider) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		if rr := r.RR(); rr.Type == "TXT" {
			p.Server.RemoveTXT(libdns.AbsoluteName(rr.Name, zone), rr.Data)
		}
	}
	return recs, nil
}
