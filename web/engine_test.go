package web_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime/dockertest"
)

// TestUIOnEngine walks through an app's life in the browser against a
// real server on the real engine, opening the app's own address (Chromium
// sends *.localhost to loopback) after each deploy and the roll back.
func TestUIOnEngine(t *testing.T) {
	d := dockertest.New(t)
	base := dockertest.HostBase(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := server.Defaults
	cfg.DataDir, cfg.APIAddr, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.DNSAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.AdminPassword, cfg.Runtime, cfg.BaseImage, cfg.PasswordCost = "admin-password-1", d, base, bcrypt.MinCost
	addrs := make(chan [2]string, 1)
	cfg.Ready = func(api, http string) { addrs <- [2]string{api, http} }
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("the server did not stop")
		}
	})
	var api, ingress string
	select {
	case a := <-addrs:
		api, ingress = "http://"+a[0], a[1]
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start")
	}
	_, port, _ := strings.Cut(ingress, ":")
	open := func(t *testing.T, bctx context.Context, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			text, err := pageAt(bctx, "http://hello.localhost:"+port+"/")
			if err == nil && strings.Contains(text, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("hello.localhost:%s said %q (%v), want %q", port, text, err, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	lifecycle(t, api, "admin", cfg.AdminPassword, open, false)
}
