// Package acme is the platform's TLS certificate machinery on certmagic:
// its storage on the platform's bbolt file (this file), and, in later
// steps, the ACME issuers, the challenge solvers over the platform's own
// ingress and DNS server, and a local CA for installations no public CA
// can reach.
package acme

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// KV is the persistence Storage needs; the platform's store implements it
// (store.Store's *TLS methods), sealing every value at rest.
type KV interface {
	PutTLS(key string, value []byte) error
	// GetTLS fails with fs.ErrNotExist (wrapped) for a missing key.
	GetTLS(key string) ([]byte, time.Time, error)
	// ListTLS returns every key equal to prefix or under prefix+"/".
	ListTLS(prefix string) ([]string, error)
	// DeleteTLS removes key and everything under key+"/".
	DeleteTLS(key string) error
	// LockTLS takes (or renews) the named lock for holder until ttl from
	// now unless another holder has it unexpired, and reports whether it did.
	LockTLS(name, holder string, ttl time.Duration) (bool, error)
	UnlockTLS(name, holder string) error
}

// Storage is a certmagic.Storage over KV. Locks expire their TTL after
// their last renewal and are renewed while held, so a lock left by a killed
// process stops blocking others within the TTL. Close stops the renewals.
type Storage struct {
	kv     KV
	holder string // this process: locks it holds carry it
	ttl    time.Duration

	mu    sync.Mutex
	held  map[string]context.CancelFunc // lock name → its renewal
	renew sync.WaitGroup
}

var _ certmagic.Storage = (*Storage)(nil)

// DefaultLockTTL is how long a lock outlives its holder's last renewal;
// it is renewed every third of that, and a waiter looks again every
// lockPollGap.
const (
	DefaultLockTTL = 30 * time.Second
	lockPollGap    = 100 * time.Millisecond
)

// NewStorage returns a Storage over kv for a process named holder (unique
// per process, e.g. random); lockTTL 0 is DefaultLockTTL.
func NewStorage(kv KV, holder string, lockTTL time.Duration) *Storage {
	if lockTTL == 0 {
		lockTTL = DefaultLockTTL
	}
	return &Storage{kv: kv, holder: holder, ttl: lockTTL, held: map[string]context.CancelFunc{}}
}

// Close stops renewing the locks this Storage holds (they then expire).
func (s *Storage) Close() error {
	s.mu.Lock()
	for _, cancel := range s.held {
		cancel()
	}
	s.held = map[string]context.CancelFunc{}
	s.mu.Unlock()
	s.renew.Wait()
	return nil
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("acme storage: invalid key %q", key)
	}
	return nil
}

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.kv.PutTLS(key, value)
}

// Load implements certmagic.Storage.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, _, err := s.kv.GetTLS(key)
	return v, err
}

// Delete implements certmagic.Storage: the key and everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.kv.DeleteTLS(key)
}

// Exists implements certmagic.Storage: a file or a directory.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	keys, err := s.kv.ListTLS(key)
	return err == nil && len(keys) > 0
}

// List implements certmagic.Storage. Without recursion it lists the
// direct children of path (files, and directories as their own key);
// with it, every file under path.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	keys, err := s.kv.ListTLS(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if k == path {
			continue // path is a file: it has no children
		}
		if recursive {
			out = append(out, k)
			continue
		}
		rest := strings.TrimPrefix(k, path+"/")
		if path == "" {
			rest = k
		}
		child, _, _ := strings.Cut(rest, "/")
		if path != "" {
			child = path + "/" + child
		}
		if !slices.Contains(out, child) {
			out = append(out, child)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("acme storage: list %q: %w", path, fs.ErrNotExist)
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return certmagic.KeyInfo{}, err
	}
	v, modified, err := s.kv.GetTLS(key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: int64(len(v)), IsTerminal: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return certmagic.KeyInfo{}, err
	}
	if keys, lerr := s.kv.ListTLS(key); lerr == nil && len(keys) > 0 {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, err
}

// Lock implements certmagic.Locker: it waits (honouring ctx) until the
// named lock is free or stale, takes it and renews it until Unlock.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.kv.LockTLS(name, s.holder, s.ttl)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPollGap):
		}
	}
	renewCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if prev := s.held[name]; prev != nil {
		prev()
	}
	s.held[name] = cancel
	s.renew.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.renew.Done()
		t := time.NewTicker(s.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				_, _ = s.kv.LockTLS(name, s.holder, s.ttl)
			}
		}
	}()
	return nil
}

// Unlock implements certmagic.Locker.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if cancel := s.held[name]; cancel != nil {
		cancel()
		delete(s.held, name)
	}
	s.mu.Unlock()
	return s.kv.UnlockTLS(name, s.holder)
}
