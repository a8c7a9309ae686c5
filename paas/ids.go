package paas

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// The one source of random identifiers and secrets. crypto/rand.Read never
// fails (Go 1.24+: it aborts the program instead when the OS has no
// entropy), so none of these return an error; each format is the one its
// API shows.

// RandomBytes returns n random bytes.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// RandomSecret returns n random bytes, URL-safe base64: invite and reset
// codes, generated passwords, API token bodies.
func RandomSecret(n int) string { return base64.RawURLEncoding.EncodeToString(RandomBytes(n)) }

// RandomHex returns n random bytes in hex: error ids, release ids, the now
// API's verification tokens.
func RandomHex(n int) string { return hex.EncodeToString(RandomBytes(n)) }

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomID returns prefix plus n random base-62 characters, the shape of the
// now API's ids (rec_38OtX1f51szRA03atCybBuZ3). Rejection sampling keeps
// every character equally likely.
func RandomID(prefix string, n int) string {
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	buf := make([]byte, n+n/2+8)
	for len(out) < len(prefix)+n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			// 248 = 4*62: values below it map evenly onto the alphabet.
			if c < 248 && len(out) < len(prefix)+n {
				out = append(out, idAlphabet[c%62])
			}
		}
	}
	return string(out)
}

// SHA256Hex is the hex SHA-256 of s: how codes and tokens are stored.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
