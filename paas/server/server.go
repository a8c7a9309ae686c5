// Package server assembles the platform: it opens the store, connects the
// runtime, mounts every API face on one router, starts the listeners (API,
// HTTP ingress) and the deployer, and shuts them all down cleanly.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/dns"
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/ingress"
	"github.com/selfhost/paas/paas/nodejitsu"
	"github.com/selfhost/paas/paas/now"
	"github.com/selfhost/paas/runtime"
)

// Config is every setting of a running platform (flags and environment
// variables map onto it one to one in main).
type Config struct {
	DataDir       string
	APIAddr       string
	HTTPAddr      string
	HTTPSAddr     string
	DNSAddr       string
	Domain        string
	PublicIP      string
	BaseImage     string
	ACMECA        string
	ACMEEmail     string
	AdminPassword string
	SMTPURL       string
	SMTPFrom      string
	// DNSResolver is the "host:port" of the DNS server asked for _now TXT
	// records when verifying external domains; "" uses the system resolver.
	DNSResolver string
	// DNSAllowTransfer lists addresses or prefixes (comma-separated) allowed
	// to transfer zones with AXFR; everyone else is refused.
	DNSAllowTransfer string

	// Runtime, when set, is used instead of connecting to Docker (tests).
	Runtime runtime.Runtime
	// Ready, when set, receives the bound API and HTTP addresses once serving.
	Ready func(apiAddr, httpAddr string)
	// DNSReady, when set, receives the bound DNS address (UDP and TCP share
	// it) once the DNS server answers.
	DNSReady func(addr string)
}

// Defaults are the embedded defaults: unprivileged, loopback-only ports.
var Defaults = Config{
	DataDir:   "./data",
	APIAddr:   "127.0.0.1:7070",
	HTTPAddr:  "127.0.0.1:8080",
	HTTPSAddr: "127.0.0.1:8443",
	DNSAddr:   "127.0.0.1:5353",
	Domain:    "localhost",
	BaseImage: runtime.DefaultBaseImage,
	SMTPFrom:  "paas@localhost",
}

// Run serves until ctx is done, then shuts down: listeners stop accepting,
// in-flight requests finish (bounded), background work stops, the store closes.
// An empty DNSAddr disables the DNS server.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	publicIPs, err := paas.ParsePublicIPs(cfg.PublicIP)
	if err != nil {
		return fmt.Errorf("public IP setting: %w", err)
	}
	allowTransfer, err := parsePrefixes(cfg.DNSAllowTransfer)
	if err != nil {
		return fmt.Errorf("dns allow-transfer setting: %w", err)
	}
	store, err := paas.OpenStore(cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()

	rt := cfg.Runtime
	if rt == nil {
		d, err := runtime.NewDocker(ctx, runtime.DockerConfig{})
		if err != nil {
			log.Error("Docker engine unavailable: apps cannot be built or run until it is reachable and the server restarted", "err", err)
			rt = runtime.Unavailable{Err: err}
		} else {
			defer d.Close()
			rt = d
		}
	}

	pcfg := paas.Config{Domain: cfg.Domain, BaseImage: cfg.BaseImage, PublicIPs: publicIPs, Resolver: cfg.DNSResolver}
	if cfg.SMTPURL != "" {
		pcfg.Mailer = paas.SMTPMailer{URL: cfg.SMTPURL, From: cfg.SMTPFrom}
	}
	p := paas.New(store, rt, pcfg, log)
	generated, err := p.EnsureAdmin(cfg.AdminPassword)
	if err != nil {
		return err
	}
	if generated != "" && cfg.AdminPassword == "" {
		// Printed once, on first start only.
		fmt.Printf("\n  Admin account created.\n  user: admin\n  password: %s\n  (shown once; set PAAS_ADMIN_PASSWORD on first start to choose it)\n\n", generated)
	}

	proxy := ingress.New(ingress.Options{Logger: log})
	defer proxy.Close()
	// The DNS view is rebuilt from the store after every change that can
	// touch it: domains and records, and apps (their subdomains). Route
	// updates from the deployer (deploys, restarts) change no name.
	dnsSrv := dns.NewServer(dns.Config{Addr: cfg.DNSAddr, AllowTransfer: allowTransfer, Logger: log})
	zones := &zoneView{p: p, srv: dnsSrv, log: log}
	zones.refresh()
	routes := &routeTable{store: store, proxy: proxy, domain: cfg.Domain, log: log}
	p.OnZonesChanged(zones.refresh)
	p.OnAppsChanged(func() {
		routes.refresh()
		zones.refresh()
	})
	p.Deployer.OnRoutes(routes.update)

	// One slot per server that can fail on its own: API, ingress, deployer, DNS.
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

	handler := NewHandler(p, log)
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
	stopping := make(chan struct{})
	withShutdown := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r.WithContext(api.WithShutdown(r.Context(), stopping)))
	})
	apiSrv := &http.Server{Handler: withShutdown, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	httpSrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	serve := func(name string, srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("%s server: %w", name, err)
		}
	}
	wg.Add(3)
	go serve("api", apiSrv, apiLn)
	go serve("http ingress", httpSrv, httpLn)
	go func() {
		defer wg.Done()
		if err := p.Run(runCtx); err != nil {
			errs <- err
		}
	}()
	dnsAddr := ""
	if cfg.DNSAddr != "" {
		dnsAddr = dnsSrv.UDPAddr().String()
	}
	log.Info("platform serving", "api", "http://"+apiLn.Addr().String(), "ingress", "http://"+httpLn.Addr().String(),
		"dns", dnsAddr, "domain", cfg.Domain, "data", cfg.DataDir)
	if cfg.Ready != nil {
		cfg.Ready(apiLn.Addr().String(), httpLn.Addr().String())
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
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	close(stopping) // log streams end; other requests finish
	_ = apiSrv.Shutdown(shutdownCtx)
	_ = httpSrv.Shutdown(shutdownCtx)
	stopRun()
	wg.Wait()
	if err := waitDNS(); err != nil && runErr == nil {
		runErr = fmt.Errorf("dns server: %w", err)
	}
	return runErr
}

