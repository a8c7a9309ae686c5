package acme_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/selfhost/paas/acme"
	"github.com/selfhost/paas/acme/acmetest"
	"github.com/selfhost/paas/dns"
	"github.com/selfhost/paas/paas/store"
)

// BenchmarkIssuance: the time to a new certificate, side by side: a leaf
// from the local CA (the baseline: no CA round trips), and a real ACME
// order against Pebble validated over HTTP-01 (on a loopback HTTP server
// answering through the Manager's challenge handler) and over DNS-01 (the
// platform's DNS server answering the TXT record; one op is a zone's
// wildcard and apex, two certificates). ms/cert is the figure to read.
//
//	go test ./acme -run '^$' -bench Issuance -benchtime 10x
func BenchmarkIssuance(b *testing.B) {
	ctx := context.Background()
	dnsPort, httpPort := acmetest.FreePort(b), acmetest.FreePort(b)
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	dnsSrv := dns.NewServer(dns.Config{Addr: dnsAddr})
	if err := dnsSrv.SetZones([]dns.Zone{{Origin: "bench.test", Records: []dns.Record{
		{Name: "", Type: "A", Value: "127.0.0.1"}, {Name: "*", Type: "A", Value: "127.0.0.1"}}}}); err != nil {
		b.Fatal(err)
	}
	dnsCtx, stopDNS := context.WithCancel(ctx)
	dnsDone := make(chan error, 1)
	go func() { dnsDone <- dnsSrv.ListenAndServe(dnsCtx) }()
	b.Cleanup(func() { stopDNS(); <-dnsDone })
	<-dnsSrv.Ready()
	pebble := acmetest.Start(b, httpPort, dnsAddr)

	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	storage := acme.NewStorage(st, "bench", 0)
	b.Cleanup(func() { storage.Close() })
	anyName := func(context.Context, string) (string, bool) { return "bench", true }
	newManager := func(zone string, withDNS bool) *acme.Manager {
		cfg := acme.Config{Storage: storage, CA: pebble.Directory, TrustedRoots: pebble.ServerRoots, Zone: zone, Owner: anyName}
		if withDNS {
			cfg.DNS, cfg.DNSAddr = dnsSrv, dnsAddr
		}
		m, err := acme.NewManager(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	m := newManager("bench.test", false)
	b.Cleanup(m.Close)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	// The ACME account is registered once, as on a real installation.
	if err := m.Obtain(ctx, []string{"warmup.bench.test"}, false); err != nil {
		b.Fatal(err)
	}

	run := 0
	perCert := func(b *testing.B, certsPerOp int) {
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*certsPerOp), "ms/cert")
	}
	b.Run("local-ca", func(b *testing.B) {
		run++
		ca, err := acme.NewLocalCA(ctx, storage, func(string) bool { return true })
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: fmt.Sprintf("l%d-%d.bench.test", run, i)}); err != nil {
				b.Fatal(err)
			}
		}
		perCert(b, 1)
	})
	b.Run("acme-http01", func(b *testing.B) {
		run++
		for i := 0; b.Loop(); i++ {
			if err := m.Obtain(ctx, []string{fmt.Sprintf("h%d-%d.bench.test", run, i)}, false); err != nil {
				b.Fatal(err)
			}
		}
		perCert(b, 1)
	})
	b.Run("acme-dns01", func(b *testing.B) {
		run++
		for i := 0; b.Loop(); i++ {
			zone := fmt.Sprintf("z%d-%d.bench.test", run, i)
			zm := newManager(zone, true)
			err := zm.Obtain(ctx, []string{"*." + zone, zone}, false)
			zm.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		perCert(b, 2)
	})
}
