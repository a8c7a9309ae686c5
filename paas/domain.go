package paas

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/selfhost/paas/dns"
)

// Domain is a domain name a user registered. Internal domains (IsExternal
// false) are served by the platform's DNS server and are verified at once;
// external ones keep their DNS elsewhere and are verified by a TXT record
// "_now.<name>" holding VerifyToken.
type Domain struct {
	UID         string    `json:"uid"`
	Name        string    `json:"name"` // lowercase, no trailing dot
	Owner       string    `json:"owner"`
	IsExternal  bool      `json:"is_external"`
	Verified    bool      `json:"verified"`
	VerifyToken string    `json:"verify_token,omitempty"`
	Created     time.Time `json:"created"`
}

// Record is one DNS record of a domain, in the now API's terms. Name is
// relative to the domain ("" is the apex, "*" a wildcard).
type Record struct {
	ID         string    `json:"id"`
	Domain     string    `json:"domain"`
	Name       string    `json:"name"`
	Type       string    `json:"type"` // uppercase
	Value      string    `json:"value"`
	MXPriority uint16    `json:"mx_priority,omitempty"` // MX only
	Created    time.Time `json:"created"`
}

// Slug is the record's display id in the now API: "<fqdn>.-<kind>", where
// address-like types (A, AAAA, ALIAS, CNAME) share the kind "address" as
// in the document's examples and the others use their lowercased type.
func (r Record) Slug() string {
	fqdn := r.Domain + "."
	if r.Name != "" {
		fqdn = r.Name + "." + fqdn
	}
	kind := strings.ToLower(r.Type)
	switch r.Type {
	case "A", "AAAA", "ALIAS", "CNAME":
		kind = "address"
	}
	return fqdn + "-" + kind
}

// DNSRecord is the record as the DNS server takes it.
func (r Record) DNSRecord() dns.Record {
	return dns.Record{Name: r.Name, Type: r.Type, Value: r.Value, MXPriority: r.MXPriority}
}

// Bounds that keep one account from growing the DNS view without limit.
const (
	MaxDomainsPerOwner  = 200
	MaxRecordsPerDomain = 1000
)

var domainLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeDomainName lowercases a domain name and drops one trailing dot,
// so "Example.ORG." and "example.org" name the same domain.
func NormalizeDomainName(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// ValidateDomainName checks a normalized domain name: a host name of at
// least two LDH labels that is neither the platform domain nor under it
// (those names belong to apps).
func ValidateDomainName(name, platformDomain string) error {
	if name == "" {
		return BadRequest("domain name is required")
	}
	if len(name) > 253 {
		return BadRequest("domain name %q is longer than 253 characters", name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return BadRequest("domain name %q must have at least two labels, such as example.com", name)
	}
	for _, l := range labels {
		if !domainLabelRE.MatchString(l) {
			return BadRequest("invalid domain name %q: each label must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'", name)
		}
	}
	if IsSubdomainOf(name, platformDomain) {
		return BadRequest("domain %q is the platform domain or under it; apps get their names there automatically", name)
	}
	return nil
}

// IsSubdomainOf reports whether name is parent or a name under it.
func IsSubdomainOf(name, parent string) bool {
	parent = NormalizeDomainName(parent)
	return parent != "" && (name == parent || strings.HasSuffix(name, "."+parent))
}

// NormalizeRecord validates rec for the domain and returns it in stored
// form: uppercase type, name relative to the domain, trimmed value. The
// check is dns.ValidateRecord, the conversion the server itself runs, so an
// accepted record is one the server can answer.
func NormalizeRecord(domain string, rec Record, hasPriority bool) (Record, error) {
	rec.Type = strings.ToUpper(strings.TrimSpace(rec.Type))
	if rec.Type != "TXT" {
		rec.Value = strings.TrimSpace(rec.Value)
	}
	if hasPriority && rec.Type != "MX" {
		return Record{}, BadRequest("mxPriority is only allowed for MX records")
	}
	if rec.Type == "MX" && !hasPriority {
		return Record{}, BadRequest("MX records need mxPriority")
	}
	if err := dns.ValidateRecord(domain, rec.DNSRecord()); err != nil {
		return Record{}, BadRequest("%s", err.Error())
	}
	rec.Name = relativeName(domain, rec.Name)
	rec.Domain = domain
	return rec, nil
}

// relativeName turns an accepted record name ("@", "www", "www.example.org",
// "www.example.org.") into its form relative to domain ("", "www").
func relativeName(domain, name string) string {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	switch {
	case n == "@" || n == domain:
		return ""
	case strings.HasSuffix(n, "."+domain):
		return strings.TrimSuffix(n, "."+domain)
	}
	return n
}

// ParsePublicIPs parses the comma-separated public addresses of the
// server; an empty list means 127.0.0.1 so a fresh install answers locally.
func ParsePublicIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("public IP %q is not an IPv4 or IPv6 address", f)
		}
		out = append(out, ip.Unmap())
	}
	if len(out) == 0 {
		out = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return out, nil
}

func NewDomainUID() string { return RandomID("dom_", 24) }
func NewRecordID() string  { return RandomID("rec_", 24) }

// NewVerifyToken is 20 random bytes in hex, like the document's example.
func NewVerifyToken() string { return RandomHex(20) }
