package platform

import (
	"context"

	"github.com/selfhost/paas/paas"
)

// Authorization lives here and nowhere else: every service method that
// touches an owned object first asks one of these, with the caller in hand.
//
// A principal may act on an owner's objects (apps, snapshots, logs,
// databases, domains) if it is that user, a member of that team, or an
// admin. Account matters (profile, password, tokens, keys) are the user's
// own and need the password: API tokens may not touch them. Team matters
// (members, deletion) need the team's owner role.

// actFor checks that pr may act on owner's objects and that owner exists.
// Strangers get 403 for a user or team they may not touch, as the
// Nodejitsu document's "not authorized"; a face whose document answers 404
// for other tenants' objects maps it (see paas.ErrForbidden).
func (p *Platform) actFor(ctx context.Context, pr *paas.Principal, owner string) error {
	if pr == nil {
		return paas.Unauthorized("authentication required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	owner = paas.NormalizeUserName(owner)
	if pr.User.Name == owner {
		return nil
	}
	kind, err := p.store.OwnerKind(owner)
	if err != nil {
		if paas.IsNotFound(err) && !pr.IsAdmin() {
			// Do not tell strangers which names exist.
			return paas.Forbidden("you may not access resources of %q", owner)
		}
		return err
	}
	if pr.IsAdmin() {
		return nil
	}
	if kind == paas.OwnerTeam {
		t, err := p.store.Team(owner)
		if err != nil {
			return err
		}
		if t.Role(pr.User.Name) != "" {
			return nil
		}
		return paas.Forbidden("you are not a member of team %q", owner)
	}
	return paas.Forbidden("you may not access resources of user %q", owner)
}

// manageAccount checks that pr may read or change user's account: the user
// itself or an admin, with the password, not an API token.
func (p *Platform) manageAccount(ctx context.Context, pr *paas.Principal, user string) error {
	if err := p.actFor(ctx, pr, user); err != nil {
		return err
	}
	if pr.ViaToken && !pr.Session() {
		return paas.Forbidden("API tokens cannot read or change the user profile, password or tokens; use the password")
	}
	if pr.User.Name != user {
		// An admin, for an owner that exists: it must be a user, not a team.
		if _, err := p.store.User(user); err != nil {
			return err
		}
	}
	return nil
}

// manageTeam checks that pr may change team t itself: an owner of it or an admin.
func manageTeam(pr *paas.Principal, t paas.Team) error {
	if pr == nil {
		return paas.Unauthorized("authentication required")
	}
	if pr.IsAdmin() || t.Role(pr.User.Name) == paas.RoleOwner {
		return nil
	}
	if t.Role(pr.User.Name) == paas.RoleMember {
		return paas.Forbidden("only owners of team %q may change it", t.Name)
	}
	return paas.NotFound("team %q not found", t.Name)
}

// requireAdmin checks that pr is an admin using the password.
func requireAdmin(pr *paas.Principal, what string) error {
	if pr == nil {
		return paas.Unauthorized("authentication required")
	}
	if !pr.IsAdmin() || (pr.ViaToken && !pr.Session()) {
		return paas.Forbidden("%s needs the admin password (or a login session)", what)
	}
	return nil
}
