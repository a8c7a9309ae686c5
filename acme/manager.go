package acme

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// Well-known ACME directories.
const (
	LetsEncrypt        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// OwnerFunc says whether the platform knows a name (an app's host, a
// verified domain or a name of one) and whose it is ("" for the platform's
// own zone). Names it does not know never get a certificate, so a random
// SNI cannot make the platform order one.
type OwnerFunc func(ctx context.Context, name string) (owner string, ok bool)

// Config is what a Manager needs.
type Config struct {
	Storage *Storage
	// CA is the ACME directory URL; "" leaves every name to the local CA.
	CA    string
	Email string
	// TrustedRoots, when set, are the roots trusted for the CA's own
	// HTTPS endpoint (a test CA such as Pebble); nil: the system's.
	TrustedRoots *x509.CertPool
	// Zone is the platform zone. With DNS set (the platform is its
	// authoritative server), "*.Zone" and Zone are obtained through DNS-01
	// and cover every app; otherwise app names are validated over HTTP-01.
	Zone string
	DNS  TXTServer
	// DNSAddr is the platform DNS server's "host:port": certmagic asks it
	// for the zone of a DNS-01 challenge name.
	DNSAddr string
	Owner   OwnerFunc
	// HandshakeWait bounds how long a first handshake waits for its
	// name's certificate to be obtained (0: DefaultHandshakeWait); past it
	// the local CA's is served and the failure recorded.
	HandshakeWait time.Duration
	Log           *slog.Logger
	Now           func() time.Time // nil: time.Now
}

// Info is what is known of the certificate for one name: the certificate
// (when there is one), and the last failure to obtain it (when the last
// attempt failed).
type Info struct {
	CN        string
	UID       string
	Names     []string
	Custom    bool   // user-supplied
	Owner     string // custom: who supplied it
	Created   time.Time
	Expires   time.Time
	AutoRenew bool
	Failure   *Failure
}

// Failure is the last failed attempt to obtain a name's certificate; the
// next on-demand attempt waits until RetryAt, doubling each time.
type Failure struct {
	Name     string    `json:"name"`
	Error    string    `json:"error"`
	Failures int       `json:"failures"`
	At       time.Time `json:"at"`
	RetryAt  time.Time `json:"retryAt"`
}

// DefaultHandshakeWait is long enough for a public CA to validate and
// issue (seconds, usually), and short enough that a failing name does not
// hold a client for certmagic's own in-handshake retries (minutes).
const DefaultHandshakeWait = 45 * time.Second

// Retry backoff after failed attempts: doubles from the first to the last.
const (
	firstRetry = time.Minute
	lastRetry  = 6 * time.Hour
)

// Storage keys of the platform's own records, beside certmagic's.
const (
	failurePrefix = "platform/failures"
	customPrefix  = "platform/custom"
)

// customCert is a stored user-supplied certificate.
type customCert struct {
	UID     string    `json:"uid"`
	CN      string    `json:"cn"`
	Owner   string    `json:"owner"`
	Domains []string  `json:"domains"`
	Created time.Time `json:"created"`
	Cert    string    `json:"cert"` // chain, leaf first
	Key     string    `json:"key"`  // sealed at rest by the store

	tls *tls.Certificate
}

// Manager serves every HTTPS handshake: a user-supplied certificate when
// one covers the name, else one obtained from the ACME CA (on demand at
// the first handshake, or in the background for the platform zone), else
// one from the local CA. It answers HTTP-01 challenges on the ingress.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	local *LocalCA

	ctx    context.Context // ends at Close: background issuance stops
	cancel context.CancelFunc

	cache *certmagic.Cache
	// names obtains at the first handshake (HTTP-01); managed obtains
	// what is asked for and renews every certificate but the zone's in
	// the background (HTTP-01); zone does the platform zone's wildcard
	// and apex (DNS-01).
	names, managed, zone *certmagic.Config
	issuer               *certmagic.ACMEIssuer

	mu       sync.Mutex
	failures map[string]Failure
	// waiting are the handshakes waiting for a name's issuance: a failed
	// attempt ends their wait at once instead of after certmagic's retry.
	waiting map[string]map[*context.CancelFunc]struct{}
	custom  atomic.Pointer[map[string]*customCert] // by each name it covers
}

