package dns

import (
	"context"
	"fmt"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// LookupTXT returns the TXT values at name, each RR's strings joined as
// net.LookupTXT does. server is "host:port" of the DNS server to ask (a
// resolver or an authoritative server, e.g. to check a domain-verification
// record without waiting for caches); "" uses the system resolver.
// A missing name or missing TXT data is a *net.DNSError with IsNotFound set,
// again like net.LookupTXT, so callers handle both paths the same way.
func LookupTXT(ctx context.Context, server, name string) ([]string, error) {
	if server == "" {
		txt, err := net.DefaultResolver.LookupTXT(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("dns: lookup TXT %s: %w", name, err)
		}
		return txt, nil
	}
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), mdns.TypeTXT)
	q.SetEdns0(maxUDPSize, false)
	c := &mdns.Client{Net: "udp"}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("dns: lookup TXT %s at %s: %w", name, server, err)
	}
	notFound := &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
	switch resp.Rcode {
	case mdns.RcodeSuccess:
	case mdns.RcodeNameError:
		return nil, fmt.Errorf("dns: lookup TXT %s: %w", name, notFound)
	default:
		return nil, fmt.Errorf("dns: lookup TXT %s at %s: server answered %s", name, server, mdns.RcodeToString[resp.Rcode])
	}
	var out []string
	// Any TXT in the answer belongs to name or to the end of its CNAME chain.
	for _, rr := range resp.Answer {
		if t, ok := rr.(*mdns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(unescapeTXT(s))
			}
			out = append(out, b.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns: lookup TXT %s: %w", name, notFound)
	}
	return out, nil
}
