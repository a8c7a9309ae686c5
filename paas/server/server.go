// Package server assembles the platform: it opens the store, connects the
// runtime, mounts every API face on one router, starts the listeners (API,
// HTTP ingress) and the deployer, and shuts them all down cleanly.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/dns"
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/deploy"
	eventrouter "github.com/selfhost/paas/paas/events"
	"github.com/selfhost/paas/paas/ingress"
	"github.com/selfhost/paas/paas/jitsu"
	"github.com/selfhost/paas/paas/nodejitsu"
	"github.com/selfhost/paas/paas/now"
	"github.com/selfhost/paas/paas/platform"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/paas/tsuru"
	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/web"
)

// Config is every setting of a running platform (flags and environment
// variables map onto it one to one in main).
type Config struct {
	DataDir   string
	APIAddr   string
	HTTPAddr  string
	HTTPSAddr string
	DNSAddr   string
	Domain    string
	PublicIP  string
	BaseImage string
	// RedisImage, PostgreSQLImage and MongoDBImage are the images database
	// servers run ("": the official images, pulled on first use).
	RedisImage      string
	PostgreSQLImage string
	MongoDBImage    string
	// AppQuota is how many apps one owner may have (0: no limit).
	AppQuota int
	// NowRateLimit is the now face's requests per principal (or client
	// address) per minute (0: now.DefaultRateLimit, the document's 600).
	NowRateLimit int
	// EventBacklog is how many events a stream keeps for its links at
	// most (0: events.DefaultBacklog); past it the oldest are dropped.
	EventBacklog int
	// EventsAllowPrivate lets webhook destinations call loopback and
	// private addresses (by default a user's URL may not reach the
	// platform's own host or network).
	EventsAllowPrivate bool
	// IdleTimeout is how long a now deployment no alias points at may go
	// without a request before it is stopped (FROZEN) until the next one;
	// 0 never freezes.
	IdleTimeout time.Duration
	// Pools are the team pools, "gpu=crew+ml,edge=ops" (see platform.ParsePools).
	Pools     string
	ACMECA    string
	ACMEEmail string
	// ACMERoot is a PEM file of roots trusted for the ACME CA's own HTTPS
	// endpoint (a private or test CA such as Pebble); "": the system's.
	ACMERoot string
	// ACMEHandshakeWait bounds a first handshake's wait for its name's
	// certificate (0: acme.DefaultHandshakeWait; tests shorten it).
	ACMEHandshakeWait time.Duration
	AdminPassword     string
	SMTPURL           string
	SMTPFrom          string
	// DNSResolver is the "host:port" of the DNS server asked for _now TXT
	// records when verifying external domains; "" uses the system resolver.
	DNSResolver string
	// DNSAllowTransfer lists addresses or prefixes (comma-separated) allowed
	// to transfer zones with AXFR; everyone else is refused.
	DNSAllowTransfer string

	// Engine chooses the container engine units run on: EngineDocker
	// ("" too), one host's Docker engine, or EngineSwarm, the Swarm whose
	// manager is the engine the environment names.
	Engine string
	// Runtime, when set, is used instead of connecting to Docker (tests).
	Runtime runtime.Runtime
	// Conn bounds client connections (zero fields: the defaults).
	Conn ConnLimits
	// ShutdownGrace bounds how long in-flight requests may take to finish
	// at shutdown before their deploys are cancelled (0: 15s).
	ShutdownGrace time.Duration
	// PasswordCost is the bcrypt cost of stored passwords (0: the
	// platform's default; tests lower it).
	PasswordCost int
	// Ready, when set, receives the bound API and HTTP addresses once serving.
	Ready func(apiAddr, httpAddr string)
	// HTTPSReady, when set, receives the bound HTTPS ingress address.
	HTTPSReady func(addr string)
	// DNSReady, when set, receives the bound DNS address (UDP and TCP share
	// it) once the DNS server answers.
	DNSReady func(addr string)
}

// Engines Config.Engine names.
const (
	EngineDocker = "docker"
	EngineSwarm  = "swarm"
)

// ConnLimits bound what one client connection may hold on to.
type ConnLimits struct {
	Header   time.Duration // to send the request headers (default 10s)
	Idle     time.Duration // a kept-alive connection between requests (default 2m)
	BodyIdle time.Duration // a request body that stops arriving (default 30s)
	PerAddr  int           // connections open at once per client address (default 256)
}

