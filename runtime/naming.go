package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Docker's reference grammar: a repository path component is
// [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*, a tag is [\w][\w.-]{0,127}, and a
// container name is [a-zA-Z0-9][a-zA-Z0-9_.-]+. App keys, snapshot and release
// ids come from users and the store, so they are squeezed into those shapes
// here. Squeezing is lossy ("a/b-c" and "a-b/c" both become "a-b-c"), which is
// why every generated name also carries a short hash of the raw inputs.

// sanitizeComponent lowercases s and maps it onto [a-z0-9-], collapsing runs
// of separators and trimming them at both ends, so the result is a valid
// repository path component and a valid piece of a container name.
func sanitizeComponent(s string, max int) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
		default:
			sep = true
		}
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		out = "x"
	}
	return out
}

// shortHash is a stable 10-hex-digit digest of parts; parts are separated by
// NUL so ("ab","c") and ("a","bc") differ.
func shortHash(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// imageRef is the tag of the image of one (app, snapshot) pair, e.g.
// "paas/owner-app:snap1-1a2b3c4d5e".
func imageRef(prefix, app, snapshot string) string {
	repo := sanitizeComponent(prefix, 30) + "/" + sanitizeComponent(app, 120)
	tag := sanitizeComponent(snapshot, 100) + "-" + shortHash(app, snapshot)
	return repo + ":" + tag
}

// containerName is the unique name of one unit, e.g.
// "paas-owner-app-rel1-0-1a2b3c4d5e".
func containerName(prefix, app, release string, index int) string {
	return sanitizeComponent(prefix, 30) + "-" + sanitizeComponent(app, 80) + "-" +
		sanitizeComponent(release, 60) + "-" + strconv.Itoa(index) + "-" +
		shortHash(prefix, app, release, strconv.Itoa(index))
}
