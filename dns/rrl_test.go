package dns

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestLargeAnswersAreRateLimited: over UDP, answers many times their
// query's size go to one client network at a bounded rate, then come back
// empty and truncated (no amplification; a real resolver retries over TCP,
// which is never limited); small answers are not limited.
func TestLargeAnswersAreRateLimited(t *testing.T) {
	s := NewServer(Config{LargeAnswersPerSecond: 5})
	big := strings.Repeat("x", 250)
	z := Zone{Origin: "amp.test", Serial: 1, NS: []string{"ns1.amp.test"}}
	for range 12 {
		z.Records = append(z.Records, Record{Name: "big", Type: "TXT", Value: big + string(rune('a'+len(z.Records)))})
	}
	z.Records = append(z.Records, Record{Name: "small", Type: "A", Value: "192.0.2.1"})
	if err := s.SetZones([]Zone{z}); err != nil {
		t.Fatal(err)
	}
	query := func(name string, qtype uint16) *mdns.Msg {
		q := new(mdns.Msg)
		q.SetQuestion(name, qtype)
		q.SetEdns0(4096, false)
		return q
	}
	udp := newRecorder(t, false)
	full, truncated := 0, 0
	for range 30 {
		s.ServeDNS(udp, query("big.amp.test.", mdns.TypeTXT))
		m := udp.last()
		switch {
		case m.Truncated && len(m.Answer) == 0:
			truncated++
		case len(m.Answer) == 12:
			full++
		default:
			t.Fatalf("unexpected answer: %v", m)
		}
	}
	if full < 5 || full > 12 || truncated == 0 {
		t.Errorf("%d full and %d truncated answers of 30, want the burst (10) then truncation", full, truncated)
	}
	s.ServeDNS(udp, query("small.amp.test.", mdns.TypeA))
	if m := udp.last(); m.Truncated || len(m.Answer) != 1 {
		t.Errorf("a small answer was limited: %v", m)
	}
	tcp := newRecorder(t, true)
	for range 20 {
		s.ServeDNS(tcp, query("big.amp.test.", mdns.TypeTXT))
		if m := tcp.last(); m.Truncated || len(m.Answer) != 12 {
			t.Fatalf("a TCP answer was limited: %v", m)
		}
	}
}
