package dns

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// SOA timers. Refresh/retry/expire only matter to secondaries doing AXFR;
// the negative-caching minimum is short because names come and go through
// the API and a cached NXDOMAIN would hide a freshly created record.
const (
	soaTTL     = 3600
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 1209600
	soaMinimum = 60
	nsTTL      = 3600
	// overlayTTL is the TTL of ACME challenge TXT records: they live for
	// minutes and must not linger in caches after the next renewal.
	overlayTTL = 10
)

// snapshot is the immutable state queries read. A new one is built and
// swapped in on every change, so readers never lock.
type snapshot struct {
	zones map[string]*zone // key: lowercased origin fqdn
	// aliasCache holds external ALIAS resolutions; it lives in the snapshot
	// so a zone change naturally discards stale entries.
	aliasCache sync.Map // target fqdn -> aliasEntry
}

type zone struct {
	origin  string
	soa     *mdns.SOA
	negSOA  *mdns.SOA // SOA with TTL = min(TTL, MINIMUM) for negative answers (RFC 2308 §3)
	nodes   map[string]*node
	hasCuts bool
	axfr    []mdns.RR // every record but the SOA, apex NS first, in a stable order
}

// node is one owner name. Empty non-terminals are nodes with no data so that
// "does this name exist" is a single map lookup.
type node struct {
	rrsets map[uint16][]mdns.RR
	alias  *alias
	cut    bool // NS below the apex: a delegation point
}

type alias struct {
	target string
	ttl    uint32
}

// findZone returns the most specific zone containing name (lowercased fqdn).
func (s *snapshot) findZone(name string) *zone {
	for off, end := 0, false; !end; off, end = mdns.NextLabel(name, off) {
		if z, ok := s.zones[name[off:]]; ok {
			return z
		}
	}
	if z, ok := s.zones["."]; ok {
		return z
	}
	return nil
}

