package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// LocalCA issues certificates from a root the platform makes once and
// keeps in its storage, as Caddy's internal issuer does: HTTPS works where
// no public CA can issue (the embedded default domain, localhost, a LAN),
// for whoever trusts the root (paas ca prints it). Leaves are issued at the
// first handshake for names Allow accepts, and kept in memory until close
// to their end.
type LocalCA struct {
	root    *x509.Certificate
	key     crypto.Signer
	rootPEM []byte
	allow   func(name string) bool

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// Storage keys of the root, and how long certificates live.
const (
	localRootCert = "local-ca/root.crt"
	localRootKey  = "local-ca/root.key"
	rootLifetime  = 10 * 365 * 24 * time.Hour
	leafLifetime  = 7 * 24 * time.Hour
	leafRenewal   = 24 * time.Hour // a leaf with less left is issued again
	maxLeaves     = 10_000
)

// NewLocalCA loads the root from storage, creating it on first use; allow
// decides which names get a certificate (the names the platform serves:
// a random SNI never makes one).
func NewLocalCA(ctx context.Context, storage certmagic.Storage, allow func(name string) bool) (*LocalCA, error) {
	ca := &LocalCA{allow: allow, leaves: map[string]*tls.Certificate{}}
	certPEM, err := storage.Load(ctx, localRootCert)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createRoot(ctx, storage); err != nil {
			return nil, err
		}
		certPEM, err = storage.Load(ctx, localRootCert)
	}
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	keyPEM, err := storage.Load(ctx, localRootKey)
	if err != nil {
		return nil, fmt.Errorf("local CA key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	if ca.root, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("local CA: the root key cannot sign")
	}
	ca.key, ca.rootPEM = signer, certPEM
	return ca, nil
}

func createRoot(ctx context.Context, storage certmagic.Storage) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "paas local CA", Organization: []string{"paas"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(rootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := storage.Store(ctx, localRootKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	return storage.Store(ctx, localRootCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// RootPEM is the root certificate to trust.
func (ca *LocalCA) RootPEM() []byte { return ca.rootPEM }

// GetCertificate is a tls.Config.GetCertificate: a leaf for the SNI name,
// issued now if there is none fresh, for allowed names only.
func (ca *LocalCA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if name == "" || ca.allow == nil || !ca.allow(name) {
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
	return ca.leaf(name)
}

// leaf is the leaf for name, a name already allowed.
func (ca *LocalCA) leaf(name string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[name]; c != nil && time.Until(c.Leaf.NotAfter) > leafRenewal {
		return c, nil
	}
	c, err := ca.issue(name)
	if err != nil {
		return nil, err
	}
	if len(ca.leaves) >= maxLeaves {
		ca.leaves = map[string]*tls.Certificate{}
	}
	ca.leaves[name] = c
	return c, nil
}

func (ca *LocalCA) issue(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue a certificate for %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.root.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
