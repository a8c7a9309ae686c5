// Package dns is the platform's authoritative DNS server.
//
// It knows nothing about the rest of the platform: the core builds Zones from
// its store and pushes them with SetZones, which compiles them into an
// immutable snapshot published atomically, so queries never lock or wait for
// a writer. ACME DNS-01 challenges are answered from an overlay of ephemeral
// TXT records (AddTXT/RemoveTXT) that survives SetZones.
//
// Typical use:
//
//	srv := dns.NewServer(dns.Config{Addr: ":53"})
//	if err := srv.SetZones(zones); err != nil { log... } // still published, see SetZones
//	go srv.ListenAndServe(ctx)
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// maxUDPSize caps the answer size we send over UDP whatever the client
	// advertises; larger answers go TC and the client retries over TCP.
	maxUDPSize = 4096
	// advertisedUDPSize is what we put in our OPT record: the DNS flag day
	// 2020 value, which avoids IP fragmentation for queries sent to us.
	advertisedUDPSize = 1232
	// axfrChunk is the target payload per AXFR message, well under 64 KiB.
	axfrChunk     = 16 * 1024
	shutdownGrace = 5 * time.Second
)

// Config configures a Server.
type Config struct {
	// Addr is the "host:port" to listen on for both UDP and TCP
	// (ListenAndServe only). Port 0 picks a free port, the same for both.
	Addr string
	// AllowTransfer lists the clients allowed to AXFR/IXFR (over TCP only).
	AllowTransfer []netip.Prefix
	// Resolver resolves ALIAS targets outside our zones; nil uses
	// net.DefaultResolver.
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)
	// Logger receives warnings (dropped records, failed ALIAS lookups,
	// recovered panics); nil uses slog.Default().
	Logger *slog.Logger
	// LargeAnswersPerSecond bounds, per client network (/24, /56), the UDP
	// answers much larger than their query (the amplification a spoofed
	// source would get); beyond it the answer is an empty truncated reply,
	// which sends a real resolver to TCP (0: 20, with bursts of twice that).
	LargeAnswersPerSecond int
}

// Server is an authoritative DNS server. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	resolver func(ctx context.Context, host string) ([]netip.Addr, error)

	snap atomic.Pointer[snapshot]

	rrl *rateLimiter // large UDP answers per client network

	mu      sync.Mutex // serialises writers; queries never take it
	inputs  map[string]Zone
	overlay map[string][]string // lowercased fqdn -> ACME TXT values

	addrMu    sync.Mutex
	udpAddr   net.Addr
	tcpAddr   net.Addr
	ready     chan struct{}
	readyOnce sync.Once
}