// NewManager builds the certificate machinery: the local CA always, and
// certmagic (its cache, configurations and ACME issuers, all built here,
// never the package defaults) when cfg.CA is set; it starts obtaining the
// platform zone's wildcard in the background.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HandshakeWait == 0 {
		cfg.HandshakeWait = DefaultHandshakeWait
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Log, failures: map[string]Failure{}, waiting: map[string]map[*context.CancelFunc]struct{}{}}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	local, err := NewLocalCA(ctx, cfg.Storage, func(name string) bool {
		_, ok := cfg.Owner(context.Background(), name)
		return ok
	})
	if err != nil {
		return nil, err
	}
	m.local = local
	if err := m.loadRecords(ctx); err != nil {
		return nil, err
	}
	if cfg.CA == "" {
		return m, nil
	}
	zlog := zapToSlog(cfg.Log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			if m.zone != nil && slices.ContainsFunc(c.Names, m.inZoneCert) {
				return m.zone, nil
			}
			return m.managed, nil
		},
		Logger: zlog,
	})
	base := certmagic.Config{Storage: cfg.Storage, Logger: zlog, OnEvent: m.onEvent}
	httpIssuer := func(c *certmagic.Config) *certmagic.ACMEIssuer {
		iss := certmagic.NewACMEIssuer(c, certmagic.ACMEIssuer{
			CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.TrustedRoots,
			// The TLS listener does not answer acme-tls/1: HTTP-01 only.
			DisableTLSALPNChallenge: true, Logger: zlog,
		})
		c.Issuers = []certmagic.Issuer{iss}
		return iss
	}
	names := base
	names.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide}
	m.names = certmagic.New(m.cache, names)
	m.issuer = httpIssuer(m.names)
	m.managed = certmagic.New(m.cache, base)
	httpIssuer(m.managed)
	if cfg.DNS != nil && cfg.Zone != "" && certmagic.SubjectQualifiesForPublicCert("*."+cfg.Zone) {
		zone := base
		m.zone = certmagic.New(m.cache, zone)
		m.zone.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.zone, certmagic.ACMEIssuer{
			CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.TrustedRoots,
			DisableHTTPChallenge: true, DisableTLSALPNChallenge: true, Logger: zlog,
			DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
				DNSProvider: DNSProvider{Server: cfg.DNS},
				// We are the authoritative server: the record is answered
				// as soon as it is written, so nothing waits for propagation.
				PropagationTimeout: -1,
				Resolvers:          []string{cfg.DNSAddr},
				Logger:             zlog,
			}},
		})}
		if err := m.zone.ManageAsync(m.ctx, []string{"*." + cfg.Zone, cfg.Zone}); err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("manage the platform zone's certificates: %w", err)
		}
	}
	return m, nil
}

// Close stops renewals and background issuance.
func (m *Manager) Close() {
	m.cancel()
	if m.cache != nil {
		m.cache.Stop()
	}
}

// ACME reports whether an ACME CA is configured.
func (m *Manager) ACME() bool { return m.names != nil }

// RootPEM is the local CA's root certificate, for users to trust.
func (m *Manager) RootPEM() []byte { return m.local.RootPEM() }

// inZoneCert: the names of the zone configuration's certificates.
func (m *Manager) inZoneCert(name string) bool {
	return name == m.cfg.Zone || name == "*."+m.cfg.Zone
}

// coveredByWildcard: names the zone wildcard serves (one label under it).
func (m *Manager) coveredByWildcard(name string) bool {
	if m.zone == nil {
		return false
	}
	label, ok := strings.CutSuffix(name, "."+m.cfg.Zone)
	return ok && label != "" && !strings.Contains(label, ".")
}