// parent returns the name with its first label removed ("." stays ".").
func parent(name string) string {
	off, end := mdns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// compileZone turns a Zone plus the ACME overlay into a zone. Problems are
// returned per record; the offending record is left out and everything else
// is still served, because one bad record must not take a whole zone down.
func compileZone(origin string, z Zone, overlay map[string][]string, owns func(string) bool) (*zone, []error) {
	var errs []error
	zerr := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("zone %s: "+format, append([]any{strings.TrimSuffix(origin, ".")}, a...)...))
	}

	var nsHosts []string
	for _, h := range z.NS {
		t, err := hostTarget("name server", strings.TrimSpace(h), false)
		if err != nil {
			zerr("%v", err)
			continue
		}
		if !slices.Contains(nsHosts, t) {
			nsHosts = append(nsHosts, t)
		}
	}
	if len(nsHosts) == 0 {
		nsHosts = []string{"ns1." + origin}
	}

	byOwner := map[string][]compiled{}
	for i, r := range z.Records {
		c, err := compileRecord(origin, r)
		if err != nil {
			zerr("record %d (%s %s %q): %w", i, displayName(r.Name), r.Type, r.Value, err)
			continue
		}
		if c.owner == origin && c.rr != nil && c.rr.Header().Rrtype == mdns.TypeNS {
			if t := c.rr.(*mdns.NS).Ns; !slices.Contains(nsHosts, t) {
				nsHosts = append(nsHosts, t)
			}
			continue
		}
		byOwner[c.owner] = append(byOwner[c.owner], c)
	}
	for name, values := range overlay {
		if !owns(name) {
			continue
		}
		for _, v := range values {
			byOwner[name] = append(byOwner[name], compiled{
				owner: name,
				ttl:   overlayTTL,
				rr:    &mdns.TXT{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: overlayTTL}, Txt: splitTXT(v)},
			})
		}
	}

	zn := &zone{origin: origin, nodes: map[string]*node{}}
	zn.soa = &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: soaTTL},
		Ns:      nsHosts[0],
		Mbox:    "hostmaster." + origin,
		Serial:  z.Serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  soaMinimum,
	}
	neg := *zn.soa
	neg.Hdr.Ttl = min(soaTTL, soaMinimum)
	zn.negSOA = &neg

	apex := &node{rrsets: map[uint16][]mdns.RR{mdns.TypeSOA: {zn.soa}}}
	for _, h := range nsHosts {
		apex.rrsets[mdns.TypeNS] = append(apex.rrsets[mdns.TypeNS],
			&mdns.NS{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: nsTTL}, Ns: h})
	}
	zn.nodes[origin] = apex

	for owner, cs := range byOwner {
		nd := zn.nodes[owner]
		if nd == nil {
			nd = &node{}
			zn.nodes[owner] = nd
		}
		if nd.rrsets == nil { // may have been created as an empty non-terminal
			nd.rrsets = map[uint16][]mdns.RR{}
		}
		for _, c := range resolveConflicts(owner, cs, zerr) {
			if c.rr == nil {
				nd.alias = &alias{target: c.aliasTarget, ttl: c.ttl}
				continue
			}
			t := c.rr.Header().Rrtype
			if slices.ContainsFunc(nd.rrsets[t], func(o mdns.RR) bool { return mdns.IsDuplicate(o, c.rr) }) {
				continue
			}
			nd.rrsets[t] = append(nd.rrsets[t], c.rr)
			if t == mdns.TypeNS && owner != origin {
				nd.cut = true
				zn.hasCuts = true
			}
		}
		// RFC 2181 §5.2: all records of an RRset share one TTL; use the lowest.
		for _, rrs := range nd.rrsets {
			low := rrs[0].Header().Ttl
			for _, rr := range rrs {
				low = min(low, rr.Header().Ttl)
			}
			for _, rr := range rrs {
				rr.Header().Ttl = low
			}
		}
		// Ancestors up to the apex exist even without data (RFC 8020).
		for p := parent(owner); p != origin && mdns.IsSubDomain(origin, p); p = parent(p) {
			if _, ok := zn.nodes[p]; ok {
				break
			}
			zn.nodes[p] = &node{}
		}
	}

	zn.axfr = append(zn.axfr, apex.rrsets[mdns.TypeNS]...)
	owners := make([]string, 0, len(zn.nodes))
	for n := range zn.nodes {
		if n != origin {
			owners = append(owners, n)
		}
	}
	slices.Sort(owners)
	owners = append([]string{origin}, owners...)
	for _, n := range owners {
		nd := zn.nodes[n]
		types := make([]uint16, 0, len(nd.rrsets))
		for t := range nd.rrsets {
			if n == origin && (t == mdns.TypeSOA || t == mdns.TypeNS) {
				continue
			}
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			zn.axfr = append(zn.axfr, nd.rrsets[t]...)
		}
	}
	return zn, errs
}

// resolveConflicts enforces RFC 1034 §3.6.2 (a CNAME owner has no other
// data) and keeps ALIAS from shadowing explicit addresses. The special record
// loses in both cases so that the ordinary data keeps working.
func resolveConflicts(owner string, cs []compiled, zerr func(string, ...any)) []compiled {
	var cname, aliasN, addr, other int
	for _, c := range cs {
		switch {
		case c.rr == nil:
			aliasN++
		case c.rr.Header().Rrtype == mdns.TypeCNAME:
			cname++
		case c.rr.Header().Rrtype == mdns.TypeA || c.rr.Header().Rrtype == mdns.TypeAAAA:
			addr++
		default:
			other++
		}
	}
	conflict := cname > 1 || cname > 0 && aliasN+addr+other > 0 || aliasN > 1 || aliasN > 0 && addr > 0
	if !conflict {
		return cs
	}
	name := strings.TrimSuffix(owner, ".")
	keepCNAME := cname > 0 && aliasN+addr+other == 0
	keepAlias := aliasN > 0 && addr == 0
	out := cs[:0:0]
	seenCNAME, seenAlias := false, false
	for _, c := range cs {
		switch {
		case c.rr == nil:
			if !keepAlias {
				zerr("ALIAS at %s dropped: the name also has A/AAAA records", name)
				continue
			}
			if seenAlias {
				zerr("second ALIAS at %s dropped: a name can have only one", name)
				continue
			}
			seenAlias = true
		case c.rr.Header().Rrtype == mdns.TypeCNAME:
			if !keepCNAME {
				zerr("CNAME at %s dropped: a name with a CNAME cannot have other records", name)
				continue
			}
			if seenCNAME {
				zerr("second CNAME at %s dropped: a name can have only one", name)
				continue
			}
			seenCNAME = true
		}
		out = append(out, c)
	}
	return out
}