func (c Config) connLimits() ConnLimits {
	l := c.Conn
	if l.Header == 0 {
		l.Header = 10 * time.Second
	}
	if l.Idle == 0 {
		l.Idle = 2 * time.Minute
	}
	if l.BodyIdle == 0 {
		l.BodyIdle = 30 * time.Second
	}
	if l.PerAddr == 0 {
		l.PerAddr = 256
	}
	return l
}

// Header sizes. The ingress refuses (431) what an app could not take
// anyway: Node.js answers headers over 16 KiB with 431, and net/http's
// limit is MaxHeaderBytes plus 4 KiB of slack, so the proxy decides, the
// same way every time, instead of the app behind it.
const (
	apiMaxHeaderBytes     = 64 << 10
	ingressMaxHeaderBytes = 12 << 10
)

// Defaults are the embedded defaults: unprivileged, loopback-only ports.
var Defaults = Config{
	DataDir:   "./data",
	APIAddr:   "127.0.0.1:7070",
	HTTPAddr:  "127.0.0.1:8080",
	HTTPSAddr: "127.0.0.1:8443",
	DNSAddr:   "127.0.0.1:5353",
	Domain:    "localhost",
	BaseImage: runtime.DefaultBaseImage,
	Engine:    EngineDocker,
	ACMECA:    acme.LetsEncrypt,
	SMTPFrom:  "paas@localhost",
	// Long enough that a preview someone is looking at stays up, short
	// enough that a small server keeps hundreds of them.
	IdleTimeout: 15 * time.Minute,
}

