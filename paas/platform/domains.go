package platform

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
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// verifyLookupTimeout bounds the _now TXT lookup of a verification retry,
// which runs inside the client's POST.
const verifyLookupTimeout = 5 * time.Second

// CreateOrVerifyDomain registers name for owner, or, when owner already has
// it, answers the now API's "retry the same POST". A domain is the
// claimant's only with proof, since the platform then answers for it
// authoritatively: the TXT record _now.<name> holding its token, or the
// name delegated (NS, through the configured resolver) to this platform's
// name server; an admin's registration needs none. Until then it is a
// pending claim, which blocks nobody else's. Internal domains are served
// by this platform's DNS once proven; external ones keep their DNS elsewhere.
func (p *Platform) CreateOrVerifyDomain(ctx context.Context, pr *paas.Principal, owner, name string, external bool) (paas.Domain, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Domain, error) {
		return p.createOrVerifyDomain(ctx, owner, name, external, pr.IsAdmin())
	})
}

func (p *Platform) createOrVerifyDomain(ctx context.Context, owner, name string, external, trusted bool) (paas.Domain, error) {
	name = paas.NormalizeDomainName(name)
	if err := paas.ValidateDomainName(name, p.cfg.Domain); err != nil {
		return paas.Domain{}, err
	}
	d := paas.Domain{UID: paas.NewDomainUID(), Name: name, Owner: owner, IsExternal: external, Verified: trusted}
	if !trusted {
		d.VerifyToken = paas.NewVerifyToken()
	}
	d, created, err := p.store.CreateDomain(d)
	if err != nil {
		return paas.Domain{}, err
	}
	if !created && d.IsExternal != external {
		return paas.Domain{}, paas.Conflict("domain %q is already registered with isExternal %t; delete it first to change that", name, d.IsExternal)
	}
	if d.Verified {
		if created && !d.IsExternal {
			p.zonesDidChange()
		}
		return d, nil
	}
	ok, err := p.proven(ctx, d)
	if err != nil || !ok {
		// Not verified yet is an answer, not an error: the client retries.
		if err != nil {
			p.log.Warn("domain verification lookup failed", "domain", name, "err", err)
		}
		return d, nil
	}
	d, err = p.store.MarkDomainVerified(owner, name, d.UID)
	if err == nil && !d.IsExternal {
		p.zonesDidChange()
	}
	return d, err
}

// proven reports whether d's claimant controls its name: the _now TXT
// holds d's token, or the name is delegated to this platform.
func (p *Platform) proven(ctx context.Context, d paas.Domain) (bool, error) {
	ok, txtErr := p.verifyTXT(ctx, d)
	if ok {
		return true, nil
	}
	ok, nsErr := p.delegatedHere(ctx, d.Name)
	if ok {
		return true, nil
	}
	if txtErr != nil && nsErr != nil {
		return false, errors.Join(txtErr, nsErr)
	}
	return false, nil
}

// delegatedHere reports whether name's NS records name this platform's
// name server.
func (p *Platform) delegatedHere(ctx context.Context, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyLookupTimeout)
	defer cancel()
	ns, err := dns.LookupNS(ctx, p.cfg.Resolver, name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(ns, p.nameServer()), nil
}

// verifyTXT looks for d's token at _now.<name> through the configured
// resolver (the system one when none is set).
func (p *Platform) verifyTXT(ctx context.Context, d paas.Domain) (bool, error) {
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
func (p *Platform) Domains(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Domain, error) {
	return asOwner(ctx, p, pr, owner, p.store.Domains)
}

// DeleteDomain removes owner's domain and its records.
func (p *Platform) DeleteDomain(ctx context.Context, pr *paas.Principal, owner, name string) (paas.Domain, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Domain, error) {
		d, err := p.store.DeleteDomain(owner, paas.NormalizeDomainName(name))
		if err != nil {
			return paas.Domain{}, err
		}
		if !d.IsExternal {
			p.zonesDidChange()
		}
		p.appsDidChange() // its aliases went with it
		return d, nil
	})
}

// CreateRecord validates rec (hasPriority: the client sent mxPriority) and
// adds it to owner's domain. A record the DNS server could not serve, alone
// or next to the domain's other records, is refused with 400.
func (p *Platform) CreateRecord(ctx context.Context, pr *paas.Principal, owner, domain string, rec paas.Record, hasPriority bool) (paas.Record, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Record, error) { return p.createRecord(owner, domain, rec, hasPriority) })
}

func (p *Platform) createRecord(owner, domain string, rec paas.Record, hasPriority bool) (paas.Record, error) {
	domain = paas.NormalizeDomainName(domain)
	if _, err := p.store.Domain(owner, domain); err != nil {
		return paas.Record{}, err // 404 before 400: do not validate against others' domains
	}
	rec, err := paas.NormalizeRecord(domain, rec, hasPriority)
	if err != nil {
		return paas.Record{}, err
	}
	rec.ID = paas.NewRecordID()
	served := false
	rec, err = p.store.CreateRecord(owner, domain, rec, func(d paas.Domain, existing []paas.Record) error {
		served = !d.IsExternal
		return p.checkZoneConflicts(d, existing, rec)
	})
	if err != nil {
		return paas.Record{}, err
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
func (p *Platform) checkZoneConflicts(d paas.Domain, existing []paas.Record, rec paas.Record) error {
	compile := func(recs []paas.Record) map[string]bool {
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
	return paas.BadRequest("record conflicts with the domain's other records: %s", strings.Join(added, "; "))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Records lists the records of owner's domain.
func (p *Platform) Records(ctx context.Context, pr *paas.Principal, owner, domain string) ([]paas.Record, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) ([]paas.Record, error) {
		return p.store.Records(owner, paas.NormalizeDomainName(domain))
	})
}

// DeleteRecord removes one record of owner's domain.
func (p *Platform) DeleteRecord(ctx context.Context, pr *paas.Principal, owner, domain, id string) error {
	_, err := asOwner(ctx, p, pr, owner, func(owner string) (struct{}, error) {
		d, _, err := p.store.DeleteRecord(owner, paas.NormalizeDomainName(domain), id)
		if err == nil && !d.IsExternal {
			p.zonesDidChange()
		}
		return struct{}{}, err
	})
	return err
}

// nameServer is the platform's name server host, the NS of every zone served.
func (p *Platform) nameServer() string {
	return "ns1." + paas.NormalizeDomainName(p.cfg.Domain)
}

func (p *Platform) userZone(d paas.Domain, recs []paas.Record) dns.Zone {
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
		ips, _ = paas.ParsePublicIPs("")
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
	serials, err := p.store.ZoneSerials(func(src store.ZoneSource) (map[string]string, error) {
		zones = zones[:0]
		platform := dns.Zone{Origin: paas.NormalizeDomainName(p.cfg.Domain), NS: []string{p.nameServer()}}
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
			if paas.IsSubdomainOf(d.Name, p.cfg.Domain) {
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