// NewHandler returns the API handler: every face on one router.
func NewHandler(p *paas.Platform, log *slog.Logger) http.Handler {
	r := httprouter.New()
	auth := &api.Authenticator{Platform: p}
	nj := nodejitsu.Routes(r, p, auth, log)
	now.Routes(r, p, auth, log)
	admin := &api.Adapter{Log: log}
	r.GET("/admin/backup", admin.Handle(backupHandler(p, auth)))
	// Unknown paths answer in the common error shape; they carry the
	// Nodejitsu header because that face owns the root.
	r.NotFound = nj.Adapter().NotFoundHandler()
	r.MethodNotAllowed = nj.Adapter().MethodNotAllowedHandler()
	r.HandleMethodNotAllowed = true
	// The router's own redirects and OPTIONS answers would lack the face's
	// headers (the Nodejitsu client rejects those), and a redirect would
	// turn POST /logs/:user/ into a GET: every request reaches a handler.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	return stripTrailingSlash(r)
}

// stripTrailingSlash serves "/x/" as "/x": the documents write some paths
// with a trailing slash (POST /logs/:user-id/).
func stripTrailingSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
			r.URL.Path = strings.TrimRight(r.URL.Path, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			r.URL.RawPath = ""
		}
		h.ServeHTTP(w, r)
	})
}

// backupHandler streams a consistent copy of the database to an admin.
func backupHandler(p *paas.Platform, auth *api.Authenticator) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		pr, err := auth.Require(r)
		if err != nil {
			return err
		}
		if !pr.IsAdmin() || pr.ViaToken {
			return paas.Forbidden("backups need the admin password")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="paas.db"`)
		_, err = p.Store.Backup(w)
		return err
	}
}

// routeTable keeps the ingress table in step with the store and the deployer:
// <subdomain>.<domain> → the app's serving units, or 503 when it is stopped.
type routeTable struct {
	store  *paas.Store
	proxy  *ingress.Proxy
	domain string
	log    *slog.Logger

	mu       sync.Mutex
	backends map[string][]string
}

func (t *routeTable) update(backends map[string][]string) {
	t.mu.Lock()
	t.backends = backends
	t.mu.Unlock()
	t.refresh()
}

func (t *routeTable) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	apps, err := t.store.AllApps()
	if err != nil {
		t.log.Error("rebuild routes", "err", err)
		return
	}
	table := make(ingress.Table, len(apps))
	for _, a := range apps {
		b := t.backends[a.Key()]
		table[a.Subdomain+"."+t.domain] = ingress.Route{App: a.Key(), Stopped: a.State != paas.AppStarted && len(b) == 0, Backends: b}
	}
	t.proxy.SetRoutes(table)
}

// zoneView keeps the DNS server's zones in step with the store. Each
// refresh rebuilds every zone and publishes them at once; the DNS server
// swaps its snapshot atomically, so queries never wait for this.
type zoneView struct {
	p   *paas.Platform
	srv *dns.Server
	log *slog.Logger

	// mu orders refreshes: each reads the store after taking it, so the
	// last one to publish has seen every change made before it was called.
	mu sync.Mutex
}

func (v *zoneView) refresh() {
	v.mu.Lock()
	defer v.mu.Unlock()
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
