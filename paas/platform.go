package paas

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/runtime"
)

// Config is what the platform needs to know about its installation.
type Config struct {
	Domain    string        // apps are served at <subdomain>.<Domain>
	BaseImage string        // the Node image apps are built FROM
	Archive   ArchiveLimits // bounds on uploaded snapshots
	// HealthTimeout bounds how long a new release may take to accept HTTP.
	HealthTimeout time.Duration
	Mailer        Mailer // delivers invite and reset codes; nil logs them
	// PublicIPs are the addresses <subdomain>.<Domain> resolves to in the
	// platform's DNS zone (see ParsePublicIPs); empty means 127.0.0.1.
	PublicIPs []netip.Addr
	// Resolver is the "host:port" of the DNS server asked for _now TXT
	// records when verifying external domains; "" uses the system resolver.
	Resolver string
	// RestartBackoff is the first delay before restarting a crashed unit;
	// it doubles per recent crash, up to 32 times (0: 500ms).
	RestartBackoff time.Duration
	// PasswordCost is the bcrypt cost (0: DefaultPasswordCost). Tests lower it.
	PasswordCost int
}

// Platform is the domain service every API face calls. It enforces the
// rules (validation, ownership, state transitions) on top of the Store and
// drives the runtime through the Deployer.
type Platform struct {
	Store     *Store
	Deployer  *Deployer
	cfg       Config
	log       *slog.Logger
	auth      *authCache
	dummyHash func() []byte

	appsChanged  func()
	zonesChanged func()
}

// New assembles a platform. rt may be a runtime.Fake in tests.
func New(store *Store, rt runtime.Runtime, cfg Config, log *slog.Logger) *Platform {
	if cfg.Archive.MaxFiles == 0 {
		cfg.Archive = DefaultArchiveLimits
	}
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = 500 * time.Millisecond
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = DefaultPasswordCost
	}
	if cfg.Mailer == nil {
		cfg.Mailer = LogMailer{Log: log}
	}
	p := &Platform{Store: store, cfg: cfg, log: log, auth: newAuthCache()}
	// A hash to compare against when the user does not exist, so that
	// answering "no such user" takes as long as a wrong password.
	p.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), cfg.PasswordCost)
		return h
	})
	p.Deployer = newDeployer(store, rt, cfg, log)
	return p
}

// Config returns the platform's configuration.
func (p *Platform) Config() Config { return p.cfg }

// EnsureAdmin creates the admin account on first start. It returns the
// generated password when one was generated (password == ""), so the caller
// can print it once; it returns "" when users already exist.
func (p *Platform) EnsureAdmin(password string) (string, error) {
	users, err := p.Store.Users()
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		return "", nil
	}
	generated := ""
	if password == "" {
		password = randomSecret(15)
		generated = password
	}
	if len(password) > 72 {
		return "", fmt.Errorf("admin password must be at most 72 bytes")
	}
	hash, err := p.hashPassword(password)
	if err != nil {
		return "", err
	}
	err = p.Store.CreateUser(User{Name: "admin", Email: "admin@localhost", PasswordHash: hash, Admin: true, Confirmed: true})
	if err != nil {
		return "", fmt.Errorf("create admin: %w", err)
	}
	if generated == "" {
		return password, nil
	}
	return generated, nil
}

// Run starts the platform's background work (reconciling containers with
// the store, supervising units) until ctx is done.
func (p *Platform) Run(ctx context.Context) error {
	return p.Deployer.Run(ctx)
}

// OnAppsChanged registers fn to be called after any change to an app's
// routing (creation, deletion, subdomain or state change).
func (p *Platform) OnAppsChanged(fn func()) {
	p.appsChanged = fn
}

func (p *Platform) appsDidChange() {
	if p.appsChanged != nil {
		p.appsChanged()
	}
}
