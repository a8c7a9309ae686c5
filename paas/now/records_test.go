package now_test

import (
	"net/http"
	"testing"

	"github.com/selfhost/paas/paas"
)

// records returns the domain's records by id.
func (h *harness) records(tok, domain string) (map[string]map[string]any, []byte) {
	h.t.Helper()
	r := h.must(http.StatusOK, tok, "GET", "/domains/"+domain+"/records", nil)
	if keys(r.body) != "records" {
		h.t.Fatalf("GET records: %s", r.raw)
	}
	out := map[string]map[string]any{}
	for _, v := range r.body["records"].([]any) {
		rec := v.(map[string]any)
		out[rec["id"].(string)] = rec
	}
	return out, r.raw
}

func TestRecordLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "zeit.rocks"})

	for _, tc := range []struct {
		name      string
		body      any
		wantName  string
		wantType  string
		wantValue string
		wantSlug  string
		wantPrio  any // nil: no mxPriority key
	}{
		{"document's MX, wrapped", map[string]any{"data": map[string]any{"name": "subdomain", "type": "MX", "value": "mail.zeit.rocks", "mxPriority": 10}},
			"subdomain", "MX", "mail.zeit.rocks", "subdomain.zeit.rocks.-mx", float64(10)},
		{"A, unwrapped", map[string]any{"name": "www", "type": "a", "value": " 192.0.2.1 "},
			"www", "A", "192.0.2.1", "www.zeit.rocks.-address", nil},
		{"ALIAS at the apex", map[string]any{"data": map[string]any{"name": "", "type": "ALIAS", "value": "alias.zeit.co"}},
			"", "ALIAS", "alias.zeit.co", "zeit.rocks.-address", nil},
		{"wildcard CNAME", map[string]any{"data": map[string]any{"name": "*", "type": "CNAME", "value": "alias.zeit.co"}},
			"*", "CNAME", "alias.zeit.co", "*.zeit.rocks.-address", nil},
		{"absolute name made relative", map[string]any{"data": map[string]any{"name": "Mail.Zeit.Rocks.", "type": "AAAA", "value": "2001:db8::1"}},
			"mail", "AAAA", "2001:db8::1", "mail.zeit.rocks.-address", nil},
		{"TXT keeps its spaces", map[string]any{"data": map[string]any{"name": "@", "type": "TXT", "value": " v=spf1 -all"}},
			"", "TXT", " v=spf1 -all", "zeit.rocks.-txt", nil},
		{"null MX priority 0", map[string]any{"data": map[string]any{"name": "nomail", "type": "MX", "value": ".", "mxPriority": 0}},
			"nomail", "MX", ".", "nomail.zeit.rocks.-mx", float64(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := h.must(http.StatusOK, tok, "POST", "/domains/zeit.rocks/records", tc.body)
			id, _ := created.body["uid"].(string)
			if keys(created.body) != "uid" || !recIDRE.MatchString(id) {
				t.Fatalf("POST record: %s", created.raw)
			}
			recs, raw := h.records(tok, "zeit.rocks")
			rec := recs[id]
			if rec == nil {
				t.Fatalf("record %s not listed: %s", id, raw)
			}
			wantKeys := "created,id,name,slug,type,updated,value"
			if tc.wantPrio != nil {
				wantKeys = "created,id,mxPriority,name,slug,type,updated,value"
			}
			if got := keys(rec); got != wantKeys {
				t.Fatalf("keys %s, want %s", got, wantKeys)
			}
			if rec["name"] != tc.wantName || rec["type"] != tc.wantType || rec["value"] != tc.wantValue ||
				rec["slug"] != tc.wantSlug || rec["mxPriority"] != tc.wantPrio {
				t.Errorf("record %v", rec)
			}
			if created, _ := rec["created"].(string); !msEpochRE.MatchString(created) {
				t.Errorf("created %v is not epoch milliseconds as a string", rec["created"])
			}
			if v, ok := rec["updated"]; !ok || v != nil {
				t.Errorf("updated %v, want null", v)
			}
		})
	}

	recs, _ := h.records(tok, "zeit.rocks")
	for id := range recs {
		r := h.must(http.StatusOK, tok, "DELETE", "/domains/zeit.rocks/records/"+id, nil)
		if len(r.raw) != 0 {
			t.Fatalf("DELETE record body %q, want empty", r.raw)
		}
		wantError(t, h.do(tok, "DELETE", "/domains/zeit.rocks/records/"+id, nil), http.StatusNotFound, "not_found")
	}
	if recs, raw := h.records(tok, "zeit.rocks"); len(recs) != 0 {
		t.Fatalf("records left: %s", raw)
	}
}

