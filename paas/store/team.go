package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// OwnerKind says whether name is a user's or a team's; a name that is
// neither is NotFound.
func (s *Store) OwnerKind(name string) (paas.OwnerKind, error) {
	return view(s, func(tx *bolt.Tx) (paas.OwnerKind, error) { return ownerKind(tx, name) })
}

func ownerKind(tx *bolt.Tx, name string) (paas.OwnerKind, error) {
	switch {
	case tx.Bucket(bucketUsers).Get([]byte(name)) != nil:
		return paas.OwnerUser, nil
	case tx.Bucket(bucketTeams).Get([]byte(name)) != nil:
		return paas.OwnerTeam, nil
	}
	return "", paas.NotFound("owner %q not found", name)
}

// ownerNameFree refuses a name that a user or a team has, so that an
// "owner/name" key always means one owner.
func ownerNameFree(tx *bolt.Tx, name string) error {
	_, err := ownerKind(tx, name)
	switch {
	case err == nil:
		return paas.Conflict("name %q is taken", name)
	case errors.Is(err, paas.ErrNotFound):
		return nil
	}
	return err
}

// newOwned checks what creating any object keyed owner\x00name needs: an
// owner that exists, as a user or a team, and a name free for that owner.
func newOwned(tx *bolt.Tx, bucket []byte, owner, name, noun string) error {
	if _, err := ownerKind(tx, owner); err != nil {
		return err
	}
	if tx.Bucket(bucket).Get(key(owner, name)) != nil {
		return paas.Conflict("%s %q already exists", noun, name)
	}
	return nil
}

// CreateTeam stores a new team with its members. The name must be free as
// a user's and a team's name (Conflict); every member must be an existing
// user (NotFound), with a valid role, listed once (BadRequest). Members are
// stored sorted by user name.
func (s *Store) CreateTeam(t paas.Team) (paas.Team, error) {
	return update(s, func(tx *bolt.Tx) (paas.Team, error) {
		if err := ownerNameFree(tx, t.Name); err != nil {
			return t, err
		}
		if err := checkMembers(tx, &t); err != nil {
			return t, err
		}
		now := s.now()
		t.Created, t.Updated = now, now
		return t, putTeam(tx, t, nil)
	})
}

// Team returns one team.
func (s *Store) Team(name string) (paas.Team, error) {
	return view(s, func(tx *bolt.Tx) (paas.Team, error) { return getTeam(tx, name) })
}

func getTeam(tx *bolt.Tx, name string) (paas.Team, error) {
	return get[paas.Team](tx.Bucket(bucketTeams), []byte(name), notFound("team %q not found", name))
}

// Teams lists every team in name order.
func (s *Store) Teams() ([]paas.Team, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Team, error) { return list[paas.Team](tx.Bucket(bucketTeams), nil) })
}

// TeamsOf lists, in name order, the teams user is a member of (none for a
// user that does not exist).
func (s *Store) TeamsOf(user string) ([]paas.Team, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Team, error) { return teamsOf(tx, user) })
}

func teamsOf(tx *bolt.Tx, user string) ([]paas.Team, error) {
	p := prefix(user)
	return follow[paas.Team](tx.Bucket(bucketTeamMembers), p, tx.Bucket(bucketTeams), afterPrefix(p))
}

// UpdateTeam applies fn to the stored team in one transaction; an error from
// fn aborts the change. The name cannot change; the members are checked as
// by CreateTeam and the member index follows them.
func (s *Store) UpdateTeam(name string, fn func(*paas.Team) error) (paas.Team, error) {
	return update(s, func(tx *bolt.Tx) (paas.Team, error) {
		t, err := getTeam(tx, name)
		if err != nil {
			return t, err
		}
		// fn may edit the members in place (SetMember, RemoveMember), so
		// the index is rewritten from a copy of what it holds now.
		old := slices.Clone(t.Members)
		if err := fn(&t); err != nil {
			return t, err
		}
		t.Name = name
		if err := checkMembers(tx, &t); err != nil {
			return t, err
		}
		t.Updated = s.now()
		return t, putTeam(tx, t, old)
	})
}

// DeleteTeam removes a team that owns nothing and returns it. A team that
// still owns apps, domains or databases is a Conflict: deleting them is the
// caller's explicit choice, not a side effect.
func (s *Store) DeleteTeam(name string) (paas.Team, error) {
	return update(s, func(tx *bolt.Tx) (paas.Team, error) {
		t, err := getTeam(tx, name)
		if err != nil {
			return t, err
		}
		p := prefix(name)
		apps, domains, dbs := count(tx.Bucket(bucketApps), p), count(tx.Bucket(bucketOwnDomains), p), count(tx.Bucket(bucketDatabases), p)
		if apps+domains+dbs > 0 {
			return t, paas.Conflict("team %q still owns %d apps, %d domains and %d databases; delete them first", name, apps, domains, dbs)
		}
		if err := indexMembers(tx, name, t.Members, nil); err != nil {
			return t, err
		}
		// Claims of domains nobody proved, and secrets, go with their owner.
		for _, b := range [][]byte{bucketClaims, bucketSecrets} {
			if err := deletePrefix(tx.Bucket(b), p); err != nil {
				return t, err
			}
		}
		return t, tx.Bucket(bucketTeams).Delete([]byte(name))
	})
}

// leaveTeams removes user from every team it is a member of.
func (s *Store) leaveTeams(tx *bolt.Tx, user string) error {
	teams, err := teamsOf(tx, user)
	if err != nil {
		return err
	}
	for _, t := range teams {
		old := slices.Clone(t.Members)
		t.RemoveMember(user)
		t.Updated = s.now()
		if err := putTeam(tx, t, old); err != nil {
			return fmt.Errorf("leave team %s: %w", t.Name, err)
		}
	}
	return nil
}

// checkMembers sorts t's members by user name, as Team keeps them, and
// refuses a user listed twice, an invalid role or a user that does not
// exist, so the member index holds exactly one entry per member.
func checkMembers(tx *bolt.Tx, t *paas.Team) error {
	// A sorted copy: the caller's slice is not ours to reorder.
	t.Members = slices.SortedFunc(slices.Values(t.Members), func(a, b paas.Member) int { return strings.Compare(a.User, b.User) })
	for i, m := range t.Members {
		if i > 0 && t.Members[i-1].User == m.User {
			return paas.BadRequest("user %q is listed twice in team %q", m.User, t.Name)
		}
		if err := paas.ValidateRole(m.Role); err != nil {
			return err
		}
		if _, err := getUser(tx, m.User); err != nil {
			return err
		}
	}
	return nil
}

// putTeam stores t and moves the member index from the old members to t's.
func putTeam(tx *bolt.Tx, t paas.Team, old []paas.Member) error {
	if err := indexMembers(tx, t.Name, old, t.Members); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketTeams), []byte(t.Name), t)
}

func indexMembers(tx *bolt.Tx, team string, old, members []paas.Member) error {
	idx := tx.Bucket(bucketTeamMembers)
	for _, m := range old {
		if err := idx.Delete(key(m.User, team)); err != nil {
			return fmt.Errorf("unindex member %s of %s: %w", m.User, team, err)
		}
	}
	for _, m := range members {
		if err := idx.Put(key(m.User, team), []byte(m.Role)); err != nil {
			return fmt.Errorf("index member %s of %s: %w", m.User, team, err)
		}
	}
	return nil
}
