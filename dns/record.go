package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// Record is one user-managed record, shaped like the ZEIT/Vercel "now" DNS API
// so the core can store what the API receives and hand it over unchanged.
//
// Name is relative to the zone: "" or "@" is the apex, "www" a child,
// "*" or "*.dev" a wildcard. A name that ends with the zone origin
// ("www.example.com" in example.com) or with a dot ("www.example.com.") is
// taken as absolute and must lie inside the zone.
//
// Value depends on Type:
//
//	A      "1.2.3.4"
//	AAAA   "2001:db8::1"
//	CNAME  "target.example.com"     (absolute; trailing dot optional)
//	ALIAS  "target.example.net"     (flattened to A/AAAA at query time)
//	MX     "mail.example.com"       (priority in MXPriority; "." is a null MX)
//	TXT    raw text, no quoting     (split into 255-byte strings on the wire)
//	CAA    `0 issue "letsencrypt.org"`
//	SRV    "priority weight port target"
//	NS     "ns1.example.net"        (apex: extra zone NS; elsewhere: delegation)
type Record struct {
	Name       string
	Type       string
	Value      string
	MXPriority uint16
	TTL        uint32 // 0 means DefaultTTL
}

// Zone is everything the server needs to answer for one origin.
type Zone struct {
	Origin string // e.g. "example.com"; any case, trailing dot optional
	// Serial goes into the SOA. The caller derives it and must change it
	// whenever the zone content changes, otherwise secondaries never refresh.
	Serial  uint32
	NS      []string // apex name servers (fqdn); empty means "ns1.<origin>"
	Records []Record
}

const (
	// DefaultTTL applies to records with TTL 0. It is short because records
	// are edited through an API and users expect changes to show up quickly.
	DefaultTTL = 60
	// maxTTL is the RFC 2181 §8 upper bound.
	maxTTL = 1<<31 - 1
	// maxTXTLen bounds a single TXT value; the largest real-world values
	// (4096-bit DKIM keys) are well below it and it keeps answers sane.
	maxTXTLen = 4096
)

// ValidateRecord reports whether r can be served in the zone zoneOrigin, with
// a message meant to be shown to the user as is (the API answers 400 with it).
// It runs exactly the conversion the server uses, so a record accepted here
// is one the server can answer for. Conflicts between records (a CNAME next to
// other data at the same name) are only detectable per zone, see SetZones.
func ValidateRecord(zoneOrigin string, r Record) error {
	origin, err := normalizeOrigin(zoneOrigin)
	if err != nil {
		return err
	}
	_, err = compileRecord(origin, r)
	return err
}

// compiled is a Record converted to wire form. ALIAS has no wire type, so it
// is carried as aliasTarget instead of rr.
type compiled struct {
	owner       string // lowercased fqdn
	rr          mdns.RR
	aliasTarget string // lowercased fqdn, only for ALIAS
	ttl         uint32
}

