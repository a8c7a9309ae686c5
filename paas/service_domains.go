package paas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/selfhost/paas/dns"
)

// verifyLookupTimeout bounds the _now TXT lookup of a verification retry,
// which runs inside the client's POST.
const verifyLookupTimeout = 5 * time.Second

// CreateOrVerifyDomain registers name for owner, or, when owner already has
// it, answers the now API's "retry the same POST": an unverified external
// domain is verified if the TXT record _now.<name> holds its token.
// Internal domains are served by this platform's DNS and verified at once.
func (p *Platform) CreateOrVerifyDomain(ctx context.Context, owner, name string, external bool) (Domain, error) {
	name = NormalizeDomainName(name)
	if err := ValidateDomainName(name, p.cfg.Domain); err != nil {
		return Domain{}, err
	}
	d := Domain{UID: newDomainUID(), Name: name, Owner: owner, IsExternal: external, Verified: !external}
	if external {
		d.VerifyToken = newVerifyToken()
	}
	d, created, err := p.Store.CreateDomain(d)
	if err != nil {
		return Domain{}, err
	}
	if created {
		if !d.IsExternal {
			p.zonesDidChange()
		}
		return d, nil
	}
	if d.IsExternal != external {
		return Domain{}, Conflict("domain %q is already registered with isExternal %t; delete it first to change that", name, d.IsExternal)
	}
	if d.Verified {
		return d, nil
	}
	ok, err := p.verifyTXT(ctx, d)
	if err != nil || !ok {
		// Not verified yet is an answer, not an error: the client retries.
		if err != nil {
			p.log.Warn("domain verification lookup failed", "domain", name, "err", err)
		}
		return d, nil
	}
	return p.Store.MarkDomainVerified(owner, name, d.UID)
}

// verifyTXT looks for d's token at _now.<name> through the configured
// resolver (the system one when none is set).
func (p *Platform) verifyTXT(ctx context.Context, d Domain) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyLookupTimeout)
	defer cancel()
	txt, err := dns.LookupTXT(ctx, p.cfg.Resolver, "_now."+d.Name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, v := range txt {
		if strings.TrimSpace(v) == d.VerifyToken {
			return true, nil
		}
	}
	return false, nil
}

// Domains lists owner's domains.
func (p *Platform) Domains(owner string) ([]Domain, error) {
	return p.Store.Domains(owner)
}

// DeleteDomain removes owner's domain and its records.
func (p *Platform) DeleteDomain(owner, name string) (Domain, error) {
	d, err := p.Store.DeleteDomain(owner, NormalizeDomainName(name))
	if err != nil {
		return Domain{}, err
	}
	if !d.IsExternal {
		p.zonesDidChange()
	}
	return d, nil
}

// CreateRecord validates rec (hasPriority: the client sent mxPriority) and
// adds it to owner's domain. A record the DNS server could not serve, alone
// or next to the domain's other records, is refused with 400.
func (p *Platform) CreateRecord(owner, domain string, rec Record, hasPriority bool) (Record, error) {
	domain = NormalizeDomainName(domain)
	if _, err := p.Store.Domain(owner, domain); err != nil {
		return Record{}, err // 404 before 400: do not validate against others' domains
	}
	rec, err := normalizeRecord(domain, rec, hasPriority)
	if err != nil {
		return Record{}, err
	}
	rec.ID = newRecordID()
	served := false
	rec, err = p.Store.CreateRecord(owner, domain, rec, func(d Domain, existing []Record) error {
		served = !d.IsExternal
		return p.checkZoneConflicts(d, existing, rec)
	})
	if err != nil {
		return Record{}, err
	}
	if served {
		p.zonesDidChange()
	}
	return rec, nil
}