// decide is the on-demand decision: only names the platform knows, not
// those the zone wildcard covers (its own issuance serves them), and not
// while a failure's backoff runs.
func (m *Manager) decide(ctx context.Context, name string) error {
	if _, ok := m.cfg.Owner(ctx, name); !ok {
		return fmt.Errorf("%q is not a name this platform serves", name)
	}
	if m.coveredByWildcard(name) {
		return fmt.Errorf("%q is covered by the platform wildcard", name)
	}
	m.mu.Lock()
	f, failed := m.failures[name]
	m.mu.Unlock()
	if failed && m.cfg.Now().Before(f.RetryAt) {
		return fmt.Errorf("%q: last attempt failed (%s); next attempt after %s", name, f.Error, f.RetryAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// GetCertificate is the TLS listener's: a user-supplied certificate
// covering the name (still its supplier's), else ACME, else the local CA.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalize(hello.ServerName)
	ctx := hello.Context()
	owner, ok := m.cfg.Owner(ctx, name)
	if name == "" || !ok {
		return nil, fmt.Errorf("no certificate for %q: not a name this platform serves", name)
	}
	if c := m.customFor(name, owner); c != nil {
		return c, nil
	}
	if m.names != nil {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.HandshakeWait)
		defer m.wait(name, &cancel)()
		cert, err := m.names.GetCertificateWithContext(ctx, hello)
		if err == nil {
			return cert, nil
		}
		m.log.Debug("no ACME certificate for the handshake; serving the local CA's", "name", name, "err", err)
	}
	return m.local.leaf(name) // allowed already: Owner knows the name
}

// wait registers a handshake waiting for name; the returned func ends it.
func (m *Manager) wait(name string, cancel *context.CancelFunc) func() {
	m.mu.Lock()
	if m.waiting[name] == nil {
		m.waiting[name] = map[*context.CancelFunc]struct{}{}
	}
	m.waiting[name][cancel] = struct{}{}
	m.mu.Unlock()
	return func() {
		(*cancel)()
		m.mu.Lock()
		delete(m.waiting[name], cancel)
		if len(m.waiting[name]) == 0 {
			delete(m.waiting, name)
		}
		m.mu.Unlock()
	}
}

// HTTPHandler answers ACME HTTP-01 challenges before next (the ingress)
// sees the request.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	if m.issuer == nil {
		return next
	}
	return m.issuer.HTTPChallengeHandler(next)
}

// Obtain gets (or, with renew, renews) a certificate for each name now,
// over HTTP-01 (the zone's wildcard and apex over DNS-01), and keeps it
// managed: renewed in the background from then on. A failed attempt
// answers at once, with its reason (certmagic's own retries are for
// background work, not for a waiting caller). It never prompts: only
// certmagic's non-interactive paths are used, so an installation without
// an email never blocks on its standard input.
func (m *Manager) Obtain(ctx context.Context, names []string, renew bool) error {
	if m.names == nil {
		return errors.New("no ACME CA is configured (--acme-ca): certificates come from the platform's local CA")
	}
	for _, n := range names {
		n = normalize(n)
		cfg := m.managed
		if m.zone != nil && m.inZoneCert(n) {
			cfg = m.zone
		}
		err := m.attempt(ctx, n, func(ctx context.Context) error {
			if renew && cfg.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(m.issuer.IssuerKey(), n)) {
				return cfg.RenewCertAsync(ctx, n, true)
			}
			return cfg.ObtainCertAsync(ctx, n)
		})
		if err != nil {
			return fmt.Errorf("obtain a certificate for %s: %w", n, err)
		}
		// Cached as managed: served, and renewed by the cache's maintenance.
		if _, err := cfg.CacheManagedCertificate(ctx, n); err != nil {
			return fmt.Errorf("load the certificate of %s: %w", n, err)
		}
	}
	return nil
}