func compileRecord(origin string, r Record) (compiled, error) {
	typ := strings.ToUpper(strings.TrimSpace(r.Type))
	owner, err := ownerName(origin, r.Name)
	if err != nil {
		return compiled{}, err
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl > maxTTL {
		return compiled{}, fmt.Errorf("TTL %d is too large (maximum %d)", r.TTL, maxTTL)
	}
	c := compiled{owner: owner, ttl: ttl}
	hdr := func(t uint16) mdns.RR_Header {
		return mdns.RR_Header{Name: owner, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
	}
	value := r.Value
	if typ != "TXT" {
		value = strings.TrimSpace(value)
	}
	if value == "" {
		return compiled{}, fmt.Errorf("%s record for %q has an empty value", typ, displayName(r.Name))
	}
	apex := owner == origin
	wildcard := strings.HasPrefix(owner, "*.")

	switch typ {
	case "A":
		ip, err := netip.ParseAddr(value)
		if err != nil || !ip.Is4() {
			return compiled{}, fmt.Errorf("A record value %q is not an IPv4 address", value)
		}
		c.rr = &mdns.A{Hdr: hdr(mdns.TypeA), A: ip.AsSlice()}
	case "AAAA":
		ip, err := netip.ParseAddr(value)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return compiled{}, fmt.Errorf("AAAA record value %q is not an IPv6 address", value)
		}
		c.rr = &mdns.AAAA{Hdr: hdr(mdns.TypeAAAA), AAAA: ip.AsSlice()}
	case "CNAME":
		if apex {
			return compiled{}, errors.New("a CNAME record cannot be at the zone apex (it would hide the SOA and NS records); use ALIAS instead")
		}
		target, err := hostTarget("CNAME target", value, false)
		if err != nil {
			return compiled{}, err
		}
		if target == owner {
			return compiled{}, fmt.Errorf("CNAME record %q points to itself", strings.TrimSuffix(owner, "."))
		}
		c.rr = &mdns.CNAME{Hdr: hdr(mdns.TypeCNAME), Target: target}
	case "ALIAS":
		target, err := hostTarget("ALIAS target", value, false)
		if err != nil {
			return compiled{}, err
		}
		if target == owner {
			return compiled{}, fmt.Errorf("ALIAS record %q points to itself", strings.TrimSuffix(owner, "."))
		}
		c.aliasTarget = target
	case "MX":
		if strings.ContainsAny(value, " \t") {
			return compiled{}, fmt.Errorf("MX record value %q must be just the mail server host name; put the priority in MXPriority", value)
		}
		target, err := hostTarget("MX mail server", value, true)
		if err != nil {
			return compiled{}, err
		}
		c.rr = &mdns.MX{Hdr: hdr(mdns.TypeMX), Preference: r.MXPriority, Mx: target}
	case "TXT":
		if len(value) > maxTXTLen {
			return compiled{}, fmt.Errorf("TXT record value is %d bytes long (maximum %d)", len(value), maxTXTLen)
		}
		c.rr = &mdns.TXT{Hdr: hdr(mdns.TypeTXT), Txt: splitTXT(value)}
	case "CAA":
		rr, err := parseCAA(value)
		if err != nil {
			return compiled{}, err
		}
		rr.Hdr = hdr(mdns.TypeCAA)
		c.rr = rr
	case "SRV":
		rr, err := parseSRV(value)
		if err != nil {
			return compiled{}, err
		}
		rr.Hdr = hdr(mdns.TypeSRV)
		c.rr = rr
	case "NS":
		if wildcard {
			return compiled{}, errors.New("NS records cannot be wildcards")
		}
		target, err := hostTarget("NS name server", value, false)
		if err != nil {
			return compiled{}, err
		}
		c.rr = &mdns.NS{Hdr: hdr(mdns.TypeNS), Ns: target}
	case "":
		return compiled{}, errors.New("record type is missing")
	default:
		return compiled{}, fmt.Errorf("record type %q is not supported (supported: A, AAAA, CNAME, ALIAS, MX, TXT, CAA, SRV, NS)", r.Type)
	}
	return c, nil
}

func displayName(n string) string {
	if n == "" {
		return "@"
	}
	return n
}

// normalizeOrigin returns the lowercased fqdn of a zone origin.
func normalizeOrigin(origin string) (string, error) {
	o := strings.ToLower(strings.TrimSpace(origin))
	if o == "" || o == "." {
		return "", errors.New("zone origin is empty")
	}
	o = mdns.Fqdn(o)
	if err := checkHostname(o, false); err != nil {
		return "", fmt.Errorf("zone origin %q: %w", origin, err)
	}
	return o, nil
}

// ownerName resolves a record name against origin; see Record for the rules.
func ownerName(origin, name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	bare := strings.TrimSuffix(origin, ".")
	switch {
	case n == "" || n == "@" || n == bare || n == origin:
		return origin, nil
	case strings.HasSuffix(n, "."):
		if !mdns.IsSubDomain(origin, n) {
			return "", fmt.Errorf("record name %q is outside the zone %s", name, bare)
		}
	case strings.HasSuffix(n, "."+bare):
		n += "."
	default:
		n += "." + origin
	}
	if err := checkHostname(n, true); err != nil {
		return "", fmt.Errorf("record name %q: %w", name, err)
	}
	return n, nil
}

// hostTarget validates a host name in a record value and returns it as a
// lowercased fqdn. Single-label targets are rejected because they are almost
// always a forgotten domain ("www" meant "www.example.com").
func hostTarget(what, value string, allowRoot bool) (string, error) {
	v := strings.ToLower(value)
	if v == "." {
		if allowRoot {
			return ".", nil
		}
		return "", fmt.Errorf("%s cannot be the root name", what)
	}
	v = mdns.Fqdn(v)
	if err := checkHostname(v, false); err != nil {
		return "", fmt.Errorf("%s %q: %w", what, value, err)
	}
	if mdns.CountLabel(v) < 2 {
		return "", fmt.Errorf("%s %q must be a fully qualified domain name such as host.example.com", what, value)
	}
	return v, nil
}

// checkHostname accepts LDH labels plus '_' (service names, _acme-challenge)
// and, when wildcard is set, a leading "*" label.
func checkHostname(fqdn string, wildcard bool) error {
	if len(fqdn) > 254 { // 253 characters plus the trailing dot
		return errors.New("name is longer than 253 characters")
	}
	labels := strings.Split(strings.TrimSuffix(fqdn, "."), ".")
	for i, l := range labels {
		if l == "" {
			return errors.New("name has an empty label (two dots in a row?)")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", l)
		}
		if l == "*" {
			if wildcard && i == 0 {
				continue
			}
			return errors.New("'*' is only allowed as the leftmost label")
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("label %q contains the invalid character %q", l, c)
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q cannot start or end with '-'", l)
		}
	}
	return nil
}

// splitTXT cuts raw text into the 255-byte character-strings TXT rdata is
// made of, escaped the way miekg/dns expects (it unescapes when packing).
func splitTXT(raw string) []string {
	var out []string
	for len(raw) > 0 {
		n := min(len(raw), 255)
		out = append(out, escapeTXT(raw[:n]))
		raw = raw[n:]
	}
	return out
}

// escapeTXT mirrors what miekg/dns produces when unpacking, so compiled
// records compare equal to records read off the wire.
func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeTXT reverses escapeTXT (and miekg/dns' unpacking).
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			n, _ := strconv.Atoi(s[i : i+3])
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseCAA reads `flags tag value`, with the value quoted or not.
func parseCAA(v string) (*mdns.CAA, error) {
	const form = `CAA value must look like: 0 issue "letsencrypt.org"`
	fields := strings.Fields(v)
	if len(fields) < 3 {
		return nil, fmt.Errorf("%s (got %q)", form, v)
	}
	flag, err := strconv.ParseUint(fields[0], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("CAA flags %q must be a number between 0 and 255", fields[0])
	}
	tag := strings.ToLower(fields[1])
	if len(tag) > 15 || !isAlnum(tag) {
		return nil, fmt.Errorf("CAA tag %q must be 1-15 letters or digits, such as issue, issuewild or iodef", fields[1])
	}
	// The value is everything after the tag, so quoted values may hold spaces.
	_, rest, _ := strings.Cut(strings.TrimSpace(v), fields[0])
	_, rest, _ = strings.Cut(rest, fields[1])
	rest = strings.TrimSpace(rest)
	if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
		rest = rest[1 : len(rest)-1]
	}
	if strings.ContainsAny(rest, "\"\\") {
		return nil, fmt.Errorf("CAA value %q cannot contain quotes or backslashes", rest)
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < ' ' || rest[i] > '~' {
			return nil, fmt.Errorf("CAA value %q must be printable ASCII", rest)
		}
	}
	if (tag == "issue" || tag == "issuewild") && strings.ContainsAny(rest, " ") && !strings.Contains(rest, ";") {
		return nil, fmt.Errorf("CAA %s value %q must be a single domain name (parameters go after ';')", tag, rest)
	}
	return &mdns.CAA{Flag: uint8(flag), Tag: tag, Value: rest}, nil
}

func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseSRV reads "priority weight port target".
func parseSRV(v string) (*mdns.SRV, error) {
	fields := strings.Fields(v)
	if len(fields) != 4 {
		return nil, fmt.Errorf(`SRV value must be "priority weight port target", e.g. "10 5 5060 sip.example.com" (got %q)`, v)
	}
	var nums [3]uint16
	for i, what := range []string{"priority", "weight", "port"} {
		n, err := strconv.ParseUint(fields[i], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("SRV %s %q must be a number between 0 and 65535", what, fields[i])
		}
		nums[i] = uint16(n)
	}
	target, err := hostTarget("SRV target", fields[3], true)
	if err != nil {
		return nil, err
	}
	return &mdns.SRV{Priority: nums[0], Weight: nums[1], Port: nums[2], Target: target}, nil
}