// lookup kinds, in the order of RFC 1034 §4.3.2.
type kind int

const (
	kindAnswer kind = iota
	kindCNAME
	kindAlias
	kindNoData
	kindNXDomain
	kindReferral
)

type result struct {
	kind   kind
	rrs    []mdns.RR // answer, CNAME, or referral NS records
	alias  *alias
	owner  string // owner for synthesized ALIAS answers
	target string // CNAME target
}

// lookup answers name (lowercased fqdn inside z) from this zone alone.
func (z *zone) lookup(name string, qtype uint16, tcp bool) result {
	if z.hasCuts {
		var cut string
		for n := name; n != z.origin && n != "."; n = parent(n) {
			if nd := z.nodes[n]; nd != nil && nd.cut {
				cut = n
			}
		}
		if cut != "" && !(cut == name && qtype == mdns.TypeDS) {
			return result{kind: kindReferral, rrs: z.nodes[cut].rrsets[mdns.TypeNS]}
		}
	}
	if nd, ok := z.nodes[name]; ok {
		return nd.answer(name, qtype, tcp, false)
	}
	// RFC 4592: only the closest encloser's "*" child may match, and only
	// because name itself does not exist.
	ce := parent(name)
	for ce != z.origin && ce != "." {
		if _, ok := z.nodes[ce]; ok {
			break
		}
		ce = parent(ce)
	}
	if nd, ok := z.nodes["*."+ce]; ok {
		return nd.answer(name, qtype, tcp, true)
	}
	return result{kind: kindNXDomain}
}

// answer picks the data of one node. synth rewrites owners for wildcard
// answers; stored records are never modified.
func (nd *node) answer(owner string, qtype uint16, tcp, synth bool) result {
	own := func(rrs []mdns.RR) []mdns.RR {
		if !synth {
			return rrs
		}
		return withOwner(rrs, owner)
	}
	if qtype == mdns.TypeANY {
		if !tcp {
			// RFC 8482: ANY over UDP is an amplification vector; answer small.
			return result{kind: kindAnswer, rrs: []mdns.RR{&mdns.HINFO{
				Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: DefaultTTL},
				Cpu: "RFC8482",
			}}}
		}
		var all []mdns.RR
		for _, rrs := range nd.rrsets {
			all = append(all, own(rrs)...)
		}
		if len(all) == 0 {
			return result{kind: kindNoData}
		}
		return result{kind: kindAnswer, rrs: all}
	}
	if rrs := nd.rrsets[qtype]; len(rrs) > 0 {
		return result{kind: kindAnswer, rrs: own(rrs)}
	}
	if cn := nd.rrsets[mdns.TypeCNAME]; len(cn) > 0 {
		return result{kind: kindCNAME, rrs: own(cn), target: cn[0].(*mdns.CNAME).Target}
	}
	if nd.alias != nil && (qtype == mdns.TypeA || qtype == mdns.TypeAAAA) {
		return result{kind: kindAlias, alias: nd.alias, owner: owner}
	}
	return result{kind: kindNoData}
}

// withOwner returns copies of rrs owned by name.
func withOwner(rrs []mdns.RR, name string) []mdns.RR {
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		c.Header().Name = name
		out[i] = c
	}
	return out
}

// sortZones gives SetZones a deterministic order for error messages.
func sortZones(zs []Zone) []Zone {
	out := slices.Clone(zs)
	slices.SortStableFunc(out, func(a, b Zone) int {
		return cmp.Compare(strings.ToLower(a.Origin), strings.ToLower(b.Origin))
	})
	return out
}
