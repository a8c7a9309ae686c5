package now

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// recordView is a record in GET /domains/:domain/records. created is epoch
// milliseconds as a string and updated is null, as in the document.
type recordView struct {
	ID         string  `json:"id"`
	Slug       string  `json:"slug"`
	Type       string  `json:"type"`
	Name       string  `json:"name"`
	Value      string  `json:"value"`
	MXPriority *uint16 `json:"mxPriority,omitempty"`
	Created    string  `json:"created"`
	Updated    *string `json:"updated"`
}

func (f *Face) listRecords(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	recs, err := f.p.Records(r.Context(), pr, owner, ps.ByName("domain"))
	if err != nil {
		return err
	}
	out := make([]recordView, 0, len(recs))
	for _, rec := range recs {
		v := recordView{ID: rec.ID, Slug: rec.Slug(), Type: rec.Type, Name: rec.Name, Value: rec.Value,
			Created: strconv.FormatInt(rec.Created.UnixMilli(), 10)}
		if rec.Type == "MX" {
			prio := rec.MXPriority
			v.MXPriority = &prio
		}
		out = append(out, v)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"records": out})
	return nil
}

// recordBody is a record as POSTed. mxPriority is a pointer to tell "not
// sent" from 0, which a null MX may well use.
type recordBody struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Value      string `json:"value"`
	MXPriority *int64 `json:"mxPriority"`
}

// createRecord takes the document's {"data":{…}} and, as some scripts send
// it, the record unwrapped.
func (f *Face) createRecord(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	var wrapped struct {
		Data json.RawMessage `json:"data"`
	}
	if err := api.Unmarshal(raw, &wrapped); err != nil {
		return err
	}
	if len(wrapped.Data) > 0 && string(wrapped.Data) != "null" {
		raw = wrapped.Data
	}
	var body recordBody
	if err := api.Unmarshal(raw, &body); err != nil {
		return err
	}
	rec := paas.Record{Name: body.Name, Type: body.Type, Value: body.Value}
	if body.MXPriority != nil {
		if *body.MXPriority < 0 || *body.MXPriority > 65535 {
			return paas.BadRequest("mxPriority must be between 0 and 65535")
		}
		rec.MXPriority = uint16(*body.MXPriority)
	}
	rec, err = f.p.CreateRecord(r.Context(), pr, owner, ps.ByName("domain"), rec, body.MXPriority != nil)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": rec.ID})
	return nil
}

// deleteRecord answers 200 with an empty body, as the document says.
func (f *Face) deleteRecord(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	if err := f.p.DeleteRecord(r.Context(), pr, owner, ps.ByName("domain"), ps.ByName("recId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
