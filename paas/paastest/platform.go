package paastest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/deploy"
	"github.com/selfhost/paas/paas/events"
	"github.com/selfhost/paas/paas/nodejitsu"
	"github.com/selfhost/paas/paas/platform"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/paas/tsuru"
	"github.com/selfhost/paas/runtime"
)

// AdminPassword is the admin's password on every test platform.
const AdminPassword = "adminpass123"

// Platform is one whole platform for a test, the way the server assembles
// it: a real bbolt store in a temp dir, the fake runtime, a started
// deployer, the service, every face behind the production handler on a
// real HTTP server, and a mailer that records what it sends. Cleanup
// stops it all in the server's order and fails the test if the store is
// inconsistent (bbolt's own check and every index against its objects).
type Platform struct {
	*platform.Platform
	Store    *store.Store
	Deployer *deploy.Deployer
	Router   *events.Router
	Certs    *acme.Manager // local CA only: these platforms have no ACME CA
	Fake     *runtime.Fake
	Events   *paas.Notifier
	Mail     *Mailer
	Log      *LockedBuffer
	Dir      string
	Faces    server.Faces
	Server   *httptest.Server
	Admin    Account

	closeOnce sync.Once
	closeErr  error
}

// Config adjusts a test platform; the zero value is the usual one.
type Config struct {
	Dir            string              // data dir (default: a new temp dir); reuse one to test a restart
	Domain         string              // default "localhost"
	Resolver       string              // DNS server for domain verification
	BaseImage      string              // default "test"
	HealthTimeout  time.Duration       // default 5s
	RestartBackoff time.Duration       // default 1ms
	Fake           *runtime.Fake       // default a new one
	Archive        paas.ArchiveLimits  // bounds on uploaded snapshots (default: the platform's)
	AppQuota       int                 // apps per owner (default: no limit)
	Pools          map[string][]string // team pools (default: none)
	// Faces adjusts the faces. The sign-up limit is raised (tests sign up
	// many users from one address) unless SignupLimit is set.
	Faces       server.FaceOptions
	SignupLimit int
	// NoStart leaves the deployer unstarted (no reconcile, no supervision).
	NoStart bool
}

// NewPlatform builds and starts a test platform; t.Cleanup stops it.
func NewPlatform(t testing.TB, cfg ...Config) *Platform {
	t.Helper()
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.BaseImage == "" {
		c.BaseImage = "test"
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = 5 * time.Second
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = time.Millisecond
	}
	if c.Fake == nil {
		c.Fake = runtime.NewFake()
	}
	tp := &Platform{Fake: c.Fake, Events: &paas.Notifier{}, Mail: &Mailer{}, Log: &LockedBuffer{}, Dir: c.Dir}
	st, err := store.Open(c.Dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	tp.Store = st
	log := slog.New(slog.NewTextHandler(tp.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tp.Router = events.New(st, events.Config{Dir: filepath.Join(c.Dir, "events"), AllowPrivate: true,
		RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond}, log)
	tp.Deployer = deploy.New(context.Background(), st, c.Fake, tp.Events,
		deploy.Config{BaseImage: c.BaseImage, HealthTimeout: c.HealthTimeout, RestartBackoff: c.RestartBackoff, OnLogs: tp.Router.AppLogs}, log)
	tp.Platform = platform.New(st, tp.Deployer, tp.Events,
		platform.Config{Domain: c.Domain, Resolver: c.Resolver, Mailer: tp.Mail, PasswordCost: bcrypt.MinCost, Archive: c.Archive, AppQuota: c.AppQuota, Pools: c.Pools}, log)
	certs, err := acme.NewManager(context.Background(), acme.Config{Storage: acme.NewStorage(st, "test", 0),
		Zone: c.Domain, Owner: tp.Platform.CertOwner, Log: log})
	if err != nil {
		t.Fatalf("certificates: %v", err)
	}
	tp.Certs = certs
	tp.Platform.SetCertManager(certs)
	tp.Platform.SetEventRouter(tp.Router)
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("test platform: %v", err)
		}
		if t.Failed() && tp.Log.Len() > 0 {
			t.Logf("server log:\n%s", tp.Log.String())
		}
	})
	if _, err := tp.EnsureAdmin(AdminPassword); err != nil {
		t.Fatalf("EnsureAdmin: %v", err)
	}
	tp.Admin = Account{Name: "admin", Password: AdminPassword}
	if !c.NoStart {
		if err := tp.Deployer.Start(); err != nil {
			t.Fatalf("start deployer: %v", err)
		}
		if err := tp.Router.Start(); err != nil {
			t.Fatalf("start event router: %v", err)
		}
	}
	if c.SignupLimit == 0 {
		c.SignupLimit = 1 << 20
	}
	limit := server.FaceOptions{Nodejitsu: []nodejitsu.Option{nodejitsu.WithSignupLimit(c.SignupLimit, time.Minute)},
		Tsuru: []tsuru.Option{tsuru.WithSignupLimit(c.SignupLimit, time.Minute)}}
	tp.Faces = server.NewFaces(tp.Platform, log, limit, c.Faces)
	tp.Server = httptest.NewServer(tp.Faces.Handler())
	return tp
}

// URL is the API's base URL.
func (tp *Platform) URL() string { return tp.Server.URL }

// Close stops the platform like the server does, then cleans the engine:
// the API, every app's units (which ends their log capture), the deployer,
// the engine, and last the store, after checking it. It is idempotent.
func (tp *Platform) Close() error { return tp.stop(true) }

