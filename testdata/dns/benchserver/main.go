// Command benchserver serves a generated zone for load testing (see
// ../bench.sh). It writes a dnsperf query file once it is listening, so the
// file's existence doubles as the readiness signal.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/selfhost/paas/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:53539", "listen address (UDP and TCP)")
	n := flag.Int("n", 10000, "number of A records in bench.test")
	queries := flag.String("queries", "", "write a dnsperf query file here once ready")
	flag.Parse()

	z := dns.Zone{Origin: "bench.test", Serial: 1}
	var q strings.Builder
	for i := range *n {
		z.Records = append(z.Records, dns.Record{
			Name:  fmt.Sprintf("h%d", i),
			Type:  "A",
			Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		})
		fmt.Fprintf(&q, "h%d.bench.test A\n", i)
	}
	s := dns.NewServer(dns.Config{Addr: *addr})
	if err := s.SetZones([]dns.Zone{z}); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		select {
		case <-s.Ready():
		case <-ctx.Done():
			return
		}
		if *queries != "" {
			tmp := *queries + ".tmp"
			if err := os.WriteFile(tmp, []byte(q.String()), 0o644); err != nil {
				log.Fatal(err)
			}
			if err := os.Rename(tmp, *queries); err != nil {
				log.Fatal(err)
			}
		}
		log.Printf("serving %d records on %s", *n, s.UDPAddr())
	}()
	if err := s.ListenAndServe(ctx); err != nil {
		log.Fatal(err)
	}
}