// attempt runs an issuance for name until it succeeds or one attempt
// fails, and answers that attempt's reason.
func (m *Manager) attempt(ctx context.Context, name string, issue func(context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer m.wait(name, &cancel)()
	err := issue(ctx)
	if err != nil && parent.Err() == nil && ctx.Err() != nil {
		m.mu.Lock()
		f, ok := m.failures[name]
		m.mu.Unlock()
		if ok {
			return errors.New(f.Error)
		}
	}
	return err
}

// onEvent records the outcome of every issuance attempt, on demand,
// background or requested: failures per name with their reason and
// backoff, cleared by a success.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		m.log.Info("certificate obtained", "name", name, "renewal", data["renewal"])
		m.mu.Lock()
		_, had := m.failures[name]
		delete(m.failures, name)
		m.mu.Unlock()
		if had {
			if err := m.cfg.Storage.Delete(context.Background(), failurePrefix+"/"+certmagic.StorageKeys.Safe(name)); err != nil {
				m.log.Warn("clear a certificate failure record", "name", name, "err", err)
			}
		}
	case "cert_failed":
		reason := fmt.Sprint(data["error"])
		now := m.cfg.Now()
		m.mu.Lock()
		f := m.failures[name]
		f.Name, f.Error, f.At = name, reason, now
		f.Failures++
		f.RetryAt = now.Add(min(firstRetry<<min(f.Failures-1, 16), lastRetry))
		m.failures[name] = f
		for cancel := range m.waiting[name] {
			(*cancel)()
		}
		m.mu.Unlock()
		m.log.Warn("certificate not obtained", "name", name, "err", reason, "failures", f.Failures, "retry_at", f.RetryAt)
		if b, err := json.Marshal(f); err == nil {
			if err := m.cfg.Storage.Store(context.Background(), failurePrefix+"/"+certmagic.StorageKeys.Safe(name), b); err != nil {
				m.log.Warn("store a certificate failure record", "name", name, "err", err)
			}
		}
	}
	return nil
}

// loadRecords reads the failure records and user-supplied certificates
// kept in storage.
func (m *Manager) loadRecords(ctx context.Context) error {
	keys, err := m.cfg.Storage.List(ctx, failurePrefix, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list certificate failures: %w", err)
	}
	for _, k := range keys {
		var f Failure
		if b, err := m.cfg.Storage.Load(ctx, k); err == nil && json.Unmarshal(b, &f) == nil && f.Name != "" {
			m.failures[f.Name] = f
		}
	}
	return m.reloadCustom(ctx)
}

func (m *Manager) reloadCustom(ctx context.Context) error {
	keys, err := m.cfg.Storage.List(ctx, customPrefix, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list custom certificates: %w", err)
	}
	byName := map[string]*customCert{}
	for _, k := range keys {
		c, err := m.loadCustom(ctx, k)
		if err != nil {
			m.log.Warn("skipping an unreadable custom certificate", "key", k, "err", err)
			continue
		}
		for _, d := range c.Domains {
			byName[d] = c
		}
	}
	m.custom.Store(&byName)
	return nil
}

func (m *Manager) loadCustom(ctx context.Context, key string) (*customCert, error) {
	b, err := m.cfg.Storage.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	var c customCert
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	kp, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
	if err != nil {
		return nil, err
	}
	c.tls = &kp
	return &c, nil
}

// customFor is the user-supplied certificate for name, if its supplier
// still owns the name (a certificate does not outlive its owner's claim).
func (m *Manager) customFor(name, owner string) *tls.Certificate {
	byName := *m.custom.Load()
	c := byName[name]
	if c == nil {
		if _, parent, ok := strings.Cut(name, "."); ok {
			c = byName["*."+parent]
		}
	}
	if c == nil || c.Owner != owner || !m.cfg.Now().Before(c.tls.Leaf.NotAfter) {
		return nil
	}
	return c.tls
}

