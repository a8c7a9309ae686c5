package now

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// certView is a certificate in GET /now/certs, with what the document
// has (cn, uid, created, expiration, autoRenew) and what a user of this
// platform needs beside it: the names, whether it was supplied, and the
// last failure to obtain it.
type certView struct {
	CN         string   `json:"cn"`
	UID        string   `json:"uid"`
	Created    *string  `json:"created"`    // null until obtained
	Expiration *string  `json:"expiration"` // null until obtained
	AutoRenew  bool     `json:"autoRenew"`
	Domains    []string `json:"domains"`
	Custom     bool     `json:"custom"`
	Error      string   `json:"error,omitempty"`
	Failures   int      `json:"failures,omitempty"`
	RetryAt    string   `json:"retryAt,omitempty"`
}

func viewCert(c paas.Certificate) certView {
	v := certView{CN: c.CN, UID: c.UID, AutoRenew: c.AutoRenew, Domains: c.Names, Custom: c.Custom,
		Error: c.Error, Failures: c.Failures}
	if v.Domains == nil {
		v.Domains = []string{c.CN}
	}
	if !c.Expires.IsZero() {
		created, expires := isoTime(c.Created), isoTime(c.Expires)
		v.Created, v.Expiration = &created, &expires
	}
	if !c.RetryAt.IsZero() {
		v.RetryAt = isoTime(c.RetryAt)
	}
	return v
}

// listCerts serves GET /now/certs and the client's GET /certs.
func (f *Face) listCerts(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	certs, err := f.p.Certs(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	out := make([]certView, 0, len(certs))
	for _, c := range certs {
		out = append(out, viewCert(c))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"certs": out})
	return nil
}

// getCert serves GET /now/certs/:cn and the client's GET /certs/now/:cn,
// in the list's shape (the client reads .certs either way).
func (f *Face) getCert(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	c, err := f.p.Cert(r.Context(), pr, owner, ps.ByName("cn"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"certs": []certView{viewCert(c)}})
	return nil
}

// createCert obtains (or renews) a certificate from the ACME CA.
func (f *Face) createCert(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Domains []string `json:"domains"`
		Renew   bool     `json:"renew"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	c, err := f.p.RequestCert(r.Context(), pr, owner, body.Domains, body.Renew)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": c.UID, "created_at": isoTime(c.Created)})
	return nil
}

// putCert stores a user-supplied certificate. The document answers
// created_at; now-client reads created: both are given.
func (f *Face) putCert(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Domains []string `json:"domains"`
		CA      string   `json:"ca"`
		Cert    string   `json:"cert"`
		Key     string   `json:"key"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	c, err := f.p.PutCert(r.Context(), pr, owner, paas.CustomCert{Domains: body.Domains, CA: body.CA, Cert: body.Cert, Key: body.Key})
	if err != nil {
		return err
	}
	created := isoTime(c.Created)
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": c.UID, "created_at": created, "created": created})
	return nil
}

// deleteCert answers 200 with an empty body, as the document says.
func (f *Face) deleteCert(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	if err := f.p.DeleteCert(r.Context(), pr, owner, ps.ByName("cn")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
