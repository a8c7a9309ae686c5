package store_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/store"
)

// TestAppSummariesLeaveEnv: a summary carries the app, its snapshot count,
// and never its sealed env.
func TestAppSummariesLeaveEnv(t *testing.T) {
	s := newStoreWithUsers(t, "alice")
	if _, err := s.CreateApp(paas.App{Owner: "alice", Name: "web", Subdomain: "web", Units: 2, SealedEnv: []byte("sealed bytes")}); err != nil {
		t.Fatal(err)
	}
	sums, err := s.AppSummaries([]string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].App.Name != "web" || sums[0].App.Subdomain != "web" || sums[0].App.Units != 2 {
		t.Fatalf("summaries %+v", sums)
	}
	if sums[0].App.SealedEnv != nil {
		t.Errorf("a summary carries the sealed env %q", sums[0].App.SealedEnv)
	}
	if all, err := s.AppSummaries(nil); err != nil || len(all) != 1 || all[0].App.SealedEnv != nil {
		t.Errorf("every owner's summaries: %+v, %v", all, err)
	}
}

// BenchmarkDecodeApp weighs decoding a stored app whole against decoding
// it without its sealed env (what listings do), side by side.
func BenchmarkDecodeApp(b *testing.B) {
	env := bytes.Repeat([]byte("e"), 600) // a sealed env of a dozen variables
	raw, err := json.Marshal(paas.App{Owner: "user1", Name: "app-1-1", Subdomain: "app-1-1", Units: 1, SealedEnv: env})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) (any, error)
	}{{"whole", store.DecodeApp}, {"without-env", store.DecodeAppWithoutEnv}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
