package paas

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CreateUser stores a new user. It fails with a conflict when the name or
// the email is taken.
func (s *Store) CreateUser(u User) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		users, emails := tx.Bucket(bucketUsers), tx.Bucket(bucketEmails)
		if users.Get([]byte(u.Name)) != nil {
			return Conflict("user %q already exists", u.Name)
		}
		email := strings.ToLower(u.Email)
		if emails.Get([]byte(email)) != nil {
			return Conflict("email %q is already registered", u.Email)
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
func (s *Store) User(name string) (User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		return getUser(tx, name, &u)
	})
	return u, err
}

func getUser(tx *bolt.Tx, name string, u *User) error {
	if err := getJSON(tx.Bucket(bucketUsers), []byte(name), u); err != nil {
		if err == ErrNotFound {
			return NotFound("user %q not found", name)
		}
		return err
	}
	return nil
}

// EmailTaken reports whether any user registered email (case-insensitive).
func (s *Store) EmailTaken(email string) (bool, error) {
	var taken bool
	err := s.db.View(func(tx *bolt.Tx) error {
		taken = tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(email))) != nil
		return nil
	})
	return taken, err
}

// UserByEmail returns the user that registered email.
func (s *Store) UserByEmail(email string) (User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		name := tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(email)))
		if name == nil {
			return NotFound("no user with email %q", email)
		}
		return getUser(tx, string(name), &u)
	})
	return u, err
}

// Users lists every user in name order.
func (s *Store) Users() ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := getJSON(tx.Bucket(bucketUsers), k, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// UpdateUser applies fn to the stored user inside one transaction; an error
// from fn aborts the change. A changed email moves the email index entry.
func (s *Store) UpdateUser(name string, fn func(*User) error) (User, error) {
	var u User
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := getUser(tx, name, &u); err != nil {
			return err
		}
		oldEmail := strings.ToLower(u.Email)
		if err := fn(&u); err != nil {
			return err
		}
		u.Name = name
		if newEmail := strings.ToLower(u.Email); newEmail != oldEmail {
			emails := tx.Bucket(bucketEmails)
			if emails.Get([]byte(newEmail)) != nil {
				return Conflict("email %q is already registered", u.Email)
			}
			if err := emails.Delete([]byte(oldEmail)); err != nil {
				return err
			}
			if err := emails.Put([]byte(newEmail), []byte(name)); err != nil {
				return err
			}
		}
		u.Updated = s.now()
		return putJSON(tx.Bucket(bucketUsers), []byte(name), u)
	})
	return u, err
}

// CountAdmins returns how many admin accounts exist.
func (s *Store) CountAdmins() (int, error) {
	users, err := s.Users()
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
// with their records) in one
// transaction. It returns the apps that were removed, so the caller can tear
// down their containers.
func (s *Store) DeleteUser(name string) ([]App, error) {
	var removed []App
	err := s.db.Update(func(tx *bolt.Tx) error {
		var u User
		if err := getUser(tx, name, &u); err != nil {
			return err
		}
		if u.Admin {
			admins := 0
			if err := tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
				var o User
				if err := getJSON(tx.Bucket(bucketUsers), k, &o); err != nil {
					return err
				}
				if o.Admin {
					admins++
				}
				return nil
			}); err != nil {
				return err
			}
			if admins <= 1 {
				return Conflict("cannot delete the last admin account")
			}
		}
		apps, err := s.appsOf(tx, name)
		if err != nil {
			return err
		}
		for _, a := range apps {
			if err := deleteAppTx(tx, a); err != nil {
				return err
			}
		}
		removed = apps
		var domains []Domain
		if err := scanPrefix(tx.Bucket(bucketOwnDomains), prefix(name), func(k, _ []byte) error {
			d, err := ownedDomain(tx, name, string(k[len(prefix(name)):]))
			if err != nil {
				return err
			}
			domains = append(domains, d)
			return nil
		}); err != nil {
			return err
		}
		for _, d := range domains {
			if err := deleteDomainTx(tx, d); err != nil {
				return fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		// Tokens are keyed by hash; the per-user index names them.
		userTokens, tokens := tx.Bucket(bucketUserTokens), tx.Bucket(bucketTokens)
		if err := scanPrefix(userTokens, prefix(name), func(_, hash []byte) error {
			return tokens.Delete(hash)
		}); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketUserTokens, bucketThirdParty, bucketKeys, bucketDatabases} {
			if err := deletePrefix(tx.Bucket(b), prefix(name)); err != nil {
				return fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		if err := tx.Bucket(bucketEmails).Delete([]byte(strings.ToLower(u.Email))); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete([]byte(name))
	})
	return removed, err
}
