package tsuru

import (
	"fmt"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// healerText says what a healer does and when it last ran.
func healerText(h paas.Healer) string {
	if h.LastRun.IsZero() {
		return h.About + "; not run yet"
	}
	return fmt.Sprintf("%s; last run %s (%d runs): %s", h.About, h.LastRun.Format(time.RFC3339), h.Runs, h.LastResult)
}

// listHealers answers the document's shape, one {name: text} per healer.
func (f *Face) listHealers(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	hs, err := f.p.Healers(r.Context(), pr)
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, map[string]string{h.Name: healerText(h)})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// runHealer runs one now.
func (f *Face) runHealer(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	h, err := f.p.Heal(r.Context(), pr, ps.ByName("healer"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"name": h.Name, "lastRun": h.LastRun.Format(time.RFC3339Nano), "runs": h.Runs, "result": h.LastResult})
	return nil
}
