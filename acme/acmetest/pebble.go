// Package acmetest runs the Pebble test CA (github.com/letsencrypt/pebble)
// for the tests of the platform's ACME issuance: real orders, real
// HTTP-01 and DNS-01 validations against the platform's own ingress and
// DNS server, real certificates.
package acmetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// PebbleModule is the version the tests build when no binary is given
// (PAAS_PEBBLE, or pebble on PATH); .ci/run installs the same one.
const PebbleModule = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

// Pebble is a running Pebble CA.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// ServerRoots trusts Pebble's own HTTPS listener (the ACME client's
	// side); IssuerRoots trusts the certificates it issues.
	ServerRoots, IssuerRoots *x509.CertPool
	// ServerRootPEM is ServerRoots as PEM (for a --acme-root file).
	ServerRootPEM []byte

	mu     sync.Mutex
	orders int
}

// Orders counts the new-order requests Pebble has received so far.
func (p *Pebble) Orders() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.orders
}

// FreePort returns a loopback port free for TCP and UDP at the time of the
// call: Pebble must know the ingress's HTTP port and the DNS server's
// address before the platform starts.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free loopback port")
	return 0
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// binary finds Pebble: PAAS_PEBBLE, pebble on PATH, or a build of
// PebbleModule through the Go module proxy (once per test process).
func binary(t testing.TB) string {
	if p := os.Getenv("PAAS_PEBBLE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paas-pebble-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "install", PebbleModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go install %s: %v\n%s", PebbleModule, err, out)
			return
		}
		built = filepath.Join(dir, "pebble")
	})
	if buildErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Pebble is required under CI: %v", buildErr)
		}
		t.Skipf("Pebble not available: %v", buildErr)
	}
	return built
}

// Start runs Pebble until the test ends: validations of HTTP-01 go to
// httpPort on the address the name resolves to, and names are resolved
// by the DNS server at dnsAddr ("host:port"). Under CI a Pebble that
// cannot be found or built fails the test.
func Start(t testing.TB, httpPort int, dnsAddr string) *Pebble {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, certPEM, 0o600))
	must(t, os.WriteFile(keyFile, keyPEM, 0o600))
	acmePort, mgmtPort := FreePort(t), FreePort(t)
	var cfg struct {
		Pebble map[string]any `json:"pebble"`
	}
	cfg.Pebble = map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": FreePort(t),
		"keyAlgorithm": "ecdsa",
		"retryAfter":   map[string]int{"authz": 0, "order": 0},
	}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	must(t, os.WriteFile(cfgFile, cfgJSON, 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	// No sleeps before validations, no random nonce rejections, fresh
	// authorizations per order: every order is validated for real.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = cmd.Stdout
	must(t, cmd.Start())
	p := &Pebble{Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort), ServerRoots: x509.NewCertPool(), ServerRootPEM: certPEM}
	p.ServerRoots.AppendCertsFromPEM(certPEM)
	var logs bytes.Buffer
	var logMu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "POST /order-plz -> calling handler()") {
				p.mu.Lock()
				p.orders++
				p.mu.Unlock()
			}
			logMu.Lock()
			logs.WriteString(line + "\n")
			logMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			logMu.Lock()
			t.Logf("pebble output:\n%s", logs.String())
			logMu.Unlock()
		}
	})

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ServerRoots}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		root, err := get(client, fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err == nil {
			p.IssuerRoots = x509.NewCertPool()
			if !p.IssuerRoots.AppendCertsFromPEM(root) {
				t.Fatalf("pebble root: not PEM: %q", root)
			}
			if _, err := get(client, p.Directory); err == nil {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(c *http.Client, url string) ([]byte, error) {
	res, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return b, err
}

// selfSigned makes the certificate of Pebble's own listener (the module
// ships one, but only inside its source tree).
func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "pebble test listener"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
