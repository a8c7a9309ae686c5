package platform

import (
	"context"
	"slices"
	"strings"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas"
)

// CertManager is the platform's TLS machinery (acme.Manager).
type CertManager interface {
	ACME() bool
	Obtain(ctx context.Context, names []string, renew bool) error
	PutCustom(ctx context.Context, owner string, domains []string, certPEM, keyPEM, caPEM string) (acme.Info, error)
	Delete(ctx context.Context, cn string) (bool, error)
	Certificates(ctx context.Context) ([]acme.Info, error)
}

// Bounds of one certificate request.
const maxCertDomains = 100

// SetCertManager gives the platform its certificate machinery; the server
// calls it once, before serving (the manager needs CertOwner first).
func (p *Platform) SetCertManager(m CertManager) { p.certs = m }

// CertOwner says whether name is one the platform knows and whose it is:
// the platform zone's apex and wildcard are the platform's (owner ""), an
// app's host is the app owner's; in a proven domain, its apex, its www
// and the names its records give are the domain owner's. Only these names
// ever get a certificate: a random SNI never makes the platform order one.
func (p *Platform) CertOwner(_ context.Context, name string) (string, bool) {
	name = paas.NormalizeDomainName(name)
	zone := p.cfg.Domain
	if name == zone || name == "*."+zone {
		return "", true
	}
	if sub, ok := strings.CutSuffix(name, "."+zone); ok {
		// An app's, a deployment's or an alias's label.
		h, err := p.store.Host(sub)
		if err != nil {
			return "", false
		}
		return h.Owner, true
	}
	if a, err := p.store.AliasByHost(name); err == nil {
		return a.Owner, true
	}
	d, recs, ok, err := p.store.DomainCovering(name)
	if err != nil || !ok {
		return "", false
	}
	rel := strings.TrimSuffix(strings.TrimSuffix(name, d.Name), ".")
	if rel == "" || rel == "www" || slices.ContainsFunc(recs, func(r paas.Record) bool { return r.Name == rel }) {
		return d.Owner, true
	}
	return "", false
}

// ownsCertName: name is owner's, or the platform's and the caller an admin.
func (p *Platform) ownsCertName(ctx context.Context, pr *paas.Principal, owner, name string) bool {
	o, ok := p.CertOwner(ctx, name)
	return ok && (o == owner || (o == "" && pr.IsAdmin()))
}

func (p *Platform) certManager() (CertManager, error) {
	if p.certs == nil {
		return nil, paas.NotFound("this server has no HTTPS listener")
	}
	return p.certs, nil
}

// Certs lists owner's certificates: those for names owner has (and the
// platform's own, for an admin), with their last failure.
func (p *Platform) Certs(ctx context.Context, pr *paas.Principal, owner string) ([]paas.Certificate, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) ([]paas.Certificate, error) {
		m, err := p.certManager()
		if err != nil {
			return nil, err
		}
		all, err := m.Certificates(ctx)
		if err != nil {
			return nil, err
		}
		out := []paas.Certificate{}
		for _, i := range all {
			if p.certVisible(ctx, pr, owner, i) {
				out = append(out, certView(i))
			}
		}
		return out, nil
	})
}

// certVisible: a user-supplied certificate is its supplier's while the
// name still is; an obtained one is the name's owner's.
func (p *Platform) certVisible(ctx context.Context, pr *paas.Principal, owner string, i acme.Info) bool {
	if i.Custom && i.Owner != owner {
		return false
	}
	return p.ownsCertName(ctx, pr, owner, i.CN)
}

// Cert is owner's certificate for cn (404 when there is none, or it is
// someone else's).
func (p *Platform) Cert(ctx context.Context, pr *paas.Principal, owner, cn string) (paas.Certificate, error) {
	cn = paas.NormalizeDomainName(cn)
	certs, err := p.Certs(ctx, pr, owner)
	if err != nil {
		return paas.Certificate{}, err
	}
	for _, c := range certs {
		if c.CN == cn {
			return c, nil
		}
	}
	return paas.Certificate{}, paas.NotFound("no certificate for %q", cn)
}

// checkCertDomains normalizes domains, all of which must be owner's.
func (p *Platform) checkCertDomains(ctx context.Context, pr *paas.Principal, owner string, domains []string) ([]string, error) {
	if len(domains) == 0 {
		return nil, paas.BadRequest("domains: at least one name is required")
	}
	if len(domains) > maxCertDomains {
		return nil, paas.BadRequest("domains: at most %d names", maxCertDomains)
	}
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = paas.NormalizeDomainName(d)
		if !p.ownsCertName(ctx, pr, owner, out[i]) {
			// Someone else's names look like unknown ones, as domains do.
			return nil, paas.NotFound("domains: %q is not a name of yours this platform serves (an app's host, or a verified domain's apex, www or record)", d)
		}
	}
	return out, nil
}

// RequestCert obtains (or renews) certificates for domains from the ACME
// CA now, and answers the first one's.
func (p *Platform) RequestCert(ctx context.Context, pr *paas.Principal, owner string, domains []string, renew bool) (paas.Certificate, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Certificate, error) {
		m, err := p.certManager()
		if err != nil {
			return paas.Certificate{}, err
		}
		names, err := p.checkCertDomains(ctx, pr, owner, domains)
		if err != nil {
			return paas.Certificate{}, err
		}
		if !m.ACME() {
			return paas.Certificate{}, paas.BadRequest("no ACME CA is configured (--acme-ca): the platform's local CA issues certificates at the first handshake")
		}
		if err := m.Obtain(ctx, names, renew); err != nil {
			return paas.Certificate{}, paas.BadRequest("%v", err)
		}
		return p.Cert(ctx, pr, owner, names[0])
	})
}

// PutCert stores a user-supplied certificate for domains, which must all
// be owner's and covered by it; anything wrong with it is a 400 and
// stores nothing.
func (p *Platform) PutCert(ctx context.Context, pr *paas.Principal, owner string, in paas.CustomCert) (paas.Certificate, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (paas.Certificate, error) {
		m, err := p.certManager()
		if err != nil {
			return paas.Certificate{}, err
		}
		names, err := p.checkCertDomains(ctx, pr, owner, in.Domains)
		if err != nil {
			return paas.Certificate{}, err
		}
		i, err := m.PutCustom(ctx, owner, names, in.Cert, in.Key, in.CA)
		if acme.IsCustomError(err) {
			return paas.Certificate{}, paas.BadRequest("%v", err)
		}
		if err != nil {
			return paas.Certificate{}, err
		}
		return certView(i), nil
	})
}

// DeleteCert removes owner's certificate for cn: it is no longer served
// or renewed (a name still served gets a new one on demand).
func (p *Platform) DeleteCert(ctx context.Context, pr *paas.Principal, owner, cn string) error {
	_, err := asOwner(ctx, p, pr, owner, func(owner string) (struct{}, error) {
		if _, err := p.Cert(ctx, pr, owner, cn); err != nil {
			return struct{}{}, err
		}
		m, err := p.certManager()
		if err != nil {
			return struct{}{}, err
		}
		_, err = m.Delete(ctx, paas.NormalizeDomainName(cn))
		return struct{}{}, err
	})
	return err
}

func certView(i acme.Info) paas.Certificate {
	c := paas.Certificate{CN: i.CN, UID: i.UID, Names: i.Names, Custom: i.Custom, Created: i.Created, Expires: i.Expires, AutoRenew: i.AutoRenew}
	if i.Failure != nil {
		c.Error, c.Failures, c.RetryAt = i.Failure.Error, i.Failure.Failures, i.Failure.RetryAt
	}
	return c
}
