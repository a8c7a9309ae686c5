package store

import (
	"fmt"
	"strings"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateUser stores a new user. It fails with a conflict when the name is
// a user's or a team's (one owner namespace) or the email is taken.
func (s *Store) CreateUser(u paas.User) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		users, emails := tx.Bucket(bucketUsers), tx.Bucket(bucketEmails)
		if users.Get([]byte(u.Name)) != nil {
			return paas.Conflict("user %q already exists", u.Name)
		}
		if err := ownerNameFree(tx, u.Name); err != nil {
			return err
		}
		email := strings.ToLower(u.Email)
		if emails.Get([]byte(email)) != nil {
			return paas.Conflict("email %q is already registered", u.Email)
		}
		now := s.now()
		u.Created, u.Updated = now, now
		if err := emails.Put([]byte(email), []byte(u.Name)); err != nil {
			return err
		}
		return putJSON(users, []byte(u.Name), u)
	})
}

// User returns the named user or a NotFound error.
func (s *Store) User(name string) (paas.User, error) {
	return view(s, func(tx *bolt.Tx) (paas.User, error) { return getUser(tx, name) })
}

func getUser(tx *bolt.Tx, name string) (paas.User, error) {
	return get[paas.User](tx.Bucket(bucketUsers), []byte(name), notFound("user %q not found", name))
}

// EmailTaken reports whether any user registered email (case-insensitive).
func (s *Store) EmailTaken(email string) (bool, error) {
	return view(s, func(tx *bolt.Tx) (bool, error) {
		return tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(email))) != nil, nil
	})
}

// UserByEmail returns the user that registered email.
func (s *Store) UserByEmail(email string) (paas.User, error) {
	return view(s, func(tx *bolt.Tx) (paas.User, error) {
		name := tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(email)))
		if name == nil {
			return paas.User{}, paas.NotFound("no user with email %q", email)
		}
		return getUser(tx, string(name))
	})
}

// Users lists every user in name order.
func (s *Store) Users() ([]paas.User, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.User, error) { return list[paas.User](tx.Bucket(bucketUsers), nil) })
}

// UpdateUser applies fn to the stored user inside one transaction; an error
// from fn aborts the change. The name cannot change; a changed email moves
// the email index entry.
func (s *Store) UpdateUser(name string, fn func(*paas.User) error) (paas.User, error) {
	return update(s, func(tx *bolt.Tx) (paas.User, error) {
		u, err := getUser(tx, name)
		if err != nil {
			return u, err
		}
		oldEmail := strings.ToLower(u.Email)
		if err := fn(&u); err != nil {
			return u, err
		}
		u.Name = name
		if newEmail := strings.ToLower(u.Email); newEmail != oldEmail {
			emails := tx.Bucket(bucketEmails)
			if emails.Get([]byte(newEmail)) != nil {
				return u, paas.Conflict("email %q is already registered", u.Email)
			}
			if err := emails.Delete([]byte(oldEmail)); err != nil {
				return u, err
			}
			if err := emails.Put([]byte(newEmail), []byte(name)); err != nil {
				return u, err
			}
		}
		u.Updated = s.now()
		return u, putJSON(tx.Bucket(bucketUsers), []byte(name), u)
	})
}

// CountAdmins returns how many admin accounts exist.
func (s *Store) CountAdmins() (int, error) {
	return view(s, countAdmins)
}

func countAdmins(tx *bolt.Tx) (int, error) {
	users, err := list[paas.User](tx.Bucket(bucketUsers), nil)
	n := 0
	for _, u := range users {
		if u.Admin {
			n++
		}
	}
	return n, err
}

// DeleteUser removes a user and everything the user owns (tokens, keys,
// third-party tokens, apps with their snapshots and logs, databases, domains
// with their records) and the user's team memberships, in one transaction.
// Teams the user belonged to stay, possibly without an owner: who may then
// manage them is the service's decision. It returns the apps that were
// removed, so the caller can tear down their containers.
func (s *Store) DeleteUser(name string) ([]paas.App, error) {
	return update(s, func(tx *bolt.Tx) ([]paas.App, error) {
		u, err := getUser(tx, name)
		if err != nil {
			return nil, err
		}
		if u.Admin {
			admins, err := countAdmins(tx)
			if err != nil {
				return nil, err
			}
			if admins <= 1 {
				return nil, paas.Conflict("cannot delete the last admin account")
			}
		}
		apps, err := s.appsOf(tx, name)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if err := deleteAppTx(tx, a); err != nil {
				return nil, fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		domains, err := domainsOf(tx, name)
		if err != nil {
			return nil, fmt.Errorf("delete user %s: %w", name, err)
		}
		for _, d := range domains {
			if err := deleteDomainTx(tx, d); err != nil {
				return nil, fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		if err := s.leaveTeams(tx, name); err != nil {
			return nil, fmt.Errorf("delete user %s: %w", name, err)
		}
		// Tokens are keyed by hash; the per-user index names them.
		userTokens, tokens := tx.Bucket(bucketUserTokens), tx.Bucket(bucketTokens)
		if err := scanPrefix(userTokens, prefix(name), func(_, hash []byte) error {
			return tokens.Delete(hash)
		}); err != nil {
			return nil, fmt.Errorf("delete user %s: %w", name, err)
		}
		for _, b := range [][]byte{bucketUserTokens, bucketThirdParty, bucketKeys, bucketDatabases, bucketSecrets} {
			if err := deletePrefix(tx.Bucket(b), prefix(name)); err != nil {
				return nil, fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		if err := tx.Bucket(bucketEmails).Delete([]byte(strings.ToLower(u.Email))); err != nil {
			return nil, err
		}
		return apps, tx.Bucket(bucketUsers).Delete([]byte(name))
	})
}
