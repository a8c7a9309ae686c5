package jitsu

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas/api"
)

// maxIngestBody bounds one ingest request.
const maxIngestBody = 1 << 20

// ingest takes events for the stream whose write key the request carries:
// X-Write-Key, or HTTP Basic (the key's id and secret as user and
// password), or ?writeKey=. /api/s/s2s/<type> (server to server) is the
// same. It answers 200 once the events are committed.
func (f *Face) ingest(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	key := r.Header.Get("X-Write-Key")
	if key == "" {
		if u, p, ok := r.BasicAuth(); ok {
			key = u + ":" + p
		}
	}
	if key == "" {
		key = r.URL.Query().Get("writeKey")
	}
	typ := ps.ByName("type")
	if e := ps.ByName("event"); e != "" {
		typ = e // /s/s2s/<type>
	}
	body, err := api.ReadBody(w, r, maxIngestBody)
	if err != nil {
		return err
	}
	n, err := f.p.Ingest(r.Context(), key, typ, body)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "received": n})
	return nil
}
