package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas/server"
	"github.com/selfhost/paas/runtime"
)

// closedWithin reports whether the server closes c within d (a read ends).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionLimits: idle keep-alive connections and stalled bodies are
// closed on time, one address cannot hold more than its share of
// connections, and other clients are served all along.
func TestConnectionLimits(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	s := startServer(t, t.TempDir(), fake, "", func(c *server.Config) {
		c.DNSAddr = ""
		c.Conn = server.ConnLimits{Idle: 300 * time.Millisecond, BodyIdle: 300 * time.Millisecond, PerAddr: 6}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.api)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	served := func() {
		t.Helper()
		s.must(200, "GET", "/apps/admin", nil, nil)
	}

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /endpoints HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if !closedWithin(c, 3*time.Second) {
			t.Error("an idle kept-alive connection stayed open")
		}
		served()
	})

	t.Run("stalled body", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /apps/admin/x HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==\r\nContent-Length: 100\r\n\r\n{")
		served() // while the body stalls
		if !closedWithin(c, 3*time.Second) {
			t.Error("a stalled body held its connection")
		}
	})

	t.Run("connections per address", func(t *testing.T) {
		var held []net.Conn
		for range 7 {
			held = append(held, dial())
		}
		// Whichever the server accepted last is over the cap and closed at
		// once (more than one if the test client still holds a kept-alive
		// connection); the others stay, until the header timeout.
		closed := make(chan bool, len(held))
		for _, c := range held {
			go func() { closed <- closedWithin(c, time.Second) }()
		}
		n := 0
		for range held {
			if <-closed {
				n++
			}
		}
		if n < 1 || n > 2 {
			t.Errorf("%d of 7 connections from one address were closed, want those over the cap of 6", n)
		}
		for _, c := range held {
			c.Close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := dial()
			fmt.Fprintf(c, "GET /endpoints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && res.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("connections were not released when closed")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestIngressHeaderLimit: headers an app could not take are refused by the
// ingress itself, the same way every time.
func TestIngressHeaderLimit(t *testing.T) {
	fake := runtime.NewFake()
	t.Cleanup(func() { fake.Close() })
	s := startServer(t, t.TempDir(), fake, "", func(c *server.Config) { c.DNSAddr = "" })
	for range 3 {
		req, _ := http.NewRequest("GET", "http://"+s.ingress+"/", nil)
		req.Host = "nope.localhost"
		req.Header.Set("X-Big", strings.Repeat("a", 20<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("20 KiB of headers: status %d, want 431", res.StatusCode)
		}
	}
}