// PutCustom validates and stores a user-supplied certificate for domains
// (its CN is the first), replacing the one with that CN; a refused
// certificate (a CustomError) stores nothing.
func (m *Manager) PutCustom(ctx context.Context, owner string, domains []string, certPEM, keyPEM, caPEM string) (Info, error) {
	for i, d := range domains {
		domains[i] = normalize(d)
	}
	kp, err := ParseCustom(domains, certPEM, keyPEM, caPEM, m.cfg.Now())
	if err != nil {
		return Info{}, err
	}
	var chain strings.Builder
	for _, der := range kp.Certificate {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	c := customCert{UID: uid(kp.Certificate[0]), CN: domains[0], Owner: owner, Domains: slices.Compact(slices.Clone(domains)),
		Created: m.cfg.Now().UTC(), Cert: chain.String(), Key: keyPEM}
	b, err := json.Marshal(c)
	if err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.cfg.Storage.Store(ctx, customKey(c.CN), b); err != nil {
		return Info{}, fmt.Errorf("store the certificate of %s: %w", c.CN, err)
	}
	if err := m.reloadCustom(ctx); err != nil {
		return Info{}, err
	}
	c.tls = &kp
	return c.info(), nil
}

func customKey(cn string) string { return customPrefix + "/" + certmagic.StorageKeys.Safe(cn) }

func (c *customCert) info() Info {
	return Info{CN: c.CN, UID: c.UID, Names: c.Domains, Custom: true, Owner: c.Owner, Created: c.Created, Expires: c.tls.Leaf.NotAfter}
}

// uid names a certificate by its contents: stable, and new when renewed.
func uid(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:12])
}

// Delete removes what is kept for cn: a user-supplied certificate, the
// ACME certificate (no longer renewed or served), its failure record.
// It reports whether there was anything.
func (m *Manager) Delete(ctx context.Context, cn string) (bool, error) {
	cn = normalize(cn)
	found := false
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Storage.Exists(ctx, customKey(cn)) {
		found = true
		if err := m.cfg.Storage.Delete(ctx, customKey(cn)); err != nil {
			return false, err
		}
		if err := m.reloadCustom(ctx); err != nil {
			return false, err
		}
	}
	if m.issuer != nil {
		if m.cache != nil {
			m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: cn}})
		}
		site := certmagic.StorageKeys.CertsSitePrefix(m.issuer.IssuerKey(), cn)
		if m.cfg.Storage.Exists(ctx, site) || m.cfg.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(m.issuer.IssuerKey(), cn)) {
			found = true
			if err := m.cfg.Storage.Delete(ctx, site); err != nil {
				return false, err
			}
		}
	}
	if _, ok := m.failures[cn]; ok {
		found = true
		delete(m.failures, cn)
		if err := m.cfg.Storage.Delete(ctx, failurePrefix+"/"+certmagic.StorageKeys.Safe(cn)); err != nil {
			return false, err
		}
	}
	return found, nil
}

// Certificates lists every certificate kept (user-supplied and ACME) and
// every name whose last attempt failed, by CN.
func (m *Manager) Certificates(ctx context.Context) ([]Info, error) {
	byCN := map[string]*Info{}
	for _, c := range *m.custom.Load() {
		if _, seen := byCN[c.CN]; !seen {
			i := c.info()
			byCN[c.CN] = &i
		}
	}
	if m.issuer != nil {
		keys, err := m.cfg.Storage.List(ctx, certmagic.StorageKeys.CertsPrefix(m.issuer.IssuerKey()), true)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("list ACME certificates: %w", err)
		}
		for _, k := range keys {
			if !strings.HasSuffix(k, ".crt") {
				continue
			}
			i, err := m.acmeInfo(ctx, k)
			if err != nil {
				m.log.Warn("skipping an unreadable certificate", "key", k, "err", err)
				continue
			}
			if _, custom := byCN[i.CN]; !custom {
				byCN[i.CN] = &i
			}
		}
	}
	m.mu.Lock()
	for name, f := range m.failures {
		if i, ok := byCN[name]; ok {
			i.Failure = &f
		} else {
			byCN[name] = &Info{CN: name, Failure: &f}
		}
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(byCN))
	for _, i := range byCN {
		out = append(out, *i)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.CN, b.CN) })
	return out, nil
}

func (m *Manager) acmeInfo(ctx context.Context, key string) (Info, error) {
	b, err := m.cfg.Storage.Load(ctx, key)
	if err != nil {
		return Info{}, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return Info{}, errors.New("not PEM")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return Info{}, err
	}
	names := leaf.DNSNames
	cn := leaf.Subject.CommonName
	if cn == "" && len(names) > 0 {
		cn = names[0]
	}
	return Info{CN: normalize(cn), UID: uid(blk.Bytes), Names: names, Created: leaf.NotBefore, Expires: leaf.NotAfter, AutoRenew: true}, nil
}