// Shutdown stops the platform like the server's shutdown does, leaving the
// units running for the next platform on the same Dir and Fake to adopt.
// Close after Shutdown does nothing more.
func (tp *Platform) Shutdown() error { return tp.stop(false) }

func (tp *Platform) stop(clean bool) error {
	tp.closeOnce.Do(func() {
		tp.Server.Close()
		if clean {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if apps, err := tp.Store.AllApps(); err == nil {
				for _, a := range apps {
					_ = tp.Deployer.Remove(ctx, a.Key())
				}
			}
		}
		tp.Deployer.Close()
		tp.Router.Close()
		if clean {
			tp.Fake.Close()
		}
		tp.Certs.Close()
		tp.closeErr = tp.Store.Check()
		if err := tp.Store.Close(); tp.closeErr == nil {
			tp.closeErr = err
		}
	})
	return tp.closeErr
}

// Account is a user with the credentials a caller may use.
type Account struct {
	Name, Password, Token string
}

// Cred sets credentials on a request; nil is an anonymous caller.
type Cred func(r *http.Request)

// BasicCred is HTTP Basic with user and secret (a password or a token).
func BasicCred(user, secret string) Cred {
	return func(r *http.Request) { r.SetBasicAuth(user, secret) }
}

// BearerCred is "Authorization: Bearer tok".
func BearerCred(tok string) Cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func (a Account) Basic() Cred      { return BasicCred(a.Name, a.Password) }
func (a Account) TokenBasic() Cred { return BasicCred(a.Name, a.Token) }
func (a Account) Bearer() Cred     { return BearerCred(a.Token) }
func (a Account) Email() string    { return a.Name + "@example.com" }

// Principal is the account as the service sees a caller using its password.
func (tp *Platform) Principal(t testing.TB, a Account) *paas.Principal {
	t.Helper()
	pr, err := tp.AuthenticateBasic(a.Name, a.Password)
	if err != nil {
		t.Fatalf("authenticate %s: %v", a.Name, err)
	}
	return pr
}

// AdminPrincipal is the admin as a caller.
func (tp *Platform) AdminPrincipal(t testing.TB) *paas.Principal { return tp.Principal(t, tp.Admin) }

// NewUser stores a confirmed user (the sign-up and confirmation flows have
// their own tests; the minimum bcrypt cost keeps fixtures fast under -race)
// with an API token "tok".
func (tp *Platform) NewUser(t testing.TB, name string) Account {
	t.Helper()
	a := Account{Name: name, Password: "pw-" + name + "-secret"}
	hash, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Store.CreateUser(paas.User{Name: name, Email: a.Email(), PasswordHash: hash, Confirmed: true}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	tok, _, err := tp.Store.CreateToken(name, "tok", false)
	if err != nil {
		t.Fatalf("create token of %s: %v", name, err)
	}
	a.Token = tok
	return a
}

// NewTeam creates a team owned by owner, with members as members.
func (tp *Platform) NewTeam(t testing.TB, name string, owner Account, members ...Account) paas.Team {
	t.Helper()
	ctx := context.Background()
	pr := tp.Principal(t, owner)
	team, err := tp.CreateTeam(ctx, pr, name)
	if err != nil {
		t.Fatalf("create team %s: %v", name, err)
	}
	for _, m := range members {
		if team, err = tp.SetTeamMember(ctx, pr, name, m.Name, paas.RoleMember); err != nil {
			t.Fatalf("add %s to team %s: %v", m.Name, name, err)
		}
	}
	return team
}

// Response is an API answer read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Raw is a request body of a given Content-Type ("" for none), sent with
// Header's fields (the now CLI's x-now-* on a sync).
type Raw struct {
	Type   string
	Data   []byte
	Header http.Header
}

// Do sends a request to the API. body: nil (none), []byte (raw,
// octet-stream), string (raw JSON text) or any other value (marshalled).
func (tp *Platform) Do(t testing.TB, method, path string, c Cred, body any) Response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	var extra http.Header
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	case Raw:
		rd, ctype, extra = bytes.NewReader(b.Data), b.Type, b.Header
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, tp.Server.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	if c != nil {
		c(req)
	}
	res, err := tp.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// Mailer records every message so tests can read invite and reset codes.
type Mailer struct {
	mu   sync.Mutex
	msgs []Mail
}

// Mail is one message sent.
type Mail struct{ To, Subject, Body string }

func (m *Mailer) Send(to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, Mail{to, subject, body})
	return nil
}

var codeRE = regexp.MustCompile(`is: (\S+)`)

// LastCode returns the code in the newest message sent to `to`.
func (m *Mailer) LastCode(t testing.TB, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].To == to {
			if sm := codeRE.FindStringSubmatch(m.msgs[i].Body); sm != nil {
				return sm[1]
			}
			t.Fatalf("message to %s has no code: %q", to, m.msgs[i].Body)
		}
	}
	t.Fatalf("no message was sent to %s", to)
	return ""
}

// Last returns the newest message sent to `to`.
func (m *Mailer) Last(t testing.TB, to string) Mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].To == to {
			return m.msgs[i]
		}
	}
	t.Fatalf("no message was sent to %s", to)
	return Mail{}
}

// Count is the number of messages sent.
func (m *Mailer) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers (the server log).
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *LockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
