package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// CreateTeam creates a team with pr as its first owner. Team and user
// names share one namespace.
func (p *Platform) CreateTeam(ctx context.Context, pr *paas.Principal, name string) (paas.Team, error) {
	if pr == nil {
		return paas.Team{}, paas.Unauthorized("authentication required")
	}
	name = paas.NormalizeUserName(name)
	if err := paas.ValidateTeamName(name); err != nil {
		return paas.Team{}, err
	}
	if err := ctx.Err(); err != nil {
		return paas.Team{}, err
	}
	return p.store.CreateTeam(paas.Team{Name: name, Members: []paas.Member{{User: pr.User.Name, Role: paas.RoleOwner}}})
}

// Team returns a team pr belongs to (any team, for an admin). Strangers
// get 404: team names are not disclosed to non-members.
func (p *Platform) Team(ctx context.Context, pr *paas.Principal, name string) (paas.Team, error) {
	if pr == nil {
		return paas.Team{}, paas.Unauthorized("authentication required")
	}
	name = paas.NormalizeUserName(name)
	t, err := p.store.Team(name)
	if err != nil {
		return paas.Team{}, err
	}
	if !pr.IsAdmin() && t.Role(pr.User.Name) == "" {
		return paas.Team{}, paas.NotFound("team %q not found", name)
	}
	return t, nil
}

// Teams lists the teams pr belongs to; an admin sees every team.
func (p *Platform) Teams(ctx context.Context, pr *paas.Principal) ([]paas.Team, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if pr.IsAdmin() {
		return p.store.Teams()
	}
	return p.store.TeamsOf(pr.User.Name)
}

// SetTeamMember adds user to the team with role, or changes a member's
// role. Only team owners (and admins) may; the last owner cannot step
// down to member, so a team always has someone who can manage it.
func (p *Platform) SetTeamMember(ctx context.Context, pr *paas.Principal, team, user string, role paas.Role) (paas.Team, error) {
	user = paas.NormalizeUserName(user)
	if err := paas.ValidateRole(role); err != nil {
		return paas.Team{}, err
	}
	return p.updateTeam(ctx, pr, team, func(t *paas.Team) error {
		if t.Role(user) == paas.RoleOwner && role != paas.RoleOwner && t.Owners() == 1 {
			return paas.Conflict("%q is the last owner of team %q; make another member owner first", user, t.Name)
		}
		t.SetMember(user, role)
		return nil
	})
}

// RemoveTeamMember removes user from the team. Owners may remove anyone
// but the last owner; a member may remove itself (leave).
func (p *Platform) RemoveTeamMember(ctx context.Context, pr *paas.Principal, team, user string) (paas.Team, error) {
	user = paas.NormalizeUserName(user)
	if pr != nil && pr.User.Name == user {
		// Leaving needs membership only, not the owner role.
		t, err := p.Team(ctx, pr, team)
		if err != nil {
			return paas.Team{}, err
		}
		return p.store.UpdateTeam(t.Name, func(t *paas.Team) error { return removeMember(t, user) })
	}
	return p.updateTeam(ctx, pr, team, func(t *paas.Team) error { return removeMember(t, user) })
}

func removeMember(t *paas.Team, user string) error {
	if t.Role(user) == paas.RoleOwner && t.Owners() == 1 {
		return paas.Conflict("%q is the last owner of team %q; make another member owner first, or delete the team", user, t.Name)
	}
	if !t.RemoveMember(user) {
		return paas.NotFound("%q is not a member of team %q", user, t.Name)
	}
	return nil
}

// updateTeam applies fn to a team pr may manage, in one store transaction.
func (p *Platform) updateTeam(ctx context.Context, pr *paas.Principal, team string, fn func(*paas.Team) error) (paas.Team, error) {
	t, err := p.Team(ctx, pr, team)
	if err != nil {
		return paas.Team{}, err
	}
	if err := manageTeam(pr, t); err != nil {
		return paas.Team{}, err
	}
	return p.store.UpdateTeam(t.Name, func(cur *paas.Team) error {
		// Re-check on the stored version: roles may have changed since.
		if err := manageTeam(pr, *cur); err != nil {
			return err
		}
		return fn(cur)
	})
}

// DeleteTeam removes a team that owns nothing; a team with apps, domains
// or databases is refused (409) with what is left.
func (p *Platform) DeleteTeam(ctx context.Context, pr *paas.Principal, name string) (paas.Team, error) {
	t, err := p.Team(ctx, pr, name)
	if err != nil {
		return paas.Team{}, err
	}
	if err := manageTeam(pr, t); err != nil {
		return paas.Team{}, err
	}
	return p.store.DeleteTeam(t.Name)
}
