package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// maxChain bounds CNAME and ALIAS chasing so loops and absurd chains end.
	maxChain = 8
	// aliasTimeout bounds an external ALIAS lookup; the querying resolver
	// gives up after a few seconds anyway and retries.
	aliasTimeout = 2 * time.Second
	// ALIAS results from outside are cached for the ALIAS TTL within these
	// bounds, so a popular apex does not cost one upstream lookup per query.
	aliasCacheMin = 5 * time.Second
	aliasCacheMax = 5 * time.Minute
)

type answer struct {
	rcode             int
	aa                bool
	answer, ns, extra []mdns.RR
}

// answerQuery fills m for a normal (non-transfer) query.
func (s *Server) answerQuery(ctx context.Context, snap *snapshot, m *mdns.Msg, q mdns.Question, tcp bool) {
	name := strings.ToLower(q.Name)
	z := snap.findZone(name)
	if z == nil {
		m.Rcode = mdns.RcodeRefused
		return
	}
	a := s.resolve(ctx, snap, z, name, q.Qtype, tcp, 0)
	m.Rcode, m.Authoritative = a.rcode, a.aa
	m.Answer, m.Ns, m.Extra = a.answer, a.ns, a.extra
	switch q.Qtype {
	case mdns.TypeNS, mdns.TypeMX, mdns.TypeSRV:
		m.Extra = append(m.Extra, additional(snap, m.Answer)...)
	}
	// Echo the asker's spelling (0x20 randomisation) on the first owner name;
	// stored records are shared, so rewrite copies.
	if q.Name != name {
		for i, rr := range m.Answer {
			if rr.Header().Name == name {
				c := mdns.Copy(rr)
				c.Header().Name = q.Name
				m.Answer[i] = c
			}
		}
	}
}

// resolve answers name from the snapshot, following CNAMEs across our zones.
// RCODE and authority reflect the last name of the chain (RFC 6604).
func (s *Server) resolve(ctx context.Context, snap *snapshot, z *zone, name string, qtype uint16, tcp bool, depth int) answer {
	a := answer{rcode: mdns.RcodeSuccess, aa: true}
	seen := []string{name}
	for hop := 0; ; hop++ {
		r := z.lookup(name, qtype, tcp)
		switch r.kind {
		case kindAnswer:
			a.answer = append(a.answer, r.rrs...)
			return a
		case kindCNAME:
			a.answer = append(a.answer, r.rrs...)
			next := snap.findZone(r.target)
			// A target outside our zones is the resolver's job to chase.
			if next == nil || hop+1 >= maxChain || slices.Contains(seen, r.target) {
				return a
			}
			seen = append(seen, r.target)
			z, name = next, r.target
		case kindAlias:
			rrs, rcode := s.flatten(ctx, snap, r, qtype, depth)
			a.answer = append(a.answer, rrs...)
			a.rcode = rcode
			if len(rrs) == 0 && rcode == mdns.RcodeSuccess {
				a.ns = []mdns.RR{z.negSOA}
			}
			return a
		case kindNoData:
			a.ns = []mdns.RR{z.negSOA}
			return a
		case kindNXDomain:
			a.rcode = mdns.RcodeNameError
			a.ns = []mdns.RR{z.negSOA}
			return a
		case kindReferral:
			// A referral is only meaningful for the name asked; mid-chain we
			// return the CNAMEs so far and let the resolver continue.
			if hop == 0 {
				a.aa = false
				a.ns = r.rrs
				a.extra = additional(snap, r.rrs)
			}
			return a
		}
	}
}

// flatten turns an ALIAS into A/AAAA records owned by the ALIAS name.
func (s *Server) flatten(ctx context.Context, snap *snapshot, r result, qtype uint16, depth int) ([]mdns.RR, int) {
	target, ttl := r.alias.target, r.alias.ttl
	if depth >= maxChain {
		return nil, mdns.RcodeServerFailure
	}
	var addrs []netip.Addr
	if tz := snap.findZone(target); tz != nil {
		// Inside our zones the snapshot is the truth: asking a resolver
		// could loop back to us or see stale data.
		sub := s.resolve(ctx, snap, tz, target, qtype, false, depth+1)
		if sub.rcode == mdns.RcodeServerFailure {
			return nil, sub.rcode
		}
		for _, rr := range sub.answer {
			switch rr := rr.(type) {
			case *mdns.A:
				if ip, ok := netip.AddrFromSlice(rr.A); ok && qtype == mdns.TypeA {
					addrs = append(addrs, ip.Unmap())
					ttl = min(ttl, rr.Hdr.Ttl)
				}
			case *mdns.AAAA:
				if ip, ok := netip.AddrFromSlice(rr.AAAA); ok && qtype == mdns.TypeAAAA {
					addrs = append(addrs, ip)
					ttl = min(ttl, rr.Hdr.Ttl)
				}
			}
		}
	} else {
		var err error
		addrs, err = s.external(ctx, snap, target, ttl)
		if err != nil {
			s.log.Warn("dns: ALIAS target lookup failed", "owner", r.owner, "target", target, "err", err)
			return nil, mdns.RcodeServerFailure
		}
	}
	var out []mdns.RR
	hdr := func(t uint16) mdns.RR_Header {
		return mdns.RR_Header{Name: r.owner, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
	}
	for _, ip := range addrs {
		switch {
		case qtype == mdns.TypeA && ip.Unmap().Is4():
			out = append(out, &mdns.A{Hdr: hdr(mdns.TypeA), A: ip.Unmap().AsSlice()})
		case qtype == mdns.TypeAAAA && ip.Is6() && !ip.Is4In6():
			out = append(out, &mdns.AAAA{Hdr: hdr(mdns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out, mdns.RcodeSuccess
}

type aliasEntry struct {
	addrs   []netip.Addr
	expires time.Time
}

// external resolves an ALIAS target outside our zones through cfg.Resolver,
// caching the result in the snapshot.
func (s *Server) external(ctx context.Context, snap *snapshot, target string, ttl uint32) ([]netip.Addr, error) {
	now := time.Now()
	if e, ok := snap.aliasCache.Load(target); ok && now.Before(e.(aliasEntry).expires) {
		return e.(aliasEntry).addrs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, aliasTimeout)
	defer cancel()
	addrs, err := s.resolver(ctx, strings.TrimSuffix(target, "."))
	if err != nil {
		// "No such host" is an answer (NODATA for the ALIAS owner), not a failure.
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			return nil, err
		}
		addrs = nil
	}
	keep := min(max(time.Duration(ttl)*time.Second, aliasCacheMin), aliasCacheMax)
	snap.aliasCache.Store(target, aliasEntry{addrs: addrs, expires: now.Add(keep)})
	return addrs, nil
}

// additional returns in-zone addresses of the hosts named by NS, MX and SRV
// records so resolvers can skip a lookup (and, for referrals, as glue).
func additional(snap *snapshot, rrs []mdns.RR) []mdns.RR {
	var out []mdns.RR
	var seen []string
	for _, rr := range rrs {
		var host string
		switch rr := rr.(type) {
		case *mdns.NS:
			host = rr.Ns
		case *mdns.MX:
			host = rr.Mx
		case *mdns.SRV:
			host = rr.Target
		default:
			continue
		}
		if slices.Contains(seen, host) {
			continue
		}
		seen = append(seen, host)
		z := snap.findZone(host)
		if z == nil {
			continue
		}
		if nd := z.nodes[host]; nd != nil {
			out = append(out, nd.rrsets[mdns.TypeA]...)
			out = append(out, nd.rrsets[mdns.TypeAAAA]...)
		}
	}
	return out
}