// NewServer returns a server with no zones: every query is REFUSED until
// SetZones is called.
func NewServer(cfg Config) *Server {
	if cfg.LargeAnswersPerSecond == 0 {
		cfg.LargeAnswersPerSecond = 20
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		resolver: cfg.Resolver,
		inputs:   map[string]Zone{},
		overlay:  map[string][]string{},
		ready:    make(chan struct{}),
		rrl:      newRateLimiter(cfg.LargeAnswersPerSecond),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.resolver == nil {
		s.resolver = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	s.snap.Store(&snapshot{zones: map[string]*zone{}})
	return s
}

// SetZones replaces every zone. The new snapshot is always published: a
// record that is invalid or conflicts with another (CNAME next to other data,
// ALIAS next to A/AAAA, a second CNAME) is dropped, as is a zone whose origin
// is invalid or duplicated, and the returned error lists what was dropped.
// A nil error therefore means every record is being served.
func (s *Server) SetZones(zones []Zone) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	inputs := make(map[string]Zone, len(zones))
	for _, z := range sortZones(zones) {
		origin, err := normalizeOrigin(z.Origin)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := inputs[origin]; dup {
			errs = append(errs, fmt.Errorf("zone %s is given more than once; only the first is served", strings.TrimSuffix(origin, ".")))
			continue
		}
		inputs[origin] = z
	}
	s.inputs = inputs
	next := &snapshot{zones: make(map[string]*zone, len(inputs))}
	for origin, z := range inputs {
		zn, zerrs := compileZone(origin, z, s.overlay, s.ownedBy(origin))
		next.zones[origin] = zn
		errs = append(errs, zerrs...)
	}
	s.snap.Store(next)
	for _, err := range errs {
		s.log.Warn("dns: record dropped", "err", err)
	}
	return errors.Join(errs...)
}

// ownedBy reports whether a name is answered by the zone origin, i.e. origin
// is its most specific served zone. Callers hold s.mu.
func (s *Server) ownedBy(origin string) func(string) bool {
	return func(name string) bool { return s.owner(name) == origin }
}

// owner returns the most specific served origin containing name, or "".
func (s *Server) owner(name string) string {
	for off, end := 0, false; !end; off, end = mdns.NextLabel(name, off) {
		if _, ok := s.inputs[name[off:]]; ok {
			return name[off:]
		}
	}
	return ""
}

// AddTXT adds an ephemeral TXT record (an ACME DNS-01 challenge) at fqdn.
// It is answered authoritatively as soon as AddTXT returns if fqdn lies in a
// served zone, and is kept across SetZones until RemoveTXT. It does not change
// the zone serial: secondaries are not expected to carry challenges.
func (s *Server) AddTXT(fqdn, value string) {
	name, ok := s.overlayName(fqdn)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.overlay[name] {
		if v == value {
			return
		}
	}
	s.overlay[name] = append(s.overlay[name], value)
	s.recompile(name)
}

// RemoveTXT removes a TXT record added with AddTXT; unknown ones are ignored.
func (s *Server) RemoveTXT(fqdn, value string) {
	name, ok := s.overlayName(fqdn)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var kept []string
	for _, v := range s.overlay[name] {
		if v != value {
			kept = append(kept, v)
		}
	}
	if len(kept) == len(s.overlay[name]) {
		return
	}
	if len(kept) == 0 {
		delete(s.overlay, name)
	} else {
		s.overlay[name] = kept
	}
	s.recompile(name)
}

func (s *Server) overlayName(fqdn string) (string, bool) {
	name := mdns.Fqdn(strings.ToLower(strings.TrimSpace(fqdn)))
	if err := checkHostname(name, false); err != nil || name == "." {
		s.log.Warn("dns: ignoring ACME TXT record with an invalid name", "name", fqdn, "err", err)
		return "", false
	}
	return name, true
}

// recompile rebuilds only the zone owning name and publishes a new snapshot
// sharing every other zone. Callers hold s.mu.
func (s *Server) recompile(name string) {
	origin := s.owner(name)
	if origin == "" {
		return // kept in the overlay for a zone that may be added later
	}
	cur := s.snap.Load()
	next := &snapshot{zones: make(map[string]*zone, len(cur.zones))}
	for o, z := range cur.zones {
		next.zones[o] = z
	}
	zn, _ := compileZone(origin, s.inputs[origin], s.overlay, s.ownedBy(origin))
	next.zones[origin] = zn
	s.snap.Store(next)
}

// ServeDNS answers one query. It implements miekg/dns.Handler and can be
// driven directly with a recording ResponseWriter in tests.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	s.serveSafe(context.Background(), w, r)
}

// serveSafe keeps a bug from taking down the whole platform binary: the
// handler runs on miekg's goroutines, where a panic is fatal.
func (s *Server) serveSafe(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("dns: panic while answering", "panic", p)
			if r != nil {
				m := new(mdns.Msg)
				m.SetRcode(r, mdns.RcodeServerFailure)
				m.Answer, m.Ns, m.Extra = nil, nil, nil
				_ = w.WriteMsg(m)
			}
		}
	}()
	s.serve(ctx, w, r)
}