// Run serves until ctx is done, then shuts down in order: listeners stop
// accepting and in-flight requests get a bounded time to finish; deploys
// still running are cancelled and waited for, with every other goroutine
// of the deployer and the views; only then does the store close.
// An empty DNSAddr disables the DNS server.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.Engine != "" && cfg.Engine != EngineDocker && cfg.Engine != EngineSwarm {
		return fmt.Errorf("engine setting: %q is not an engine (want %s or %s)", cfg.Engine, EngineDocker, EngineSwarm)
	}
	publicIPs, err := paas.ParsePublicIPs(cfg.PublicIP)
	if err != nil {
		return fmt.Errorf("public IP setting: %w", err)
	}
	pools, err := platform.ParsePools(cfg.Pools)
	if err != nil {
		return fmt.Errorf("pools setting: %w", err)
	}
	allowTransfer, err := parsePrefixes(cfg.DNSAllowTransfer)
	if err != nil {
		return fmt.Errorf("dns allow-transfer setting: %w", err)
	}
	if n, err := raiseFileLimit(); err != nil {
		log.Warn("cannot raise the open-file limit", "err", err)
	} else if n > 0 {
		log.Debug("open-file limit", "files", n)
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()

	rt := cfg.Runtime
	if rt == nil {
		prefix, err := st.InstancePrefix()
		if err != nil {
			return err
		}
		// The engine resolves bind volumes' paths itself: absolute only.
		codeDir, err := filepath.Abs(filepath.Join(cfg.DataDir, "code"))
		if err != nil {
			return fmt.Errorf("code directory: %w", err)
		}
		dcfg := runtime.DockerConfig{Prefix: prefix, Network: prefix, CodeDir: codeDir}
		var eng interface {
			runtime.Runtime
			Close() error
		}
		if cfg.Engine == EngineSwarm {
			eng, err = runtime.NewSwarm(ctx, dcfg)
		} else {
			eng, err = runtime.NewDocker(ctx, dcfg)
		}
		if err != nil {
			log.Error("Docker engine unavailable: apps cannot be built or run until it is reachable and the server restarted", "engine", cfg.Engine, "err", err)
			rt = runtime.Unavailable{Err: err}
		} else {
			defer eng.Close()
			rt = eng
		}
	}

	events := &paas.Notifier{}
	// Event routing (the Jitsu face's links): closed after the deployer,
	// which feeds it the apps' log lines, and before the store.
	var p *platform.Platform // below: the router asks it for service instances
	router := eventrouter.New(st, eventrouter.Config{Dir: filepath.Join(cfg.DataDir, "events"), Backlog: cfg.EventBacklog,
		AllowPrivate: cfg.EventsAllowPrivate, ServiceEndpoint: func(ctx context.Context, owner, name string) (string, string, string, error) {
			return p.ServiceEndpoint(ctx, owner, name)
		}}, log)
	defer router.Close()
	// The deployer's lifetime is not ctx: it ends after the API has
	// drained (Close below), so a request finishing during shutdown still
	// has a deployer to finish with.
	dep := deploy.New(context.WithoutCancel(ctx), st, rt, events, deploy.Config{BaseImage: cfg.BaseImage,
		ServiceImages: deploy.ServiceImages{paas.ServiceRedis: cfg.RedisImage, paas.ServicePostgreSQL: cfg.PostgreSQLImage, paas.ServiceMongoDB: cfg.MongoDBImage},
		OnLogs:        router.AppLogs}, log)
	defer dep.Close()
	pcfg := platform.Config{AppQuota: cfg.AppQuota, Pools: pools, Domain: cfg.Domain, PublicIPs: publicIPs, Resolver: cfg.DNSResolver, PasswordCost: cfg.PasswordCost}
	if cfg.SMTPURL != "" {
		pcfg.Mailer = platform.SMTPMailer{URL: cfg.SMTPURL, From: cfg.SMTPFrom}
	}
	p = platform.New(st, dep, events, pcfg, log)
	p.SetEventRouter(router)
	generated, err := p.EnsureAdmin(cfg.AdminPassword)
	if err != nil {
		return err
	}
	if generated != "" && cfg.AdminPassword == "" {
		// Printed once, on first start only.
		fmt.Printf("\n  Admin account created.\n  user: admin\n  password: %s\n  (shown once; set PAAS_ADMIN_PASSWORD on first start to choose it)\n\n", generated)
	}

	proxy := ingress.New(ingress.Options{Logger: log, Wake: p.Wake})
	defer proxy.Close()
	dnsSrv := dns.NewServer(dns.Config{Addr: cfg.DNSAddr, AllowTransfer: allowTransfer, Logger: log})

	// The views built from the store follow it through the notifier: the
	// ingress table (apps and their serving units), the DNS zones (app
	// names, domains, records). They run until stopViews, after the API and
	// the deployer have stopped changing things.
	viewsCtx, stopViews := context.WithCancel(context.WithoutCancel(ctx))
	var views sync.WaitGroup
	defer views.Wait()
	defer stopViews()
	routes := &routeTable{store: st, deployer: dep, proxy: proxy, domain: cfg.Domain, log: log, activity: map[string]*atomic.Int64{}}
	zones := &zoneView{p: p, srv: dnsSrv, log: log}
	zones.refresh() // before the DNS server answers its first query
	follow(viewsCtx, &views, events, routes.refresh, paas.TopicApps, paas.TopicRoutes)
	if cfg.IdleTimeout > 0 {
		freezeIdle(viewsCtx, &views, p, cfg.IdleTimeout, routes.lastUsed, log)
	}
	follow(viewsCtx, &views, events, zones.refresh, paas.TopicApps, paas.TopicZones)

	// Reconcile before the API accepts a write: adoptions never race a request.
	if err := dep.Start(); err != nil {
		return err
	}
	if err := p.ReconcileDatabases(ctx); err != nil {
		log.Error("database servers not all running", "err", err)
	}
	if err := p.ReconcileDeployments(ctx); err != nil {
		log.Error("deployments not all booted", "err", err)
	}
	// Delivery resumes where each link stopped.
	if err := router.Start(); err != nil {
		return fmt.Errorf("event routing: %w", err)
	}

	// One slot per server that can fail on its own: API, ingress, HTTPS ingress, DNS.
	errs := make(chan error, 4)

	// Like the other listeners, a DNS address that cannot be bound fails
	// the start instead of leaving the platform half up.
	dnsCtx, stopDNS := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDNS()
	dnsDone := make(chan error, 1)
	if cfg.DNSAddr != "" {
		go func() {
			err := dnsSrv.ListenAndServe(dnsCtx)
			if err != nil && dnsCtx.Err() == nil {
				// Stopped on its own (a socket error): end the run like the other servers.
				errs <- fmt.Errorf("dns server: %w", err)
			}
			dnsDone <- err
		}()
		select {
		case <-dnsSrv.Ready():
		case err := <-dnsDone:
			return fmt.Errorf("dns listener: %w", err)
		}
	} else {
		dnsDone <- nil
		log.Info("DNS server disabled (no DNS address)")
	}
	// waitDNS stops the DNS server and returns its error, once.
	waitDNS := sync.OnceValue(func() error {
		stopDNS()
		return <-dnsDone
	})
	defer waitDNS()

	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	if sn, ok := rt.(unitSubnets); ok {
		subnets, err := sn.Subnets(ctx)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("platform network: %w", err)
		}
		apiLn = &refusingListener{Listener: apiLn, refuse: subnets, log: log}
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("http ingress listener: %w", err)
	}
	// HTTPS: user-supplied certificates, ACME (the platform zone's
	// wildcard over DNS-01 from our own DNS server, other names on demand
	// over HTTP-01 on the ingress), and the local CA where ACME does not
	// apply.
	var httpsLn net.Listener
	var caRoot func() []byte
	var tlsGetCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	httpHandler := http.Handler(proxy)
	if cfg.HTTPSAddr != "" {
		certs, err := newCertManager(ctx, cfg, st, p, dnsSrv, log)
		if err != nil {
			apiLn.Close()
			httpLn.Close()
			return err
		}
		defer certs.Close()
		p.SetCertManager(certs)
		caRoot = certs.RootPEM
		httpHandler = certs.HTTPHandler(proxy)
		if httpsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			apiLn.Close()
			httpLn.Close()
			return fmt.Errorf("https ingress listener: %w", err)
		}
		_, port, _ := net.SplitHostPort(httpsLn.Addr().String())
		proxy.SetHTTPSPort(port)
		tlsGetCert = certs.GetCertificate
	}
	faceOpts := FaceOptions{CARoot: caRoot}
	if cfg.NowRateLimit > 0 {
		faceOpts.Now = append(faceOpts.Now, now.WithRateLimit(cfg.NowRateLimit, time.Minute))
	}
	handler := NewFaces(p, log, faceOpts).Handler()
	stopping := make(chan struct{})
	var inflight sync.WaitGroup // API requests being served
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Done()
		handler.ServeHTTP(w, r.WithContext(api.WithShutdown(r.Context(), stopping)))
	})
	lim := cfg.connLimits()
	apiLn = newCapListener(apiLn, lim.PerAddr, log)
	httpLn = newCapListener(httpLn, lim.PerAddr, log)
	apiSrv := &http.Server{Handler: bodyIdleTimeout(lim.BodyIdle, apiHandler), ReadHeaderTimeout: lim.Header,
		IdleTimeout: lim.Idle, MaxHeaderBytes: apiMaxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	httpSrv := &http.Server{Handler: bodyIdleTimeout(lim.BodyIdle, httpHandler), ReadHeaderTimeout: lim.Header,
		IdleTimeout: lim.Idle, MaxHeaderBytes: ingressMaxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	httpsSrv := &http.Server{Handler: bodyIdleTimeout(lim.BodyIdle, proxy), ReadHeaderTimeout: lim.Header,
		IdleTimeout: lim.Idle, MaxHeaderBytes: ingressMaxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{GetCertificate: tlsGetCert, MinVersion: tls.VersionTLS12}}

	var servers sync.WaitGroup
	serve := func(name string, srv *http.Server, ln net.Listener) {
		defer servers.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("%s server: %w", name, err)
		}
	}
	servers.Add(2)
	go serve("api", apiSrv, apiLn)
	go serve("http ingress", httpSrv, httpLn)
	httpsAddr := ""
	if httpsLn != nil {
		httpsAddr = httpsLn.Addr().String()
		servers.Add(1)
		go func() {
			defer servers.Done()
			// ServeTLS sets up HTTP/2 beside HTTP/1.1 on the TLS listener.
			if err := httpsSrv.ServeTLS(newCapListener(httpsLn, lim.PerAddr, log), "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("https ingress server: %w", err)
			}
		}()
	}
	dnsAddr := ""
	if cfg.DNSAddr != "" {
		dnsAddr = dnsSrv.UDPAddr().String()
	}
	// Start-up (compiling schemas, the local CA, the reconcile) leaves
	// garbage that the background scavenger would hand back to the OS only
	// over minutes: an idle server should not hold it. One forced GC, once.
	debug.FreeOSMemory()
	log.Info("platform serving", "api", "http://"+apiLn.Addr().String(), "ingress", "http://"+httpLn.Addr().String(),
		"https", httpsAddr, "dns", dnsAddr, "domain", cfg.Domain, "data", cfg.DataDir)
	if cfg.Ready != nil {
		cfg.Ready(apiLn.Addr().String(), httpLn.Addr().String())
	}
	if cfg.HTTPSReady != nil && httpsAddr != "" {
		cfg.HTTPSReady(httpsAddr)
	}
	if cfg.DNSReady != nil && dnsAddr != "" {
		cfg.DNSReady(dnsAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	log.Info("shutting down")
	grace := cfg.ShutdownGrace
	if grace == 0 {
		grace = 15 * time.Second
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	close(stopping) // log streams end; other requests finish
	if err := apiSrv.Shutdown(shutdownCtx); err != nil {
		// Requests still running past the grace (a deploy's health check
		// may take a minute): cancel their deploys, then cut them off.
		log.Warn("requests still running at the end of the shutdown grace; cancelling them", "err", err)
	}
	dep.Close()
	_ = apiSrv.Close()
	inflight.Wait()
	_ = httpSrv.Shutdown(shutdownCtx)
	_ = httpSrv.Close()
	_ = httpsSrv.Shutdown(shutdownCtx)
	_ = httpsSrv.Close()
	servers.Wait()
	stopViews()
	views.Wait()
	if err := waitDNS(); err != nil && runErr == nil {
		runErr = fmt.Errorf("dns server: %w", err)
	}
	return runErr
}

// newCertManager builds the certificate machinery on the store. ACME
// applies when a CA is configured and the platform domain can have a
// public certificate; the zone's wildcard needs the DNS server too.
func newCertManager(ctx context.Context, cfg Config, st *store.Store, p *platform.Platform, dnsSrv *dns.Server, log *slog.Logger) (*acme.Manager, error) {
	mc := acme.Config{Storage: acme.NewStorage(st, paas.RandomHex(8), 0), Email: cfg.ACMEEmail, Zone: cfg.Domain,
		Owner: p.CertOwner, HandshakeWait: cfg.ACMEHandshakeWait, Log: log}
	if cfg.ACMECA != "" && cfg.ACMECA != "local" && certmagic.SubjectQualifiesForPublicCert(cfg.Domain) {
		mc.CA = cfg.ACMECA
	}
	if cfg.ACMERoot != "" {
		pemBytes, err := os.ReadFile(cfg.ACMERoot)
		if err != nil {
			return nil, fmt.Errorf("acme root: %w", err)
		}
		mc.TrustedRoots = x509.NewCertPool()
		if !mc.TrustedRoots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("acme root %s: no PEM certificate", cfg.ACMERoot)
		}
	}
	if cfg.DNSAddr != "" {
		mc.DNS, mc.DNSAddr = dnsSrv, reachable(dnsSrv.UDPAddr().String())
	}
	m, err := acme.NewManager(ctx, mc)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if mc.CA != "" {
		log.Info("ACME certificates", "ca", mc.CA, "zone_wildcard", mc.DNS != nil)
	}
	return m, nil
}

// reachable turns a wildcard listen address into one to dial.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// follow runs refresh after every notification of topics (and once at
// once), on a goroutine that ends with ctx; wg tracks it.
func follow(ctx context.Context, wg *sync.WaitGroup, events *paas.Notifier, refresh func(), topics ...paas.Topic) {
	changed, unsubscribe := events.Subscribe(topics...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				refresh()
			}
		}
	}()
}

