package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/paas/store"
	"github.com/selfhost/paas/runtime"
)

// TestBackup runs `paas backup FILE` against a stopped data dir (direct
// read) and against a running server (through its admin endpoint), and
// checks each copy opens with the original users.
func TestBackup(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("PAAS_ADMIN_PASSWORD", paastest.AdminPassword)

	offline := filepath.Join(t.TempDir(), "offline.db")
	// A platform that ran once on dataDir (it creates the admin) and stopped.
	if err := paastest.NewPlatform(t, paastest.Config{Dir: dataDir}).Close(); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"backup", "--data", dataDir, offline}); err != nil {
		t.Fatalf("offline backup: %v", err)
	}
	checkBackup(t, offline, dataDir)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := server.Defaults
	cfg.DataDir, cfg.APIAddr, cfg.HTTPAddr, cfg.DNSAddr = dataDir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Runtime = runtime.NewFake()
	cfg.Ready = func(api, _ string) { ready <- api }
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()
	var api string
	select {
	case api = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	online := filepath.Join(t.TempDir(), "online.db")
	if err := run([]string{"backup", "--data", dataDir, "--api", api, online}); err != nil {
		t.Fatalf("backup from the running server: %v", err)
	}
	checkBackup(t, online, dataDir)
}

func checkBackup(t *testing.T, file, dataDir string) {
	t.Helper()
	restore := t.TempDir()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restore, "paas.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restore, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(restore)
	if err != nil {
		t.Fatalf("open restored backup: %v", err)
	}
	defer st.Close()
	if _, err := st.User("admin"); err != nil {
		t.Fatalf("restored backup lacks the admin: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run([]string{"frobnicate"}); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestCARoot: paas ca writes the local CA's root, the same one the server
// serves on its HTTPS ingress (made once, kept in the store).
func TestCARoot(t *testing.T) {
	dataDir := t.TempDir()
	out1, out2 := filepath.Join(t.TempDir(), "a.pem"), filepath.Join(t.TempDir(), "b.pem")
	for _, out := range []string{out1, out2} {
		if err := run([]string{"ca", "--data", dataDir, out}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(out1)
	b, _ := os.ReadFile(out2)
	block, _ := pem.Decode(a)
	if block == nil || block.Type != "CERTIFICATE" || string(a) != string(b) {
		t.Fatalf("ca wrote %q then %q", a, b)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !cert.IsCA {
		t.Fatalf("not a CA certificate: %v", err)
	}
}
