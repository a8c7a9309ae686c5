package dns

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"
)

// benchZone is bench.test with n A records h0..h<n-1>.
func benchZone(n int) Zone {
	z := Zone{Origin: "bench.test", Serial: 1, Records: make([]Record, 0, n)}
	for i := range n {
		z.Records = append(z.Records, Record{
			Name:  fmt.Sprintf("h%d", i),
			Type:  "A",
			Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		})
	}
	return z
}

const benchRecords = 10000

func benchServerOf(b *testing.B, records int) *Server {
	b.Helper()
	s := NewServer(Config{Addr: "127.0.0.1:0", Logger: quietLogger()})
	if err := s.SetZones([]Zone{benchZone(records)}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchQueriesOf pre-builds queries spread over the zone's names, so a big
// zone is not measured on a few cache-hot entries.
func benchQueriesOf(records int) []*mdns.Msg {
	qs := make([]*mdns.Msg, 1024)
	for i := range qs {
		qs[i] = query(fmt.Sprintf("h%d.bench.test.", (i*7919)%records), mdns.TypeA)
	}
	return qs
}

func BenchmarkServeDNS(b *testing.B) { serveInProcess(b, benchRecords) }

// serveInProcess is the server's own cost per query: no sockets, the
// answer packed and discarded.
func serveInProcess(b *testing.B, records int) {
	s := benchServerOf(b, records)
	qs := benchQueriesOf(records)
	w := &discardWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.ServeDNS(w, qs[i%len(qs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

func BenchmarkQueryUDP(b *testing.B) {
	s := benchServerOf(b, benchRecords)
	addr := startServer(b, s)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	co := &mdns.Conn{Conn: conn}
	qs := benchQueriesOf(benchRecords)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := co.WriteMsg(qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
		r, err := co.ReadMsg()
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Answer) != 1 {
			b.Fatalf("answer %v", r)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

func BenchmarkQueryUDPParallel(b *testing.B) {
	queryUDPParallel(b, benchRecords)
}

// queryUDPParallel is real DNS packets from parallel clients over loopback
// UDP, each query checked for its one answer.
func queryUDPParallel(b *testing.B, records int) {
	s := benchServerOf(b, records)
	addr := startServer(b, s)
	qs := benchQueriesOf(records)
	var failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		co := &mdns.Conn{Conn: conn}
		for i := 0; pb.Next(); i++ {
			q := qs[i%len(qs)].Copy()
			q.Id = uint16(i)
			if err := co.WriteMsg(q); err != nil {
				failed.Add(1)
				continue
			}
			if r, err := co.ReadMsg(); err != nil || len(r.Answer) != 1 {
				failed.Add(1)
			}
		}
	})
	if f := failed.Load(); f > 0 {
		b.Errorf("%d queries failed", f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

type discardWriter struct{ remote net.Addr }

func (d *discardWriter) LocalAddr() net.Addr  { return d.remote }
func (d *discardWriter) RemoteAddr() net.Addr { return d.remote }
func (d *discardWriter) WriteMsg(m *mdns.Msg) error {
	_, err := m.Pack()
	return err
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) Close() error                { return nil }
func (d *discardWriter) TsigStatus() error           { return nil }
func (d *discardWriter) TsigTimersOnly(bool)         {}
func (d *discardWriter) Hijack()                     {}

// BenchmarkZoneSize is the flat-cost check of the DNS side: the same
// queries in process against a zone of 10 records and one of 10,000, side
// by side in one run (the goal: within 10%).
//
//	go test ./dns -run '^$' -bench ZoneSize -benchtime 3s
func BenchmarkZoneSize(b *testing.B) {
	for _, n := range []int{10, benchRecords} {
		b.Run(fmt.Sprintf("records-%d", n), func(b *testing.B) { serveInProcess(b, n) })
	}
}

// BenchmarkZoneSizeUDP is the same comparison as clients see it: real
// packets over loopback UDP from parallel clients, a 10-record and a
// 10,000-record zone side by side in one run.
//
//	go test ./dns -run '^$' -bench ZoneSizeUDP -benchtime 3s -count 3
func BenchmarkZoneSizeUDP(b *testing.B) {
	for _, n := range []int{10, benchRecords} {
		b.Run(fmt.Sprintf("records-%d", n), func(b *testing.B) { queryUDPParallel(b, n) })
	}
}