// NewHandler returns the API handler: each face on its own router under
// its prefix, chosen by the first path segment.
func NewHandler(p *platform.Platform, log *slog.Logger) http.Handler {
	return NewFaces(p, log).Handler()
}

// FaceOptions adjust the faces (tests: small rate limits, a fake clock).
type FaceOptions struct {
	Nodejitsu []nodejitsu.Option
	Now       []now.Option
	Tsuru     []tsuru.Option
	// CARoot, when set, gives the local CA's root certificate, served at
	// GET /admin/ca.pem so users can trust the platform's HTTPS.
	CARoot func() []byte
}

// NewFaces builds every face over p.
func NewFaces(p *platform.Platform, log *slog.Logger, opts ...FaceOptions) Faces {
	var o FaceOptions
	for _, x := range opts {
		o.Nodejitsu = append(o.Nodejitsu, x.Nodejitsu...)
		o.Now = append(o.Now, x.Now...)
		o.Tsuru = append(o.Tsuru, x.Tsuru...)
		if x.CARoot != nil {
			o.CARoot = x.CARoot
		}
	}
	auth := api.NewAuthenticator(p)
	return Faces{
		Nodejitsu: nodejitsu.New(p, auth, log, o.Nodejitsu...),
		Now:       now.New(p, auth, log, o.Now...),
		Tsuru:     tsuru.New(p, auth, log, o.Tsuru...),
		Jitsu:     jitsu.New(p, auth, log),
		UI:        web.New(p, auth, log),
		Admin:     newAdmin(p, auth, log, o.CARoot),
	}
}

