package now

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// domainView is a domain in GET /domains.
type domainView struct {
	UID        string   `json:"uid"`
	Created    string   `json:"created"`
	IsExternal bool     `json:"isExternal"`
	Name       string   `json:"name"`
	Verified   bool     `json:"verified"`
	Aliases    []string `json:"aliases"` // the ids of the aliases in the domain
}

// domainViews shows owner's domains, each with the ids of its aliases.
func (f *Face) domainViews(r *http.Request, pr *paas.Principal, owner string) ([]domainView, error) {
	domains, err := f.p.Domains(r.Context(), pr, owner)
	if err != nil {
		return nil, err
	}
	aliases, err := f.p.Aliases(r.Context(), pr, owner)
	if err != nil {
		return nil, err
	}
	out := make([]domainView, 0, len(domains))
	for _, d := range domains {
		v := domainView{UID: d.UID, Created: isoTime(d.Created), IsExternal: d.IsExternal,
			Name: d.Name, Verified: d.Verified, Aliases: []string{}}
		for _, a := range aliases {
			if a.Host == d.Name || strings.HasSuffix(a.Host, "."+d.Name) {
				v.Aliases = append(v.Aliases, a.UID)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (f *Face) listDomains(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	out, err := f.domainViews(r, pr, owner)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"domains": out})
	return nil
}

// getDomain answers one of the caller's domains: the now CLI asks for the
// apex of an alias before it sets it, and wants {uid, isExternal, verified}.
func (f *Face) getDomain(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	out, err := f.domainViews(r, pr, owner)
	if err != nil {
		return err
	}
	name := paas.NormalizeDomainName(ps.ByName("domain"))
	for _, d := range out {
		if d.Name == name {
			api.WriteJSON(w, http.StatusOK, d)
			return nil
		}
	}
	return paas.NotFound("domain %q not found", name)
}

// createdDomain is the answer to POST /domains; verifyToken only while an
// external domain is unverified.
type createdDomain struct {
	UID         string `json:"uid"`
	Verified    bool   `json:"verified"`
	VerifyToken string `json:"verifyToken,omitempty"`
	Created     string `json:"created"`
}

// createDomain registers a domain, or verifies it when the caller has it
// already (the document's "retry the same POST").
func (f *Face) createDomain(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Name       string `json:"name"`
		IsExternal bool   `json:"isExternal"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	d, err := f.p.CreateOrVerifyDomain(r.Context(), pr, owner, body.Name, body.IsExternal)
	if err != nil {
		return err
	}
	out := createdDomain{UID: d.UID, Verified: d.Verified, Created: isoTime(d.Created)}
	if !d.Verified {
		out.VerifyToken = d.VerifyToken
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) deleteDomain(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	d, err := f.p.DeleteDomain(r.Context(), pr, owner, ps.ByName("domain"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": d.UID})
	return nil
}
