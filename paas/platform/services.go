package platform

import (
	"context"
	"net"
	"net/url"
	"slices"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/svcapi"
)

// serviceClient speaks the Tsuru service API to svc's endpoint.
func serviceClient(svc paas.ExternalService) svcapi.Client {
	return svcapi.Client{Endpoint: svc.Endpoint, Username: svc.Username, Password: svc.Password, PublicOnly: !svc.AnyAddress}
}

// inServiceTeams: pr manages svc (a member of one of its teams, or an admin).
func (p *Platform) inServiceTeams(pr *paas.Principal, svc paas.ExternalService) bool {
	if pr.IsAdmin() {
		return true
	}
	for _, t := range svc.Teams {
		if team, err := p.store.Team(t); err == nil && team.Role(pr.User.Name) != "" {
			return true
		}
	}
	return false
}

// checkEndpoint keeps users' endpoints off the platform's own host and
// private networks (the platform would call them with its own reach);
// admins may register any.
func checkEndpoint(pr *paas.Principal, endpoint string) error {
	if pr.IsAdmin() {
		return nil
	}
	u, _ := url.Parse(endpoint)
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return paas.BadRequest("endpoint host %q does not resolve: %v", u.Hostname(), err)
	}
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			return paas.Forbidden("endpoint %s is on a loopback or private network; only admins may register such services", endpoint)
		}
	}
	return nil
}

// CreateService registers an external service from its manifest, managed
// by the caller's teams (a caller in no team may not: 403).
func (p *Platform) CreateService(ctx context.Context, pr *paas.Principal, manifest []byte) (paas.ExternalService, error) {
	if pr == nil {
		return paas.ExternalService{}, paas.Unauthorized("authentication required")
	}
	svc, err := paas.ParseServiceManifest(manifest)
	if err != nil {
		return svc, err
	}
	if _, builtin := paas.DatabaseTypes[svc.Name]; builtin {
		return svc, paas.Conflict("service %q is built in", svc.Name)
	}
	teams, err := p.Teams(ctx, pr)
	if err != nil {
		return svc, err
	}
	for _, t := range teams {
		if t.Role(pr.User.Name) != "" {
			svc.Teams = append(svc.Teams, t.Name)
		}
	}
	if len(svc.Teams) == 0 {
		return svc, paas.Forbidden("you must be a member of a team to register a service")
	}
	if err := checkEndpoint(pr, svc.Endpoint); err != nil {
		return svc, err
	}
	svc.AnyAddress = pr.IsAdmin()
	return p.store.CreateService(svc)
}

// UpdateService replaces a service's endpoint and credentials from its
// manifest (the id names the service).
func (p *Platform) UpdateService(ctx context.Context, pr *paas.Principal, manifest []byte) (paas.ExternalService, error) {
	in, err := paas.ParseServiceManifest(manifest)
	if err != nil {
		return in, err
	}
	if _, err := p.ManagedService(ctx, pr, in.Name); err != nil {
		return in, err
	}
	if err := checkEndpoint(pr, in.Endpoint); err != nil {
		return in, err
	}
	return p.store.UpdateService(in.Name, func(s *paas.ExternalService) error {
		s.Endpoint, s.Username, s.Password = in.Endpoint, in.Username, in.Password
		s.AnyAddress = s.AnyAddress && pr.IsAdmin() // a user's update is held to public addresses
		return nil
	})
}

// VisibleServices are the external services pr may use.
func (p *Platform) VisibleServices(ctx context.Context, pr *paas.Principal) ([]paas.ExternalService, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	all, err := p.store.Services()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s paas.ExternalService) bool { return !p.inServiceTeams(pr, s) }), nil
}

// ManagedService is a service pr manages (others' look missing).
func (p *Platform) ManagedService(ctx context.Context, pr *paas.Principal, name string) (paas.ExternalService, error) {
	if pr == nil {
		return paas.ExternalService{}, paas.Unauthorized("authentication required")
	}
	svc, err := p.store.Service(name)
	if err == nil && !p.inServiceTeams(pr, svc) {
		err = paas.NotFound("service %q not found", name)
	}
	return svc, err
}

// DeleteService removes a service with no instances (403 otherwise).
func (p *Platform) DeleteService(ctx context.Context, pr *paas.Principal, name string) error {
	if _, err := p.ManagedService(ctx, pr, name); err != nil {
		return err
	}
	_, err := p.store.DeleteService(name)
	return err
}

// SetServiceDoc sets a service's documentation.
func (p *Platform) SetServiceDoc(ctx context.Context, pr *paas.Principal, name, doc string) error {
	if err := paas.ValidateServiceDoc(doc); err != nil {
		return err
	}
	if _, err := p.ManagedService(ctx, pr, name); err != nil {
		return err
	}
	_, err := p.store.UpdateService(name, func(s *paas.ExternalService) error { s.Doc = doc; return nil })
	return err
}

// GrantService lets team use and manage a service; RevokeService undoes
// it (the last team cannot be revoked).
func (p *Platform) GrantService(ctx context.Context, pr *paas.Principal, name, team string) error {
	return p.changeServiceTeams(ctx, pr, name, team, func(s *paas.ExternalService, t string) error {
		if slices.Contains(s.Teams, t) {
			return paas.Conflict("team %q already has service %q", t, name)
		}
		s.Teams = append(s.Teams, t)
		return nil
	})
}

// RevokeService takes a service away from a team.
func (p *Platform) RevokeService(ctx context.Context, pr *paas.Principal, name, team string) error {
	return p.changeServiceTeams(ctx, pr, name, team, func(s *paas.ExternalService, t string) error {
		i := slices.Index(s.Teams, t)
		if i < 0 {
			return paas.NotFound("team %q does not have service %q", t, name)
		}
		if len(s.Teams) == 1 {
			return paas.Conflict("team %q is the last team of service %q", t, name)
		}
		s.Teams = slices.Delete(s.Teams, i, i+1)
		return nil
	})
}

func (p *Platform) changeServiceTeams(ctx context.Context, pr *paas.Principal, name, team string, change func(*paas.ExternalService, string) error) error {
	if _, err := p.ManagedService(ctx, pr, name); err != nil {
		return err
	}
	t, err := p.store.Team(paas.NormalizeUserName(team))
	if err != nil {
		return err
	}
	_, err = p.store.UpdateService(name, func(s *paas.ExternalService) error { return change(s, t.Name) })
	return err
}
