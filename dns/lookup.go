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
	answer, err := lookupRR(ctx, server, name, mdns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	// Any TXT in the answer belongs to name or to the end of its CNAME chain.
	for _, rr := range answer {
		if t, ok := rr.(*mdns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(unescapeTXT(s))
			}
			out = append(out, b.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns: lookup TXT %s: %w", name, notFoundErr(name, server))
	}
	return out, nil
}

// LookupNS returns the name servers name is delegated to (lowercase, no
// final dot), through server as LookupTXT does; missing data is a
// *net.DNSError with IsNotFound set.
func LookupNS(ctx context.Context, server, name string) ([]string, error) {
	var out []string
	if server == "" {
		ns, err := net.DefaultResolver.LookupNS(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("dns: lookup NS %s: %w", name, err)
		}
		for _, n := range ns {
			out = append(out, strings.TrimSuffix(strings.ToLower(n.Host), "."))
		}
		return out, nil
	}
	answer, err := lookupRR(ctx, server, name, mdns.TypeNS)
	if err != nil {
		return nil, err
	}
	for _, rr := range answer {
		if n, ok := rr.(*mdns.NS); ok {
			out = append(out, strings.TrimSuffix(strings.ToLower(n.Ns), "."))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns: lookup NS %s: %w", name, notFoundErr(name, server))
	}
	return out, nil
}

func notFoundErr(name, server string) error {
	return &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
}

// lookupRR asks server for (name, qtype), retrying over TCP when the UDP
// answer is truncated, and returns the answer section of a successful reply.
func lookupRR(ctx context.Context, server, name string, qtype uint16) ([]mdns.RR, error) {
	what := mdns.TypeToString[qtype]
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), qtype)
	q.SetEdns0(maxUDPSize, false)
	c := &mdns.Client{Net: "udp"}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("dns: lookup %s %s at %s: %w", what, name, server, err)
	}
	switch resp.Rcode {
	case mdns.RcodeSuccess:
	case mdns.RcodeNameError:
		return nil, fmt.Errorf("dns: lookup %s %s: %w", what, name, notFoundErr(name, server))
	default:
		return nil, fmt.Errorf("dns: lookup %s %s at %s: server answered %s", what, name, server, mdns.RcodeToString[resp.Rcode])
	}
	return resp.Answer, nil
}
