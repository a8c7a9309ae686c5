package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// The generic helpers below are the only places that read, list or delete
// an object, so every resource gets the same not-found, decoding and
// key-order rules.

// notFound builds a resource's not-found error lazily: the message is only
// formatted when the object really is missing.
func notFound(format string, args ...any) func() error {
	return func() error { return paas.NotFound(format, args...) }
}

// view runs fn in a read transaction, update in a write transaction. On
// error the result is the zero value, so no caller can use a half-built
// object from an aborted transaction.
func view[T any](s *Store, fn func(*bolt.Tx) (T, error)) (T, error) {
	return inTx(s.db.View, fn)
}

func update[T any](s *Store, fn func(*bolt.Tx) (T, error)) (T, error) {
	return inTx(s.db.Update, fn)
}

func inTx[T any](run func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) (T, error)) (T, error) {
	var out T
	err := run(func(tx *bolt.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// decode is the JSON decoder of every stored object; k is only context.
func decode[T any](k, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("decode %T %q: %w", zero, k, err)
	}
	return v, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	return b.Put(k, data)
}

// lookup decodes the object at k; ok is false when there is none, which
// for lookup is not an error.
func lookup[T any](b *bolt.Bucket, k []byte) (v T, ok bool, err error) {
	data := b.Get(k)
	if data == nil {
		return v, false, nil
	}
	v, err = decode[T](k, data)
	return v, err == nil, err
}

// get decodes the object at k, or returns ifMissing() when there is none.
func get[T any](b *bolt.Bucket, k []byte, ifMissing func() error) (T, error) {
	v, ok, err := lookup[T](b, k)
	if err == nil && !ok {
		err = ifMissing()
	}
	return v, err
}

// list decodes, in key order, every object whose key starts with p (every
// object of the bucket for an empty p).
func list[T any](b *bolt.Bucket, p []byte) ([]T, error) { return collect(b, p, decode[T]) }

// collect is list with a decoder of its own, for objects that need more
// than JSON (sealed fields).
func collect[T any](b *bolt.Bucket, p []byte, dec func(k, v []byte) (T, error)) ([]T, error) {
	var out []T
	err := scanPrefix(b, p, func(k, v []byte) error {
		x, err := dec(k, v)
		if err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// follow lists, in index key order, the objects that the index entries
// under p name; ref gives the object key an entry names. An entry naming
// no object is an internal error, never a not-found: index and objects are
// written in one transaction, so a dangling entry is a broken file.
func follow[T any](index *bolt.Bucket, p []byte, objects *bolt.Bucket, ref func(k, v []byte) []byte) ([]T, error) {
	return collect(index, p, func(k, v []byte) (T, error) {
		target := ref(k, v)
		return get[T](objects, target, func() error {
			return fmt.Errorf("index entry %q names the missing object %q", k, target)
		})
	})
}

// byValue and afterPrefix are follow's two kinds of reference: an index
// whose values are object keys, and one whose keys end with the object key.
func byValue(_, v []byte) []byte { return v }

func afterPrefix(p []byte) func(k, v []byte) []byte {
	return func(k, _ []byte) []byte { return k[len(p):] }
}

// del removes k, or returns ifMissing() when there is nothing there. It
// returns a copy of the removed value, since bbolt's memory is only valid
// inside the transaction.
func del(b *bolt.Bucket, k []byte, ifMissing func() error) ([]byte, error) {
	data := b.Get(k)
	if data == nil {
		return nil, ifMissing()
	}
	data = bytes.Clone(data)
	if err := b.Delete(k); err != nil {
		return nil, fmt.Errorf("delete %q: %w", k, err)
	}
	return data, nil
}

// take removes the object at k and returns it decoded.
func take[T any](b *bolt.Bucket, k []byte, ifMissing func() error) (T, error) {
	data, err := del(b, k, ifMissing)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](k, data)
}

// count returns how many keys start with p.
func count(b *bolt.Bucket, p []byte) int {
	n := 0
	_ = scanPrefix(b, p, func(_, _ []byte) error { n++; return nil }) // fn never fails
	return n
}

// scanPrefix calls fn for every key with the given prefix, in key order.
func scanPrefix(b *bolt.Bucket, p []byte, fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// deletePrefix removes every key with the given prefix.
func deletePrefix(b *bolt.Bucket, p []byte) error {
	var keys [][]byte
	if err := scanPrefix(b, p, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete %q: %w", k, err)
		}
	}
	return nil
}
