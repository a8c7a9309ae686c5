// Package store is the platform's only persistent state: one bbolt file.
//
// Every change that touches more than one key (an object and its indexes,
// a cascade) is one transaction, so a crash or a refused request never
// leaves half an object behind. Objects live in one bucket per resource,
// keyed "owner\x00name" so an owner's objects sort together; secondary
// indexes (emails, token hashes, hostnames, app names, team members,
// owners' domains) have buckets of their own, written in the same
// transaction. Secrets (third-party tokens, app environments) are sealed
// with a key kept beside the file. Check verifies the file and every index
// against its objects; the tests run it after each test.
//
// Not found is an error (paas.ErrNotFound), never (nil, nil).
package store
