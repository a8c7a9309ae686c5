package paas

import (
	"slices"
	"time"
)

// Team is an owner like a user: apps, domains and databases are keyed by
// their owner's name, and user and team names share one namespace, so
// "owner/name" means the same thing whichever the owner is. A team is the
// Tsuru team, the now teamId and the Jitsu workspace.
type Team struct {
	Name    string    `json:"name"`
	Members []Member  `json:"members"` // sorted by user name
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Member is a user's place in a team.
type Member struct {
	User string `json:"user"`
	Role Role   `json:"role"`
}

// Role is what a member may do: every member manages the team's apps,
// domains and databases; owners also manage the team itself (members,
// deletion).
type Role string

const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// ValidateRole checks a role name.
func ValidateRole(r Role) error {
	if r != RoleOwner && r != RoleMember {
		return BadRequest("invalid role %q: use owner or member", r)
	}
	return nil
}

// ValidateTeamName checks a team name: the rules of user names, since both
// are owners in one namespace.
func ValidateTeamName(name string) error {
	if err := ValidateUserName(name); err != nil {
		return BadRequest("invalid team name %q: use 1-39 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Role returns user's role in the team, or "" when user is not a member.
func (t Team) Role(user string) Role {
	for _, m := range t.Members {
		if m.User == user {
			return m.Role
		}
	}
	return ""
}

// SetMember adds user with role, or changes the role of a member.
func (t *Team) SetMember(user string, role Role) {
	for i := range t.Members {
		if t.Members[i].User == user {
			t.Members[i].Role = role
			return
		}
	}
	t.Members = append(t.Members, Member{User: user, Role: role})
	slices.SortFunc(t.Members, func(a, b Member) int {
		if a.User < b.User {
			return -1
		}
		if a.User > b.User {
			return 1
		}
		return 0
	})
}

// RemoveMember removes user; it reports whether user was a member.
func (t *Team) RemoveMember(user string) bool {
	i := slices.IndexFunc(t.Members, func(m Member) bool { return m.User == user })
	if i < 0 {
		return false
	}
	t.Members = slices.Delete(t.Members, i, i+1)
	return true
}

// Owners counts the members with the owner role.
func (t Team) Owners() int {
	n := 0
	for _, m := range t.Members {
		if m.Role == RoleOwner {
			n++
		}
	}
	return n
}

// OwnerKind says whether an owner name is a user's or a team's.
type OwnerKind string

const (
	OwnerUser OwnerKind = "user"
	OwnerTeam OwnerKind = "team"
)