func (s *Server) serve(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) {
	if r == nil || r.Response {
		return // answering responses invites reflection loops
	}
	tcp := isTCP(w.RemoteAddr())
	m := new(mdns.Msg)
	m.SetReply(r)
	opt := r.IsEdns0()
	switch {
	case r.Opcode != mdns.OpcodeQuery:
		m.Rcode = mdns.RcodeNotImplemented
	case len(r.Question) != 1:
		m.Question = nil
		m.Rcode = mdns.RcodeFormatError
	case opt != nil && opt.Version() != 0:
		m.Rcode = mdns.RcodeBadVers // RFC 6891 §6.1.3
	case r.Question[0].Qclass != mdns.ClassINET && r.Question[0].Qclass != mdns.ClassANY:
		m.Rcode = mdns.RcodeRefused
	case r.Question[0].Qtype == mdns.TypeAXFR || r.Question[0].Qtype == mdns.TypeIXFR:
		if s.transfer(w, r, opt, tcp) {
			return
		}
		m.Rcode = mdns.RcodeRefused
	default:
		s.answerQuery(ctx, s.snap.Load(), m, r.Question[0], tcp)
	}
	s.write(w, m, opt, tcp, r.Len())
}

// amplification is how many times its query's size an answer may be
// before it counts as large (and a small answer never does).
const (
	amplification = 4
	smallAnswer   = 512
)

// write adds OPT, fits the message to the transport and sends it. Over
// UDP, a large answer to a client network over its rate is replaced by an
// empty truncated one: a spoofed victim gets no amplification, a real
// resolver retries over TCP, where the source cannot be spoofed.
func (s *Server) write(w mdns.ResponseWriter, m *mdns.Msg, opt *mdns.OPT, tcp bool, querySize int) {
	size := mdns.MaxMsgSize
	if !tcp {
		size = mdns.MinMsgSize
		if opt != nil {
			size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDPSize)
		}
	}
	if opt != nil {
		m.SetEdns0(advertisedUDPSize, false)
	}
	m.Compress = true
	if m.Len() > size {
		// Additional data is optional: drop it before truncating so it
		// alone never sets TC.
		if opt != nil {
			m.Extra = []mdns.RR{m.IsEdns0()}
		} else {
			m.Extra = nil
		}
		m.Truncate(size)
	}
	if !tcp {
		if n := m.Len(); n > smallAnswer && n > amplification*querySize && !s.rrl.allow(w.RemoteAddr()) {
			m.Answer, m.Ns = nil, nil
			if opt != nil {
				m.Extra = []mdns.RR{m.IsEdns0()}
			} else {
				m.Extra = nil
			}
			m.Truncated = true
		}
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns: write failed", "err", err)
	}
}

// transfer serves AXFR (and IXFR as a full transfer, RFC 1995 §4) to
// allowed clients over TCP. It returns false when the caller should REFUSE.
func (s *Server) transfer(w mdns.ResponseWriter, r *mdns.Msg, opt *mdns.OPT, tcp bool) bool {
	if !s.transferAllowed(w.RemoteAddr()) {
		return false
	}
	q := r.Question[0]
	z := s.snap.Load().zones[strings.ToLower(q.Name)]
	if z == nil {
		return false
	}
	reply := func(rrs []mdns.RR) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = rrs
		if opt != nil {
			m.SetEdns0(advertisedUDPSize, false)
		}
		return m
	}
	if !tcp {
		if q.Qtype == mdns.TypeAXFR {
			return false
		}
		// IXFR over UDP: a lone SOA tells the client to come back over TCP.
		s.write(w, reply([]mdns.RR{z.soa}), opt, false, r.Len())
		return true
	}
	all := make([]mdns.RR, 0, len(z.axfr)+2)
	all = append(all, z.soa)
	all = append(all, z.axfr...)
	all = append(all, z.soa)
	for len(all) > 0 {
		n, size := 0, 0
		for n < len(all) && (n == 0 || size+mdns.Len(all[n]) <= axfrChunk) {
			size += mdns.Len(all[n])
			n++
		}
		m := reply(all[:n])
		m.Compress = true
		if err := w.WriteMsg(m); err != nil {
			s.log.Warn("dns: zone transfer aborted", "zone", z.origin, "err", err)
			return true
		}
		all = all[n:]
	}
	return true
}

