package store

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"

	"github.com/selfhost/paas/paas"
)

// sealer encrypts secrets at rest (third-party tokens, app env values) with
// AES-256-GCM under a key kept beside the database, so a leaked copy of
// paas.db alone reveals no secret.
type sealer struct{ aead cipher.AEAD }

func loadSealer(path string) (*sealer, error) {
	k, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k = paas.RandomBytes(32)
		if err := os.WriteFile(path, k, 0o600); err != nil {
			return nil, fmt.Errorf("write secret key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("secret key %s: want 32 bytes, have %d", path, len(k))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain []byte) ([]byte, error) {
	nonce := paas.RandomBytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plain, nil), nil
}

func (s *sealer) open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed value: too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return plain, nil
}
