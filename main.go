// Command paas is a self-hosted platform-as-a-service in one binary: it
// builds Node.js apps into containers, runs them, routes traffic to them and
// serves the Nodejitsu, Tsuru, now and Jitsu APIs over one data model.
//
//	paas [serve]         run the platform (the default)
//	paas backup FILE     write a consistent copy of the database
//	paas ca [FILE]       write the local CA's root certificate (to trust the HTTPS ingress)
//	paas base-image      prepare the Node base image (--from-host: build it from this machine's node)
//	paas service-image KIND  prepare a database service image (--from-host: from this machine's redis or postgresql)
//	paas version         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "paas:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args)
	case "backup":
		return backup(args)
	case "ca":
		return caRoot(args)
	case "base-image":
		return baseImage(args)
	case "service-image":
		return serviceImage(args)
	case "version":
		fmt.Println("paas", version)
		return nil
	case "help":
		usage(os.Stdout)
		return nil
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", cmd)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: paas [serve] [flags]    run the platform (see paas serve --help)
       paas backup FILE           write a consistent copy of the database to FILE
       paas ca [FILE]             write the local CA's root certificate (stdout by default)
       paas base-image [--from-host]  pull (or build from this machine's node) the Node base image
       paas service-image [--from-host] [--tag TAG] KIND  pull (or build from this machine's server) the redis, postgresql or mongodb image
       paas version               print the version
`)
}

// flagSet declares every setting as a flag whose default comes from its
// environment variable, falling back to the embedded default.
func flagSet(name string, cfg *server.Config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	str := func(p *string, flagName, env, def, help string) {
		if v, ok := os.LookupEnv(env); ok {
			def = v
		}
		fs.StringVar(p, flagName, def, help+" (env "+env+")")
	}
	d := server.Defaults
	str(&cfg.DataDir, "data", "PAAS_DATA", d.DataDir, "data directory: paas.db and secret.key")
	str(&cfg.APIAddr, "api", "PAAS_API", d.APIAddr, "API and web UI listen address")
	str(&cfg.HTTPAddr, "http", "PAAS_HTTP", d.HTTPAddr, "HTTP ingress listen address (apps at http://<app>.<domain>)")
	str(&cfg.HTTPSAddr, "https", "PAAS_HTTPS", d.HTTPSAddr, "HTTPS ingress listen address (empty: no HTTPS)")
	str(&cfg.DNSAddr, "dns", "PAAS_DNS", d.DNSAddr, "authoritative DNS listen address, UDP and TCP (empty: no DNS)")
	str(&cfg.Domain, "domain", "PAAS_DOMAIN", d.Domain, "platform domain")
	str(&cfg.PublicIP, "public-ip", "PAAS_PUBLIC_IP", d.PublicIP, "public IPv4/IPv6 addresses of this server, comma-separated (for DNS)")
	str(&cfg.DNSAllowTransfer, "dns-allow-transfer", "PAAS_DNS_ALLOW_TRANSFER", d.DNSAllowTransfer, "addresses or CIDR prefixes, comma-separated, allowed to AXFR the zones (default: none)")
	str(&cfg.DNSResolver, "dns-resolver", "PAAS_DNS_RESOLVER", d.DNSResolver, "DNS server (host:port) asked for _now TXT records when verifying external domains (default: the system resolver)")
	str(&cfg.Engine, "engine", "PAAS_ENGINE", d.Engine, "container engine: "+server.EngineDocker+" (this host's Docker engine) or "+server.EngineSwarm+" (a Docker Swarm: this host's engine must be a manager; units become services)")
	str(&cfg.BaseImage, "base-image", "PAAS_BASE_IMAGE", d.BaseImage, "Node base image apps are built from")
	str(&cfg.RedisImage, "redis-image", "PAAS_REDIS_IMAGE", d.RedisImage, "image redis service instances run (default "+runtime.DefaultServiceImage(runtime.KindRedis)+"; offline: paas service-image --from-host redis, then paas-redis:host)")
	str(&cfg.PostgreSQLImage, "postgresql-image", "PAAS_POSTGRESQL_IMAGE", d.PostgreSQLImage, "image postgresql service instances run (default "+runtime.DefaultServiceImage(runtime.KindPostgreSQL)+")")
	str(&cfg.MongoDBImage, "mongodb-image", "PAAS_MONGODB_IMAGE", d.MongoDBImage, "image mongodb service instances run (default "+runtime.DefaultServiceImage(runtime.KindMongoDB)+"; offline: paas service-image --from-host mongodb, from a FerretDB binary)")
	str(&cfg.Pools, "pools", "PAAS_POOLS", d.Pools, "team pools beside the public one, e.g. gpu=crew+ml,edge=ops (pool=teams that may use it)")
	// intFlag and durFlag are settings parsed from text: a bad value in
	// the environment leaves -1, which serve refuses with the reason.
	intFlag := func(p *int, name, env string, def int, what, help string) {
		parse := func(v string) (int, error) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("not a number of %s ≥ 0: %q", what, v)
			}
			return n, nil
		}
		*p = def
		if v, ok := os.LookupEnv(env); ok {
			if n, err := parse(v); err == nil {
				*p = n
			} else {
				*p = -1
			}
		}
		fs.Func(name, help+" (env "+env+")", func(v string) error {
			n, err := parse(v)
			*p = n
			return err
		})
	}
	durFlag := func(p *time.Duration, name, env string, def time.Duration, help string) {
		parse := func(v string) (time.Duration, error) {
			t, err := time.ParseDuration(v)
			if err != nil || t < 0 {
				return 0, fmt.Errorf("not a duration ≥ 0 such as 15m or 0 (never): %q", v)
			}
			return t, nil
		}
		*p = def
		if v, ok := os.LookupEnv(env); ok {
			if t, err := parse(v); err == nil {
				*p = t
			} else {
				*p = -1
			}
		}
		fs.Func(name, help+" (env "+env+")", func(v string) error {
			t, err := parse(v)
			*p = t
			return err
		})
	}
	intFlag(&cfg.AppQuota, "app-quota", "PAAS_APP_QUOTA", d.AppQuota, "apps", "apps one owner (user or team) may have; 0: no limit")
	durFlag(&cfg.IdleTimeout, "idle-timeout", "PAAS_IDLE_TIMEOUT", d.IdleTimeout, "a now deployment no alias points at is stopped (FROZEN) after this long without a request, and started again by the next one; 0: never (default 15m)")
	intFlag(&cfg.NowRateLimit, "now-rate-limit", "PAAS_NOW_RATE_LIMIT", d.NowRateLimit, "requests", "requests per minute the now face allows each caller (or client address); 0: the document's 600")
	intFlag(&cfg.EventBacklog, "event-backlog", "PAAS_EVENT_BACKLOG", d.EventBacklog, "events", "events a stream keeps for its links at most; past it the oldest are dropped and counted (default 100000)")
	cfg.EventsAllowPrivate = os.Getenv("PAAS_EVENTS_ALLOW_PRIVATE") == "true"
	fs.BoolVar(&cfg.EventsAllowPrivate, "events-allow-private", cfg.EventsAllowPrivate, "let webhook destinations call loopback and private addresses, e.g. a receiver on the LAN (env PAAS_EVENTS_ALLOW_PRIVATE=true)")
	str(&cfg.ACMECA, "acme-ca", "PAAS_ACME_CA", d.ACMECA, "ACME directory URL; staging: "+acme.LetsEncryptStaging+"; \"local\": the local CA only (as for --domain localhost)")
	str(&cfg.ACMEEmail, "acme-email", "PAAS_ACME_EMAIL", d.ACMEEmail, "ACME account email (expiry notices)")
	str(&cfg.ACMERoot, "acme-root", "PAAS_ACME_ROOT", d.ACMERoot, "PEM file of roots to trust for the ACME CA's own HTTPS (a private or test CA); default: the system's")
	str(&cfg.SMTPURL, "smtp", "PAAS_SMTP", d.SMTPURL, "SMTP server for invite codes, smtp://user:pass@host:port (default: codes go to the log)")
	str(&cfg.SMTPFrom, "smtp-from", "PAAS_SMTP_FROM", d.SMTPFrom, "sender address for mail")
	return fs
}

func serve(args []string) error {
	var cfg server.Config
	fs := flagSet("serve", &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	for _, bad := range []struct {
		env string
		bad bool
	}{{"PAAS_APP_QUOTA", cfg.AppQuota < 0}, {"PAAS_EVENT_BACKLOG", cfg.EventBacklog < 0}, {"PAAS_IDLE_TIMEOUT", cfg.IdleTimeout < 0},
		{"PAAS_NOW_RATE_LIMIT", cfg.NowRateLimit < 0}} {
		if bad.bad {
			return fmt.Errorf("%s=%q: not a number ≥ 0 (a duration such as 15m for PAAS_IDLE_TIMEOUT)", bad.env, os.Getenv(bad.env))
		}
	}
	cfg.AdminPassword = os.Getenv("PAAS_ADMIN_PASSWORD")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, cfg, log)
}

// backup copies the database. The running server holds the file lock, so
// when the file is locked the copy is fetched from the server's admin
// endpoint (credentials: PAAS_ADMIN_PASSWORD).
func backup(args []string) error {
	var cfg server.Config
	fs := flagSet("backup", &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: paas backup [flags] FILE")
	}
	out := fs.Arg(0)
	st, err := store.Open(cfg.DataDir)
	if err == nil {
		defer st.Close()
		n, err := st.BackupFile(out)
		if err != nil {
			return err
		}
		fmt.Printf("wrote %s (%d bytes); keep %s with it to decrypt secrets\n", out, n, filepath.Join(cfg.DataDir, "secret.key"))
		return nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	pw := os.Getenv("PAAS_ADMIN_PASSWORD")
	if pw == "" {
		return errors.New("the server is running (data file locked): set PAAS_ADMIN_PASSWORD to fetch the backup from its API")
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+cfg.APIAddr+"/admin/backup", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("admin", pw)
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("fetch backup from running server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("fetch backup from running server: %s: %s", resp.Status, body)
	}
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write backup: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes) from the running server; keep %s with it to decrypt secrets\n", out, n, filepath.Join(cfg.DataDir, "secret.key"))
	return nil
}

func baseImage(args []string) error {
	var cfg server.Config
	fs := flagSet("base-image", &cfg)
	fromHost := fs.Bool("from-host", false, "build the image from this machine's node binary instead of pulling (offline installs, CI)")
	node := fs.String("node", "", "with --from-host: the node binary (default: node on PATH)")
	tag := fs.String("tag", "", "with --from-host: the tag to create (default "+runtime.HostBaseImage+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withDocker(func(ctx context.Context, d *runtime.Docker) error {
		if *fromHost {
			if *tag == "" {
				*tag = runtime.HostBaseImage
			}
			if err := runtime.BuildHostBaseImage(ctx, d, *node, *tag, os.Stdout); err != nil {
				return err
			}
			fmt.Printf("built %s; run the platform with --base-image %s\n", *tag, *tag)
			return nil
		}
		return d.EnsureImage(ctx, cfg.BaseImage, os.Stdout)
	})
}

// withDocker runs fn with the engine, until an interrupt.
func withDocker(fn func(ctx context.Context, d *runtime.Docker) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := runtime.NewDocker(ctx, runtime.DockerConfig{})
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(ctx, d)
}

// serviceImage prepares the image of a service kind: the official one,
// pulled, or with --from-host one built from this machine's own server
// binaries (runtime.BuildHostServiceImage), for offline installs and CI.
func serviceImage(args []string) error {
	fs := flag.NewFlagSet("service-image", flag.ContinueOnError)
	fromHost := fs.Bool("from-host", false, "build the image from this machine's server binaries instead of pulling (offline installs, CI)")
	tag := fs.String("tag", "", "with --from-host: the tag to create (default paas-KIND:host)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Flags may also follow the kind.
	kind := fs.Arg(0)
	if err := fs.Parse(fs.Args()[min(1, fs.NArg()):]); err != nil {
		return err
	}
	if kind == "" || fs.NArg() > 0 {
		return errors.New("usage: paas service-image [--from-host] [--tag TAG] " + strings.Join(runtime.ServiceKinds, "|"))
	}
	return withDocker(func(ctx context.Context, d *runtime.Docker) error {
		if !*fromHost {
			ref := runtime.DefaultServiceImage(kind)
			if ref == "" {
				return fmt.Errorf("unsupported kind %q (supported: %s)", kind, strings.Join(runtime.ServiceKinds, ", "))
			}
			return d.EnsureImage(ctx, ref, os.Stdout)
		}
		if *tag == "" {
			*tag = runtime.HostServiceImage(kind)
		}
		if err := runtime.BuildHostServiceImage(ctx, d, kind, *tag, os.Stdout); err != nil {
			return err
		}
		fmt.Printf("built %s\n", *tag)
		return nil
	})
}

// caRoot writes the local CA's root certificate: from the data file when
// no server holds it, else from the running server's API.
func caRoot(args []string) error {
	var cfg server.Config
	fs := flagSet("ca", &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pemBytes []byte
	st, err := store.Open(cfg.DataDir)
	switch {
	case err == nil:
		defer st.Close()
		certs := acme.NewStorage(st, paas.RandomHex(8), 0)
		defer certs.Close()
		ca, err := acme.NewLocalCA(context.Background(), certs, nil)
		if err != nil {
			return err
		}
		pemBytes = ca.RootPEM()
	case errors.Is(err, store.ErrLocked):
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + cfg.APIAddr + "/admin/ca.pem")
		if err != nil {
			return fmt.Errorf("fetch the root from the running server: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("fetch the root from the running server: %s", resp.Status)
		}
		if pemBytes, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return err
		}
	default:
		return err
	}
	if fs.NArg() == 0 {
		_, err := os.Stdout.Write(pemBytes)
		return err
	}
	return os.WriteFile(fs.Arg(0), pemBytes, 0o644)
}
