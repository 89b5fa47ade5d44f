package workshops

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// codeAlphabet leaves out letters and digits read or heard as one another
// (0/O, 1/I/L, 2/Z, 5/S, 8/B): a code read aloud or off a projector is typed
// right the first time.
const codeAlphabet = "ACDEFGHJKMNPQRTUVWXY34679"

// CodeLen is the length of a join code: 25⁶ ≈ 244 million codes.
const CodeLen = 6

// newCode draws a random join code.
func newCode() string {
	b := make([]byte, CodeLen)
	for i := range b {
		b[i] = codeAlphabet[randIndex(len(codeAlphabet))]
	}
	return string(b)
}

// randIndex is uniform in [0, n) for n ≤ 256.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// NormalizeCode reads a code as people type it: any case, spaces and dashes
// ignored. ok is false when it cannot be a code.
func NormalizeCode(s string) (code string, ok bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(s))
	if len(s) != CodeLen {
		return "", false
	}
	for i := range len(s) {
		if !strings.ContainsRune(codeAlphabet, rune(s[i])) {
			return "", false
		}
	}
	return s, true
}

// newToken is the facilitator's secret: 256 random bits, URL-safe.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is what is stored: a leaked database does not hand out the
// facilitator's link.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// tokenMatches compares in constant time.
func tokenMatches(token, hash string) bool {
	got := tokenHash(token)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
