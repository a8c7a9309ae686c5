package platform

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/deploy"
	"github.com/selfhost/paas/paas/store"
)

// Config is what the platform needs to know about its installation.
type Config struct {
	Domain  string             // apps are served at <subdomain>.<Domain>
	Archive paas.ArchiveLimits // bounds on uploaded snapshots
	Mailer  Mailer             // delivers invite and reset codes; nil logs them
	// PublicIPs are the addresses <subdomain>.<Domain> resolves to in the
	// platform's DNS zone (see ParsePublicIPs); empty means 127.0.0.1.
	PublicIPs []netip.Addr
	// Resolver is the "host:port" of the DNS server asked for _now TXT
	// records when verifying external domains; "" uses the system resolver.
	Resolver string
	// PasswordCost is the bcrypt cost (0: DefaultPasswordCost). Tests lower it.
	PasswordCost int
	// SpoolDir is where uploads are unpacked while they are checked ("":
	// the system's temporary directory).
	SpoolDir string
	// Pools are the team pools: pool name → the teams that may use it
	// (beside the default public pool, everyone's).
	Pools map[string][]string
	// AppQuota is how many apps one owner (user or team) may have; 0 is no
	// limit. A create beyond it is refused with 403.
	AppQuota int
	// Uploads bounds the archives being unpacked at once: in all, and per
	// owner (0: 4 and 1). Each holds a connection, a spool file and CPU.
	Uploads, UploadsPerOwner int
}

// Platform is the service every API face and the UI call: the only door to
// the platform's state. Each method takes the caller (a *paas.Principal)
// and typed input, and does validation, authorization and the state rules
// on top of the store; deploys go through the deployer. Faces never see
// the store or the deployer.
type Platform struct {
	store     *store.Store
	deployer  *deploy.Deployer
	events    *paas.Notifier
	cfg       Config
	log       *slog.Logger
	auth      *authCache
	dummyHash func() []byte
	uploads   *uploadSlots
	certs     CertManager // nil without an HTTPS listener
	wakes     wakes
	router    EventRouter // nil: events are not routed (tests of other faces)
}

// New assembles the service over st and d; changes are announced on events.
func New(st *store.Store, d *deploy.Deployer, events *paas.Notifier, cfg Config, log *slog.Logger) *Platform {
	if cfg.Archive.MaxFiles == 0 {
		cfg.Archive = paas.DefaultArchiveLimits
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = DefaultPasswordCost
	}
	if cfg.Mailer == nil {
		cfg.Mailer = LogMailer{Log: log}
	}
	if cfg.Uploads == 0 {
		cfg.Uploads = 4
	}
	if cfg.UploadsPerOwner == 0 {
		cfg.UploadsPerOwner = 1
	}
	p := &Platform{store: st, deployer: d, events: events, cfg: cfg, log: log, auth: newAuthCache(),
		uploads: &uploadSlots{max: cfg.Uploads, perOwner: cfg.UploadsPerOwner, owners: map[string]int{}}}
	// A hash to compare against when the user does not exist, so that
	// answering "no such user" takes as long as a wrong password.
	p.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), cfg.PasswordCost)
		return h
	})
	return p
}

// Config returns the platform's configuration.
func (p *Platform) Config() Config { return p.cfg }

// EnsureAdmin creates the admin account on first start. It returns the
// generated password when one was generated (password == ""), so the caller
// can print it once; it returns "" when users already exist.
func (p *Platform) EnsureAdmin(password string) (string, error) {
	users, err := p.store.Users()
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		return "", nil
	}
	generated := ""
	if password == "" {
		password = paas.RandomSecret(15)
		generated = password
	}
	if len(password) > 72 {
		return "", fmt.Errorf("admin password must be at most 72 bytes")
	}
	hash, err := p.hashPassword(password)
	if err != nil {
		return "", err
	}
	err = p.store.CreateUser(paas.User{Name: "admin", Email: "admin@localhost", PasswordHash: hash, Admin: true, Confirmed: true})
	if err != nil {
		return "", fmt.Errorf("create admin: %w", err)
	}
	if generated == "" {
		return password, nil
	}
	return generated, nil
}

func (p *Platform) appsDidChange()  { p.events.Notify(paas.TopicApps) }
func (p *Platform) zonesDidChange() { p.events.Notify(paas.TopicZones) }

// Changes notifies the caller, coalesced, whenever apps or the units that
// serve them change (the web UI's live view), until stop.
func (p *Platform) Changes(pr *paas.Principal) (changed <-chan struct{}, stop func(), err error) {
	if pr == nil {
		return nil, nil, paas.Unauthorized("authentication required")
	}
	ch, stop := p.events.Subscribe(paas.TopicApps, paas.TopicRoutes)
	return ch, stop, nil
}
