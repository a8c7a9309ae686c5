package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/deploy"
	"github.com/selfhost/paas/paas/ingress"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

// BenchmarkRouteRefresh is one rebuild of the ingress table with 1,000
// apps (each with an env) across 100 owners and 1,000 deployments, side by
// side with reading what it needs the way the table once did (every app
// and deployment decoded with its env unsealed):
//
//	go test ./paas/server -run '^$' -bench RouteRefresh -benchmem
func BenchmarkRouteRefresh(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for o := range 100 {
		owner := fmt.Sprintf("owner%d", o)
		if err := st.CreateUser(paas.User{Name: owner, Email: owner + "@example.com", Confirmed: true}); err != nil {
			b.Fatal(err)
		}
		for a := range 10 {
			name := fmt.Sprintf("app-%d-%d", o, a)
			env := map[string]string{"DATABASE_URL": "postgres://app:secret@svc:5432/app", "TOKEN": "0123456789abcdef0123456789abcdef"}
			if _, err := st.CreateApp(paas.App{Owner: owner, Name: name, Subdomain: name, State: paas.AppStarted, Env: env}); err != nil {
				b.Fatal(err)
			}
			files := []paas.ArchiveFile{{File: paas.File{Path: "package.json", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709"}, Data: nil}}
			if _, _, err := st.CreateDeployment(paas.Deployment{UID: name + "x", Owner: owner, App: name, Label: name + "-d",
				State: paas.DeploymentReady, Env: env}, paas.Snapshot{}, files); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("unsealing-every-env", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.AllApps(); err != nil {
				b.Fatal(err)
			}
			if _, err := st.AllDeployments(); err != nil {
				b.Fatal(err)
			}
			if _, err := st.AllAliases(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("route-source", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.RouteSource(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refresh", func(b *testing.B) {
		log := slog.New(slog.DiscardHandler)
		dep := deploy.New(context.Background(), st, runtime.NewFake(), &paas.Notifier{}, deploy.Config{}, log)
		defer dep.Close()
		t := &routeTable{store: st, deployer: dep, proxy: ingress.New(ingress.Options{}), domain: "paas.test",
			log: log, activity: map[string]*atomic.Int64{}}
		for b.Loop() {
			t.refresh()
		}
		if n := len(t.proxy.Routes()); n != 2000 {
			b.Fatalf("%d routes", n)
		}
	})
}