// TestBadRecords: each invalid record is 400 bad_request and changes nothing.
func TestBadRecords(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "example.org"})
	h.must(http.StatusOK, tok, "POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "192.0.2.1"}})
	before, _ := h.records(tok, "example.org")

	for _, tc := range []struct {
		name string
		body any
	}{
		{"unknown type", map[string]any{"data": map[string]any{"name": "x", "type": "HINFO", "value": "pc linux"}}},
		{"missing type", map[string]any{"data": map[string]any{"name": "x", "value": "192.0.2.1"}}},
		{"A that is not IPv4", map[string]any{"data": map[string]any{"name": "x", "type": "A", "value": "2001:db8::1"}}},
		{"A that is not an address", map[string]any{"data": map[string]any{"name": "x", "type": "A", "value": "example.com"}}},
		{"AAAA that is IPv4", map[string]any{"data": map[string]any{"name": "x", "type": "AAAA", "value": "192.0.2.1"}}},
		{"CNAME at the apex", map[string]any{"data": map[string]any{"name": "", "type": "CNAME", "value": "alias.zeit.co"}}},
		{"CNAME at the apex as @", map[string]any{"data": map[string]any{"name": "@", "type": "CNAME", "value": "alias.zeit.co"}}},
		{"name outside the domain", map[string]any{"data": map[string]any{"name": "www.other.com.", "type": "A", "value": "192.0.2.1"}}},
		{"invalid name", map[string]any{"data": map[string]any{"name": "bad name", "type": "A", "value": "192.0.2.1"}}},
		{"empty value", map[string]any{"data": map[string]any{"name": "x", "type": "TXT", "value": ""}}},
		{"mxPriority on A", map[string]any{"data": map[string]any{"name": "x", "type": "A", "value": "192.0.2.1", "mxPriority": 10}}},
		{"MX without mxPriority", map[string]any{"data": map[string]any{"name": "x", "type": "MX", "value": "mail.example.org"}}},
		{"mxPriority out of range", map[string]any{"data": map[string]any{"name": "x", "type": "MX", "value": "mail.example.org", "mxPriority": 70000}}},
		{"MX with the priority in the value", map[string]any{"data": map[string]any{"name": "x", "type": "MX", "value": "10 mail.example.org", "mxPriority": 10}}},
		{"CNAME next to the existing A", map[string]any{"data": map[string]any{"name": "www", "type": "CNAME", "value": "alias.zeit.co"}}},
		{"value not a string", `{"data":{"name":"x","type":"A","value":1}}`},
		{"data not an object", `{"data":"A 192.0.2.1"}`},
		{"not JSON", `{"data":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.do(tok, "POST", "/domains/example.org/records", tc.body), http.StatusBadRequest, "bad_request")
			after, raw := h.records(tok, "example.org")
			if len(after) != len(before) {
				t.Fatalf("records changed: %s", raw)
			}
		})
	}
}

func TestDeleteDomainDeletesRecords(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "example.org"})
	for _, name := range []string{"a", "b", "c"} {
		h.must(http.StatusOK, tok, "POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": name, "type": "A", "value": "192.0.2.1"}})
	}
	h.must(http.StatusOK, tok, "DELETE", "/domains/example.org", nil)
	wantError(t, h.do(tok, "GET", "/domains/example.org/records", nil), http.StatusNotFound, "not_found")

	// Registered again, the domain starts empty and is no longer served
	// with the old records.
	h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "example.org"})
	if recs, raw := h.records(tok, "example.org"); len(recs) != 0 {
		t.Fatalf("records survived the domain: %s", raw)
	}
	zones, err := h.tp.Zones()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		if z.Origin == "example.org" && len(z.Records) != 0 {
			t.Fatalf("zone still has records: %+v", z.Records)
		}
	}
}

// TestZonesFollowChanges checks the DNS view built from the store: the
// platform zone, internal domains with their records, a serial that
// changes with the content and only then, and a TopicZones notification
// for each change (and none for a rejected record).
func TestZonesFollowChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	tok := h.user("alice")
	changed, unsubscribe := h.tp.Events.Subscribe(paas.TopicZones)
	defer unsubscribe()
	<-changed // the wake-up every subscription starts with
	notified := func() bool {
		select {
		case <-changed:
			return true
		default:
			return false
		}
	}

	serialOf := func(origin string) (uint32, int) {
		t.Helper()
		zones, err := h.tp.Zones()
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zones {
			if z.Origin == origin {
				return z.Serial, len(z.Records)
			}
		}
		return 0, -1
	}
	if s, n := serialOf(platformDomain); s == 0 || n != 2 { // apex and ns1 at 127.0.0.1
		t.Fatalf("platform zone: serial %d, %d records", s, n)
	}
	h.must(http.StatusOK, tok, "POST", "/domains", map[string]any{"name": "example.org"})
	// The service notifies before it answers.
	if !notified() {
		t.Fatal("no zones notification for a new domain")
	}
	s1, n := serialOf("example.org")
	if s1 == 0 || n != 0 {
		t.Fatalf("new zone: serial %d, %d records", s1, n)
	}
	if again, _ := serialOf("example.org"); again != s1 {
		t.Fatalf("serial changed without a change: %d → %d", s1, again)
	}
	h.must(http.StatusOK, tok, "POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "192.0.2.1"}})
	s2, n := serialOf("example.org")
	if s2 <= s1 || n != 1 || !notified() {
		t.Fatalf("after a record: serial %d → %d, %d records", s1, s2, n)
	}
	// A rejected record is no change.
	h.do(tok, "POST", "/domains/example.org/records", map[string]any{"data": map[string]any{"name": "www", "type": "A", "value": "nope"}})
	if s, _ := serialOf("example.org"); s != s2 || notified() {
		t.Fatalf("a rejected record changed the zone: serial %d → %d, or notified", s2, s)
	}
}
