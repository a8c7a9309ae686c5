package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// BenchmarkScale is the flat-cost goal's API side: a platform seeded
// through the service layer with 1,000 apps across 100 owners, 10,000 DNS
// records (100 domains of 100) and 100,000 stored log lines, then the p99
// of the answers users wait on, 200 calls each:
//
//	go test ./paas/server -run '^$' -bench Scale -benchtime 1x
func BenchmarkScale(b *testing.B) {
	tp := paastest.NewPlatform(b, paastest.Config{Dir: b.TempDir(), Domain: "paas.test"})
	ctx := context.Background()
	admin := tp.AdminPrincipal(b)
	var owners []paastest.Account
	start := time.Now()
	for o := range 100 {
		u := tp.NewUser(b, fmt.Sprintf("user%d", o))
		owners = append(owners, u)
		pr := tp.Principal(b, u)
		for a := range 10 {
			env := map[string]string{"TOKEN": "0123456789abcdef", "DATABASE_URL": "postgres://app:pw@db:5432/app"}
			if _, err := tp.CreateApp(ctx, pr, u.Name, paas.AppSpec{Name: fmt.Sprintf("app-%d-%d", o, a), Env: &env}); err != nil {
				b.Fatal(err)
			}
		}
		domain := fmt.Sprintf("d%d.example.org", o)
		if _, err := tp.CreateOrVerifyDomain(ctx, admin, u.Name, domain, false); err != nil {
			b.Fatal(err)
		}
		for r := range 100 {
			if _, err := tp.CreateRecord(ctx, pr, u.Name, domain, paas.Record{Name: fmt.Sprintf("r%d", r), Type: "A", Value: "192.0.2.1"}, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	lines := make([]paas.LogEntry, 1000)
	for i := range lines {
		lines[i] = paas.LogEntry{Time: time.Now().UTC(), Source: "app", Stream: "stdout", Text: fmt.Sprintf("line %d of the app's output", i)}
	}
	for o := range 100 {
		if err := tp.Store.AppendLogs(fmt.Sprintf("user%d/app-%d-0", o, o), lines); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded in %s", time.Since(start).Round(time.Millisecond))
	// The idle goal (under 64 MB with all this): the whole test process,
	// harness and HTTP client included, is an upper bound of the
	// server's share, read once start-up garbage is handed back as the
	// server does once it serves.
	debug.FreeOSMemory()
	rss, rssErr := vmRSS()

	client := tp.Server.Client()
	p99 := func(b *testing.B, name string, cred paastest.Cred, path func(i int) string) {
		var lat []time.Duration
		for i := range 200 {
			req, _ := http.NewRequest("GET", tp.Server.URL+path(i), nil)
			cred(req)
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat = append(lat, time.Since(t0))
			if res.StatusCode != 200 {
				b.Fatalf("%s: %d", path(i), res.StatusCode)
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, name+"-p99-ms")
	}
	for b.Loop() {
		u := func(i int) paastest.Account { return owners[i%len(owners)] }
		p99(b, "nodejitsu-list", u(0).Basic(), func(i int) string { return "/apps/" + u(0).Name })
		p99(b, "nodejitsu-show", u(1).Basic(), func(i int) string { return "/apps/user1/app-1-" + fmt.Sprint(i%10) })
		p99(b, "logs", u(2).Basic(), func(i int) string { return "/logs/user2/app-2-0/50" })
		p99(b, "records", u(3).Basic(), func(i int) string { return "/domains/d3.example.org/records" })
		p99(b, "tsuru-admin-list-1000", tp.Admin.Basic(), func(i int) string { return "/tsuru/apps" })
	}
	if rssErr != nil {
		b.Logf("no RSS reading: %v", rssErr)
	} else {
		b.ReportMetric(float64(rss)/(1<<20), "idle-rss-MB")
	}
}

// vmRSS is this process's resident set, in bytes, from /proc.
func vmRSS() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}