// Routes lists every route of every face, by face name.
func (fs Faces) Routes() map[string][]api.Route {
	return map[string][]api.Route{"nodejitsu": fs.Nodejitsu.Routes(), "now": fs.Now.Routes(), "tsuru": fs.Tsuru.Routes(),
		"jitsu": fs.Jitsu.Routes(), "ui": fs.UI.Routes(), "admin": fs.Admin.Routes()}
}

// Faces are the API faces, each serving its own prefix.
type Faces struct {
	Nodejitsu *nodejitsu.Face // "/": everything no other face claims
	Now       *now.Face       // "/now", "/domains", "/certs"
	Tsuru     *tsuru.Face     // "/tsuru"
	Jitsu     *jitsu.Face     // "/api"
	UI        *web.UI         // "/ui"
	Admin     *admin          // "/admin"
}

// Handler dispatches on the first path segment.
func (fs Faces) Handler() http.Handler {
	nj, nw, ts, js, ui, ad := fs.Nodejitsu.Handler(), fs.Now.Handler(), fs.Tsuru.Handler(), fs.Jitsu.Handler(), fs.UI.Handler(), fs.Admin.Handler()
	return api.StripTrailingSlash(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "//") {
			// Clients that keep a base URL with a trailing slash (jitsu-cli)
			// send //api/…: one slash, without a redirect.
			for strings.Contains(r.URL.Path, "//") {
				r.URL.Path = strings.ReplaceAll(r.URL.Path, "//", "/")
			}
			r.URL.RawPath = ""
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if r.URL.Path == "/" && r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			// A browser at the API's root wants the UI; clients of the
			// Nodejitsu face ask for JSON.
			http.Redirect(w, r, web.Prefix+"/", http.StatusFound)
			return
		}
		switch first {
		case "ui":
			ui.ServeHTTP(w, r)
		case "api":
			js.ServeHTTP(w, r)
		case "now", "domains", "certs":
			nw.ServeHTTP(w, r)
		case "tsuru":
			ts.ServeHTTP(w, r)
		case "admin":
			ad.ServeHTTP(w, r)
		default:
			nj.ServeHTTP(w, r)
		}
	}))
}

