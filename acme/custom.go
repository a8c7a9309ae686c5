package acme

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Upload bounds: a certificate chain longer than this is no real chain.
const (
	maxChainCerts = 8
	maxPEMBytes   = 64 << 10
)

// CustomError says why a user-supplied certificate was refused; its text
// is meant for the user.
type CustomError struct{ Reason string }

func (e *CustomError) Error() string { return e.Reason }

func refuse(format string, args ...any) error {
	return &CustomError{Reason: fmt.Sprintf(format, args...)}
}

// IsCustomError reports whether err refuses a user-supplied certificate.
func IsCustomError(err error) bool {
	var ce *CustomError
	return errors.As(err, &ce)
}

// ParseCustom checks a user-supplied certificate before anything is
// stored: certPEM holds the leaf (and may hold its chain), caPEM the rest
// of the chain; keyPEM its private key, which must match the leaf; every
// one of domains must be covered by the leaf, which must be valid now.
// It answers the certificate ready to serve, chain in order.
func ParseCustom(domains []string, certPEM, keyPEM, caPEM string, now time.Time) (tls.Certificate, error) {
	if len(domains) == 0 {
		return tls.Certificate{}, refuse("domains: at least one name is required")
	}
	for _, f := range []struct{ name, v string }{{"cert", certPEM}, {"key", keyPEM}, {"ca", caPEM}} {
		if len(f.v) > maxPEMBytes {
			return tls.Certificate{}, refuse("%s: over %d bytes", f.name, maxPEMBytes)
		}
	}
	leafs, err := parseCerts("cert", certPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if len(leafs) == 0 {
		return tls.Certificate{}, refuse("cert: no PEM CERTIFICATE block")
	}
	chain, err := parseCerts("ca", caPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	all := append(leafs, chain...)
	if len(all) > maxChainCerts {
		return tls.Certificate{}, refuse("cert and ca: %d certificates, at most %d", len(all), maxChainCerts)
	}
	var bundle bytes.Buffer
	for _, c := range all {
		_ = pem.Encode(&bundle, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	kp, err := tls.X509KeyPair(bundle.Bytes(), []byte(keyPEM))
	if err != nil {
		if !strings.Contains(keyPEM, "PRIVATE KEY") {
			return tls.Certificate{}, refuse("key: no PEM private key block")
		}
		return tls.Certificate{}, refuse("key: %v", err)
	}
	leaf := all[0]
	kp.Leaf = leaf
	if now.Before(leaf.NotBefore) {
		return tls.Certificate{}, refuse("cert: not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(leaf.NotAfter) {
		return tls.Certificate{}, refuse("cert: expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, d := range domains {
		if err := leaf.VerifyHostname(d); err != nil {
			return tls.Certificate{}, refuse("cert does not cover %q (it names %s)", d, strings.Join(leaf.DNSNames, ", "))
		}
	}
	// The chain must link: each certificate signed by the next.
	for i := 0; i+1 < len(all); i++ {
		if err := all[i].CheckSignatureFrom(all[i+1]); err != nil {
			return tls.Certificate{}, refuse("ca: certificate %d is not signed by the next one in the chain: %v", i+1, err)
		}
	}
	return kp, nil
}

func parseCerts(field, s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, refuse("%s: a PEM %q block where a CERTIFICATE was expected", field, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, refuse("%s: certificate %d does not parse: %v", field, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, refuse("%s: not PEM (or text after the last PEM block)", field)
	}
	return out, nil
}
