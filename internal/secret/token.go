// Package secret implements the token format of the API-token service and
// the protection of secrets at rest: a keyed digest used as the lookup index
// and optional envelope encryption so that a token can be shown again later.
//
// Everything here is pure computation on values: no I/O besides reading
// crypto/rand, no global configuration. Key material comes in through
// [NewKeyring]; the caller decides where it is stored.
package secret

import (
	"crypto/rand"
	"encoding/base64"
	"hash/crc32"
	"sync"
)

// Kind is the shape of a presented token string, as far as it can be told
// without a database lookup.
type Kind int

const (
	// KindInvalid is the zero value so that a forgotten check fails closed.
	KindInvalid Kind = iota
	// KindAPI is a "tkd_" token issued to API clients.
	KindAPI
	// KindSession is a "tks_" token that represents a sign-in session.
	KindSession
	// KindLegacy is a 64-character base64 secret from the previous
	// (Wallarm-style) service; accepted only for backward compatibility.
	KindLegacy
)

// Token prefixes. They make leaked tokens easy to find with secret scanners
// and tell API and session tokens apart before any lookup.
const (
	PrefixAPI     = "tkd_"
	PrefixSession = "tks_"
)

// String returns a short lowercase name, for logs and test failures.
func (k Kind) String() string {
	switch k {
	case KindAPI:
		return "api"
	case KindSession:
		return "session"
	case KindLegacy:
		return "legacy"
	default:
		return "invalid"
	}
}

// NewAPIToken returns a fresh "tkd_" token with 238 bits of randomness.
func NewAPIToken() (string, error) {
	return newToken(PrefixAPI)
}

// NewSessionToken returns a fresh "tks_" token with 238 bits of randomness.
func NewSessionToken() (string, error) {
	return newToken(PrefixSession)
}

// NewLegacySecret returns a secret in the legacy format (48 random bytes,
// standard base64, 64 characters). New credentials should use
// [NewAPIToken]; this exists for tests and for importing old data.
func NewLegacySecret() (string, error) {
	var b [legacyRandomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// Classify reports the format of s. A "tkd_"/"tks_" token is only
// recognised if its checksum matches, so random garbage and typos are
// rejected before they cost a database round trip. Classify does not
// allocate and runs in time that depends only on len(s) and on where s
// first deviates from the format, never on any stored secret.
func Classify(s string) Kind {
	switch len(s) {
	case tokenLen:
		return classifyToken(s)
	case legacyLen:
		if isLegacy(s) {
			return KindLegacy
		}
	}
	return KindInvalid
}

// Hint returns a short, display-safe reminder of a token such as
// "tkd_AbCd…wxyz", so that users can tell their tokens apart in a list.
// It reveals at most 8 characters besides the prefix; for "tkd_"/"tks_"
// tokens the last 4 are checksum characters, so only 4 characters of
// randomness are disclosed. For a string that Classify rejects it returns
// "", because a hint of a mistyped or foreign secret could leak that secret.
func Hint(token string) string {
	switch Classify(token) {
	case KindAPI, KindSession:
		return token[:prefixLen+hintLen] + ellipsis + token[len(token)-hintLen:]
	case KindLegacy:
		return token[:hintLen] + ellipsis + token[len(token)-hintLen:]
	}
	return ""
}

const (
	prefixLen   = 4
	randomLen   = 40 // 40 × log2(62) ≈ 238.2 bits
	checksumLen = 6  // 62^6 > 2^32, so any CRC32 fits
	randomEnd   = prefixLen + randomLen
	tokenLen    = randomEnd + checksumLen

	legacyLen         = 64
	legacyRandomBytes = 48 // 48 bytes encode to exactly 64 base64 characters

	hintLen  = 4
	ellipsis = "…"

	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// Bytes at or above this bound are rejected when drawing base62
	// characters: 248 = 4×62 is the largest multiple of 62 that fits in a
	// byte, so b%62 is uniform over accepted bytes (no modulo bias) and
	// only 8 in 256 draws are wasted.
	rejectionBound = 248
)

// base62Value maps a byte to its base62 digit value, or -1.
var base62Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(base62Alphabet) {
		t[base62Alphabet[i]] = int8(i)
	}
	return t
}()

// crcScratch holds copies of token bodies for crc32, which takes a []byte
// that escapes; converting the string directly would allocate on every
// Classify call.
var crcScratch = sync.Pool{New: func() any { return new([randomEnd]byte) }}

func newToken(prefix string) (string, error) {
	// One allocation for random input and output together; the token is
	// assembled in place and copied once into the immutable string.
	buf := make([]byte, tokenLen+randomLen+randomLen/2)
	tok, pool := buf[:tokenLen], buf[tokenLen:]
	copy(tok, prefix)
	if err := fillBase62(tok[prefixLen:randomEnd], pool); err != nil {
		return "", err
	}
	sum := encodeChecksum(crc32.ChecksumIEEE(tok[:randomEnd]))
	copy(tok[randomEnd:], sum[:])
	return string(tok), nil
}

// fillBase62 fills dst with uniformly random base62 characters, using
// pool as the buffer for random bytes.
func fillBase62(dst, pool []byte) error {
	for i := 0; i < len(dst); {
		if _, err := rand.Read(pool); err != nil {
			return err
		}
		for _, b := range pool {
			if b >= rejectionBound {
				continue
			}
			dst[i] = base62Alphabet[b%62]
			i++
			if i == len(dst) {
				break
			}
		}
	}
	return nil
}

func classifyToken(s string) Kind {
	var kind Kind
	switch s[:prefixLen] {
	case PrefixAPI:
		kind = KindAPI
	case PrefixSession:
		kind = KindSession
	default:
		return KindInvalid
	}
	for i := prefixLen; i < len(s); i++ {
		if base62Value[s[i]] < 0 {
			return KindInvalid
		}
	}
	if sum := checksumOf(s[:randomEnd]); s[randomEnd:] != string(sum[:]) {
		return KindInvalid
	}
	return kind
}

func checksumOf(body string) [checksumLen]byte {
	buf := crcScratch.Get().(*[randomEnd]byte)
	n := copy(buf[:], body)
	crc := crc32.ChecksumIEEE(buf[:n])
	crcScratch.Put(buf)
	return encodeChecksum(crc)
}

// encodeChecksum writes crc in base62, most significant digit first,
// left-padded with '0' to a fixed width so the token length is constant.
func encodeChecksum(crc uint32) [checksumLen]byte {
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[crc%62]
		crc /= 62
	}
	return out
}

// isLegacy reports whether s is 64 characters of the standard base64
// alphabet, optionally ending in "=" or "==" padding.
func isLegacy(s string) bool {
	n := len(s)
	for pad := 0; pad < 2 && n > 0 && s[n-1] == '='; pad++ {
		n--
	}
	for i := range n {
		if !isBase64Std(s[i]) {
			return false
		}
	}
	return true
}

func isBase64Std(c byte) bool {
	return base62Value[c] >= 0 || c == '+' || c == '/'
}
