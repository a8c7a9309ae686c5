package now_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/selfhost/paas/paas/now"

	"github.com/selfhost/paas/paas/paastest"
	"github.com/selfhost/paas/paas/server"
)

const platformDomain = "paas.test"

// harness is the now face as the server mounts it, over the shared test
// platform (a real store in a temp dir, the fake runtime, a real HTTP
// server), with the now document's answers decoded.
type harness struct {
	t  *testing.T
	tp *paastest.Platform
}

type harnessConfig struct {
	resolver string // platform.Config.Resolver
	opts     []now.Option
}

func newHarness(t *testing.T, hc harnessConfig) *harness {
	t.Helper()
	if hc.resolver == "" {
		// Every name is delegated here: claims are proven at once, as for
		// a user who set up the NS records first. Tests of the proof itself
		// give a resolver of their own.
		hc.resolver = delegatingResolver(t)
	}
	tp := paastest.NewPlatform(t, paastest.Config{Domain: platformDomain, Resolver: hc.resolver,
		Faces: server.FaceOptions{Now: hc.opts}})
	return &harness{t: t, tp: tp}
}

// delegatingResolver is a DNS server on loopback that answers every NS
// question with this platform's name server, and nothing else.
func delegatingResolver(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == mdns.TypeNS {
			m.Answer = append(m.Answer, &mdns.NS{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeNS,
				Class: mdns.ClassINET, Ttl: 60}, Ns: "ns1." + platformDomain + "."})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// account stores a confirmed user name with an API token.
func (h *harness) account(name string) paastest.Account {
	h.t.Helper()
	return h.tp.NewUser(h.t, name)
}

// user is account's API token.
func (h *harness) user(name string) string {
	h.t.Helper()
	return h.account(name).Token
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with a Bearer token ("" for none) and a JSON body
// (a string is sent as is, anything else marshalled; nil for none).
func (h *harness) do(token, method, path string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.tp.URL()+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.tp.Server.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return decode(h.t, resp)
}

// must is do that fails the test unless the status is want.
func (h *harness) must(want int, token, method, path string, body any) response {
	h.t.Helper()
	r := h.do(token, method, path, body)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// decode reads an answer; a body, when there is one, must be a JSON object.
func decode(t *testing.T, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeRaw(t, resp.StatusCode, resp.Header, raw)
}

func decodeRaw(t *testing.T, status int, header http.Header, raw []byte) response {
	t.Helper()
	r := response{status: status, header: header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("answer is not a JSON object: %v: %s", err, raw)
		}
	}
	return r
}

// wantError checks the now error shape: status, code and the help url.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	checkErrorShape(t, r)
	if e, _ := r.body["error"].(map[string]any); e["code"] != code {
		t.Errorf("code %v, want %s: %s", e["code"], code, r.raw)
	}
}

// checkErrorShape checks an error body: a code, a message and the help url
// made of the code.
func checkErrorShape(t *testing.T, r response) {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.raw)
	}
	code, _ := e["code"].(string)
	if code == "" {
		t.Errorf("empty code: %s", r.raw)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("empty message: %s", r.raw)
	}
	if e["url"] != now.ErrorURLBase+code {
		t.Errorf("url %v, want %s", e["url"], now.ErrorURLBase+code)
	}
}

// checkRateLimitHeaders fails unless the answer carries the document's
// X-Rate-Limit-* headers.
func checkRateLimitHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for _, k := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} {
		if h.Get(k) == "" {
			t.Errorf("no %s header", k)
		}
	}
}

// keys returns the sorted keys of a JSON object.
func keys(v any) string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}
