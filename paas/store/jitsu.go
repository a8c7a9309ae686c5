package store

import (
	"encoding/json"
	"slices"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// Jitsu config objects, stored as the JSON documents they are, under
// owner\x00type\x00id.

// PutConfig stores obj as owner's object typ/id: a new one (create, else a
// conflict) or a replacement (else NotFound).
func (s *Store) PutConfig(owner, typ, id string, obj []byte, create bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := ownerKind(tx, owner); err != nil {
			return err
		}
		b := tx.Bucket(bucketConfig)
		k := key(owner, typ, id)
		old := b.Get(k)
		switch {
		case create && old != nil:
			return paas.Conflict("a %s with id %q exists", typ, id)
		case !create && old == nil:
			return paas.NotFound("%s %q not found", typ, id)
		}
		if typ == paas.TypeStream {
			if err := indexWriteKeys(tx, owner, id, slices.Clone(old), obj); err != nil {
				return err
			}
		}
		return b.Put(k, obj)
	})
}

// Config returns owner's object typ/id.
func (s *Store) Config(owner, typ, id string) ([]byte, error) {
	return view(s, func(tx *bolt.Tx) ([]byte, error) {
		v := tx.Bucket(bucketConfig).Get(key(owner, typ, id))
		if v == nil {
			return nil, paas.NotFound("%s %q not found", typ, id)
		}
		return slices.Clone(v), nil
	})
}

// Configs lists owner's objects of typ, by id.
func (s *Store) Configs(owner, typ string) ([][]byte, error) {
	return view(s, func(tx *bolt.Tx) ([][]byte, error) {
		out := [][]byte{}
		err := scanPrefix(tx.Bucket(bucketConfig), prefix(owner, typ), func(_, v []byte) error {
			out = append(out, slices.Clone(v))
			return nil
		})
		return out, err
	})
}

// linkRefs reports whether link (a stored JSON link) uses id: as its
// stream, its destination, or one of its functions.
func linkRefs(link []byte, id string) bool {
	var l struct {
		FromID string `json:"fromId"`
		ToID   string `json:"toId"`
		Data   struct {
			Functions []struct {
				FunctionID string `json:"functionId"`
			} `json:"functions"`
		} `json:"data"`
	}
	if json.Unmarshal(link, &l) != nil {
		return false
	}
	if l.FromID == id || l.ToID == id {
		return true
	}
	for _, f := range l.Data.Functions {
		if f.FunctionID == id || f.FunctionID == "udf."+id {
			return true
		}
	}
	return false
}

// DeleteConfig removes owner's object typ/id, in one transaction with what
// the links that use it become: with strict, a used object is refused
// (paas.ErrReferenced); with cascade, those links go too (their count is
// returned); otherwise they stay, pointing at nothing, as the Jitsu
// document says.
func (s *Store) DeleteConfig(owner, typ, id string, strict, cascade bool) (int, error) {
	return update(s, func(tx *bolt.Tx) (int, error) {
		b := tx.Bucket(bucketConfig)
		k := key(owner, typ, id)
		old := b.Get(k)
		if old == nil {
			return 0, paas.NotFound("%s %q not found", typ, id)
		}
		switch typ {
		case paas.TypeStream:
			if err := indexWriteKeys(tx, owner, id, slices.Clone(old), nil); err != nil {
				return 0, err
			}
			if err := dropStreamData(tx, owner, id); err != nil {
				return 0, err
			}
		case paas.TypeLink:
			if err := tx.Bucket(bucketLinkState).Delete(key(owner, id)); err != nil {
				return 0, err
			}
		}
		var using [][]byte
		if typ != paas.TypeLink {
			if err := scanPrefix(b, prefix(owner, paas.TypeLink), func(lk, v []byte) error {
				if linkRefs(v, id) {
					using = append(using, slices.Clone(lk))
				}
				return nil
			}); err != nil {
				return 0, err
			}
		}
		if strict && len(using) > 0 {
			return 0, paas.ErrReferenced(typ, id, len(using))
		}
		if cascade {
			for _, lk := range using {
				if err := deleteLinkTx(tx, owner, lk); err != nil {
					return 0, err
				}
			}
		} else {
			using = nil
		}
		return len(using), b.Delete(k)
	})
}

// DeleteLinks removes owner's links that match, and returns how many.
func (s *Store) DeleteLinks(owner string, match func(link []byte) bool) (int, error) {
	return update(s, func(tx *bolt.Tx) (int, error) {
		b := tx.Bucket(bucketConfig)
		var gone [][]byte
		if err := scanPrefix(b, prefix(owner, paas.TypeLink), func(k, v []byte) error {
			if match(v) {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return 0, err
		}
		for _, k := range gone {
			if err := deleteLinkTx(tx, owner, k); err != nil {
				return 0, err
			}
		}
		return len(gone), nil
	})
}

// deleteLinkTx removes the link stored under k with its delivery state.
func deleteLinkTx(tx *bolt.Tx, owner string, k []byte) error {
	p := prefix(owner, paas.TypeLink)
	if err := tx.Bucket(bucketLinkState).Delete(key(owner, string(k[len(p):]))); err != nil {
		return err
	}
	return tx.Bucket(bucketConfig).Delete(k)
}

// OwnedConfig is a config object with its workspace's owner.
type OwnedConfig struct {
	Owner string
	Raw   []byte
}

// AllConfigs lists every workspace's objects of typ (the event router's
// view of the configuration).
func (s *Store) AllConfigs(typ string) ([]OwnedConfig, error) {
	return view(s, func(tx *bolt.Tx) ([]OwnedConfig, error) {
		var out []OwnedConfig
		err := tx.Bucket(bucketConfig).ForEach(func(k, v []byte) error {
			owner, rest, _ := splitKey(k)
			t, _, _ := splitKey([]byte(rest))
			if t == typ {
				out = append(out, OwnedConfig{Owner: owner, Raw: slices.Clone(v)})
			}
			return nil
		})
		return out, err
	})
}