// checkZoneConflicts compiles the zone with and without rec and refuses rec
// when it makes the server drop a record (a CNAME next to other data, a
// second CNAME, ALIAS next to A/AAAA): dns.ValidateRecord sees one record
// only, and a silently dropped record is worse than a 400.
func (p *Platform) checkZoneConflicts(d Domain, existing []Record, rec Record) error {
	compile := func(recs []Record) map[string]bool {
		z := p.userZone(d, recs)
		srv := dns.NewServer(dns.Config{Logger: slog.New(slog.DiscardHandler)})
		msgs := map[string]bool{}
		if err := srv.SetZones([]dns.Zone{z}); err != nil {
			for _, e := range unjoin(err) {
				msgs[e.Error()] = true
			}
		}
		return msgs
	}
	after := compile(append(slices.Clip(existing), rec))
	if len(after) == 0 {
		return nil
	}
	before := compile(existing)
	var added []string
	for m := range after {
		if !before[m] {
			added = append(added, m)
		}
	}
	if len(added) == 0 {
		return nil
	}
	slices.Sort(added)
	return BadRequest("record conflicts with the domain's other records: %s", strings.Join(added, "; "))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Records lists the records of owner's domain.
func (p *Platform) Records(owner, domain string) ([]Record, error) {
	return p.Store.Records(owner, NormalizeDomainName(domain))
}

// DeleteRecord removes one record of owner's domain.
func (p *Platform) DeleteRecord(owner, domain, id string) error {
	domain = NormalizeDomainName(domain)
	d, _, err := p.Store.DeleteRecord(owner, domain, id)
	if err != nil {
		return err
	}
	if !d.IsExternal {
		p.zonesDidChange()
	}
	return nil
}

// nameServer is the platform's name server host, the NS of every zone served.
func (p *Platform) nameServer() string {
	return "ns1." + NormalizeDomainName(p.cfg.Domain)
}

func (p *Platform) userZone(d Domain, recs []Record) dns.Zone {
	z := dns.Zone{Origin: d.Name, NS: []string{p.nameServer()}}
	for _, r := range recs {
		z.Records = append(z.Records, r.DNSRecord())
	}
	return z
}

// Zones builds the DNS view: the platform zone (apex, ns1 and every app's
// <subdomain> at the public addresses) and each internal user domain, with
// SOA serials that change exactly when a zone's content changes.
func (p *Platform) Zones() ([]dns.Zone, error) {
	ips := p.cfg.PublicIPs
	if len(ips) == 0 {
		ips, _ = ParsePublicIPs("")
	}
	addrs := func(name string) []dns.Record {
		out := make([]dns.Record, 0, len(ips))
		for _, ip := range ips {
			typ := "A"
			if ip.Is6() {
				typ = "AAAA"
			}
			out = append(out, dns.Record{Name: name, Type: typ, Value: ip.String()})
		}
		return out
	}
	var zones []dns.Zone
	serials, err := p.Store.zoneSerials(func(src zoneSource) (map[string]string, error) {
		zones = zones[:0]
		platform := dns.Zone{Origin: NormalizeDomainName(p.cfg.Domain), NS: []string{p.nameServer()}}
		platform.Records = append(platform.Records, addrs("")...)
		names := map[string]bool{"": true, "ns1": true}
		platform.Records = append(platform.Records, addrs("ns1")...)
		for _, sub := range src.Subdomains {
			if sub == "" || names[sub] {
				continue // an app named like ns1 gets the same addresses anyway
			}
			names[sub] = true
			platform.Records = append(platform.Records, addrs(sub)...)
		}
		zones = append(zones, platform)
		for _, d := range src.Domains {
			if isSubdomainOf(d.Name, p.cfg.Domain) {
				continue // registered before the platform domain changed to cover it
			}
			zones = append(zones, p.userZone(d, src.Records[d.Name]))
		}
		hashes := make(map[string]string, len(zones))
		for _, z := range zones {
			h, err := zoneHash(z)
			if err != nil {
				return nil, err
			}
			hashes[z.Origin] = h
		}
		return hashes, nil
	})
	if err != nil {
		return nil, err
	}
	for i := range zones {
		zones[i].Serial = serials[zones[i].Origin]
	}
	return zones, nil
}

// zoneHash is a hash of a zone's content that ignores record order.
func zoneHash(z dns.Zone) (string, error) {
	recs := make([]string, 0, len(z.Records))
	for _, r := range z.Records {
		b, err := json.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("hash zone %s: %w", z.Origin, err)
		}
		recs = append(recs, string(b))
	}
	slices.Sort(recs)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", z.Origin, z.NS)
	for _, r := range recs {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// OnZonesChanged registers fn to be called after any change to the content
// the DNS view is built from through this service (internal domains and
// their records). App changes are announced by OnAppsChanged.
func (p *Platform) OnZonesChanged(fn func()) {
	p.zonesChanged = fn
}

func (p *Platform) zonesDidChange() {
	if p.zonesChanged != nil {
		p.zonesChanged()
	}
}