// admin is the platform's own small face: operations no API document has.
type admin struct {
	p      *platform.Platform
	auth   *api.Authenticator
	router *api.Router
	caRoot func() []byte
}

func newAdmin(p *platform.Platform, auth *api.Authenticator, log *slog.Logger, caRoot func() []byte) *admin {
	ad := &admin{p: p, auth: auth, caRoot: caRoot}
	ad.router = (&api.Adapter{Log: log}).NewRouter([]api.Route{
		{Method: "GET", Path: "/admin/backup", Name: "backup", Handle: auth.With(ad.backup)},
		{Method: "GET", Path: "/admin/ca.pem", Name: "caRoot", Handle: ad.caPEM},
	})
	return ad
}

// caPEM serves the local CA's root certificate: public by nature, it is
// what a user adds to their trust store.
func (ad *admin) caPEM(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	if ad.caRoot == nil {
		return paas.NotFound("this server has no local CA (no HTTPS listener)")
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err := w.Write(ad.caRoot())
	return err
}

func (ad *admin) Handler() http.Handler { return ad.router }

// Routes lists the admin face's routes.
func (ad *admin) Routes() []api.Route { return ad.router.Routes() }

// backup streams a consistent copy of the database to an admin.
func (ad *admin) backup(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	// The headers go out with the first byte, so a refusal is still a JSON error.
	return ad.p.Backup(r.Context(), pr, &attachment{w: w, name: "paas.db"})
}

// attachment sets a download's headers on its first write.
type attachment struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (a *attachment) Write(b []byte) (int, error) {
	if !a.started {
		a.started = true
		a.w.Header().Set("Content-Type", "application/octet-stream")
		a.w.Header().Set("Content-Disposition", `attachment; filename="`+a.name+`"`)
	}
	return a.w.Write(b)
}

// routeTable keeps the ingress table in step with the store and the
// deployer: <subdomain>.<domain> → the app's serving units, or 503 when it
// is stopped.
type routeTable struct {
	store    *store.Store
	deployer *deploy.Deployer
	proxy    *ingress.Proxy
	domain   string
	log      *slog.Logger

	mu sync.Mutex
	// activity is the time of the last request to each deployment (by
	// deployer key), which the ingress writes and the idle check reads;
	// kept across tables, dropped with the deployment.
	activity map[string]*atomic.Int64
}

// lastUsed is when target last got a request through the ingress (zero:
// not since the platform started).
func (t *routeTable) lastUsed(target string) time.Time {
	t.mu.Lock()
	a := t.activity[target]
	t.mu.Unlock()
	if a == nil || a.Load() == 0 {
		return time.Time{}
	}
	return time.Unix(0, a.Load())
}

// freezeIdle checks for idle deployments a few times per idle period, on a
// goroutine that ends with ctx.
func freezeIdle(ctx context.Context, wg *sync.WaitGroup, p *platform.Platform, idle time.Duration, lastUsed func(string) time.Time, log *slog.Logger) {
	every := min(max(idle/4, 100*time.Millisecond), time.Minute)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if n, err := p.FreezeIdle(ctx, idle, lastUsed); err != nil && ctx.Err() == nil {
					log.Warn("freeze idle deployments", "err", err)
				} else if n > 0 {
					log.Info("froze idle deployments", "count", n, "idle", idle)
				}
			}
		}
	}()
}