func (s *Server) transferAllowed(a net.Addr) bool {
	ip, ok := addrIP(a)
	if !ok {
		return false
	}
	for _, p := range s.cfg.AllowTransfer {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func addrIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}

func isTCP(a net.Addr) bool {
	_, ok := a.(*net.TCPAddr)
	return ok
}

// ListenAndServe binds cfg.Addr over UDP and TCP (the same port, also when
// it is 0) and serves until ctx is done; it then shuts both down gracefully
// and returns nil. Use Ready, UDPAddr and TCPAddr to learn the bound address.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.cfg.Addr
	if addr == "" {
		addr = ":53"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	if ctx.Err() != nil {
		return nil // already stopped: nothing to serve, nothing failed
	}
	var lc net.ListenConfig
	// With port 0 the kernel picks a UDP port that may be taken over TCP;
	// try a few before giving up.
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err != nil {
			pc.Close()
			if port == "0" && attempt < 10 {
				continue
			}
			return fmt.Errorf("dns: listen tcp %s: %w", tcpAddr, err)
		}
		return s.Serve(ctx, pc, ln)
	}
}

// Serve answers queries on pc (UDP) and ln (TCP), either of which may be
// nil, until ctx is done, then shuts down gracefully and returns nil. It
// takes ownership of both and closes them. A Server is meant to be served
// once; Ready is closed when both are accepting queries.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	if pc == nil && ln == nil {
		return errors.New("dns: Serve needs a PacketConn or a Listener")
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) { s.serveSafe(ctx, w, r) })
	var servers []*mdns.Server
	if pc != nil {
		servers = append(servers, &mdns.Server{PacketConn: pc, Handler: h, UDPSize: maxUDPSize})
	}
	if ln != nil {
		servers = append(servers, &mdns.Server{Listener: ln, Handler: h})
	}
	started := make(chan struct{}, len(servers))
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- srv.ActivateAndServe() }()
	}
	running := len(servers)
	// Shutdown only works on started servers, so until both are up the way
	// to stop is closing the sockets, which makes ActivateAndServe return.
	abort := func(err error) error {
		if pc != nil {
			pc.Close()
		}
		if ln != nil {
			ln.Close()
		}
		for ; running > 0; running-- {
			if e := <-errc; err == nil && ctx.Err() == nil {
				err = e
			}
		}
		return err
	}
	for n := 0; n < len(servers); n++ {
		select {
		case <-started:
		case err := <-errc:
			running--
			return abort(fmt.Errorf("dns: serve: %w", err))
		case <-ctx.Done():
			return abort(nil)
		}
	}
	s.addrMu.Lock()
	if pc != nil {
		s.udpAddr = pc.LocalAddr()
	}
	if ln != nil {
		s.tcpAddr = ln.Addr()
	}
	s.addrMu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		running--
		serveErr = fmt.Errorf("dns: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(sctx) // fails only for the one that already stopped
	}
	for ; running > 0; running-- {
		<-errc
	}
	if pc != nil {
		pc.Close()
	}
	if ln != nil {
		ln.Close()
	}
	return serveErr
}

// Ready is closed once Serve (or ListenAndServe) accepts queries.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// UDPAddr is the bound UDP address, nil before Ready.
func (s *Server) UDPAddr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.udpAddr
}

// TCPAddr is the bound TCP address, nil before Ready.
func (s *Server) TCPAddr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.tcpAddr
}