func (t *routeTable) refresh() {
	src, err := t.store.RouteSource()
	if err != nil {
		t.log.Error("rebuild routes; still serving the previous ones", "err", err)
		return
	}
	apps, deps, aliases := src.Apps, src.Deployments, src.Aliases
	backends := t.deployer.Routes()
	table := make(ingress.Table, len(apps)+len(deps)+len(aliases))
	byUID := make(map[string]paas.Deployment, len(deps))
	t.mu.Lock()
	activity := make(map[string]*atomic.Int64, len(deps))
	for _, d := range deps {
		a := t.activity[d.Target()]
		if a == nil {
			a = new(atomic.Int64)
		}
		activity[d.Target()] = a
	}
	t.activity = activity
	t.mu.Unlock()
	deploymentRoute := func(d paas.Deployment) ingress.Route {
		b := backends[d.Target()]
		r := ingress.Route{App: d.Target(), Backends: b, Activity: activity[d.Target()]}
		switch d.State {
		case paas.DeploymentFrozen:
			r.Asleep = true // its next request starts it
		case paas.DeploymentBooting:
			r.Asleep = len(b) == 0 // held until it serves, not 503
		case paas.DeploymentDeploying, paas.DeploymentError:
			r.Stopped = len(b) == 0
		}
		return r
	}
	for _, d := range deps {
		byUID[d.UID] = d
		table[d.Label+"."+t.domain] = deploymentRoute(d)
	}
	for _, a := range apps {
		b := backends[a.Key()]
		r := ingress.Route{App: a.Key(), Stopped: a.State != paas.AppStarted && len(b) == 0, Backends: b}
		if d, ok := byUID[a.ServedBy]; ok && a.ServedBy != "" {
			r = deploymentRoute(d) // its hostname is an alias of a deployment
		}
		r.RedirectHTTPS, r.HSTS = a.RedirectHTTPS, a.HSTS
		table[a.Subdomain+"."+t.domain] = r
	}
	for _, al := range aliases {
		if d, ok := byUID[al.Deployment]; ok && !al.AppHost {
			table[al.Host] = deploymentRoute(d)
		}
	}
	t.proxy.SetRoutes(table)
}

// zoneView keeps the DNS server's zones in step with the store. Each
// refresh rebuilds every zone and publishes them at once; the DNS server
// swaps its snapshot atomically, so queries never wait for this.
type zoneView struct {
	p   *platform.Platform
	srv *dns.Server
	log *slog.Logger
}

func (v *zoneView) refresh() {
	zones, err := v.p.Zones()
	if err != nil {
		v.log.Error("rebuild DNS zones; still serving the previous ones", "err", err)
		return
	}
	// Dropped records are logged by the server; the rest is served.
	_ = v.srv.SetZones(zones)
}

// parsePrefixes reads "10.0.0.1, 192.0.2.0/24, ::1": single addresses
// become one-address prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
