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
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"sync"
)

// Kind is the shape of a presented token string, as far as it can be told
// without a database lookup.
type Kind int

const (
	// KindInvalid is the zero value so that a forgotten check fails closed.
	KindInvalid Kind = iota
	// KindAPI is an API token issued by tokend: a "tkd_" token
	// ([FormatTKD]) or a 64-character base62 token whose embedded
	// checksum verifies ([FormatWallarm]). Both are recognised whatever
	// format the server issues, so changing TOKEND_TOKEN_FORMAT never
	// invalidates tokens already handed out.
	KindAPI
	// KindSession is a "tks_" token that represents a sign-in session.
	KindSession
	// KindLegacy is a secret in one of the shapes the previous (Wallarm)
	// service issued: [LegacyMinLen] to [LegacyMaxLen] characters of
	// standard or URL-safe base64 (hex included), optionally padded with
	// up to two '='. Accepted only for backward compatibility; see
	// [CheckLegacySecret] for what an import must also pass.
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

// Format is the shape of the API tokens a server issues
// (TOKEND_TOKEN_FORMAT). It only decides what [NewToken] makes: [Classify]
// recognises every format, so a server can switch formats without
// invalidating the tokens it already issued.
type Format int

const (
	// FormatTKD is the default: "tkd_" + 40 base62 characters of
	// randomness (≈ 238 bits) + a 6-character base62 CRC32 of what
	// precedes it (DESIGN.md §5).
	FormatTKD Format = iota
	// FormatWallarm is 64 base62 characters, which the Wallarm Terraform
	// provider and SDK accept as an api_token (^[A-Za-z0-9+/]{64}$): 58
	// characters of randomness (≈ 345 bits) + a 6-character base62
	// checksum, the CRC32 of "tkw_" followed by the 58 characters. The
	// "tkw_" is not part of the token; it only keeps the checksum distinct
	// from other schemes that append a CRC32 of their random part.
	FormatWallarm
)

// ParseFormat maps the configuration value ("tkd" or "wallarm") to a Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "tkd", "":
		return FormatTKD, nil
	case "wallarm":
		return FormatWallarm, nil
	}
	return 0, fmt.Errorf("secret: unknown token format %q (want tkd or wallarm)", s)
}

// String returns the configuration value of f.
func (f Format) String() string {
	switch f {
	case FormatTKD:
		return "tkd"
	case FormatWallarm:
		return "wallarm"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// NewToken returns a fresh API token in format f.
func NewToken(f Format) (string, error) {
	switch f {
	case FormatTKD:
		return NewAPIToken()
	case FormatWallarm:
		return NewWallarmToken()
	}
	return "", fmt.Errorf("secret: unknown token format %d", int(f))
}

// NewAPIToken returns a fresh "tkd_" token with 238 bits of randomness.
func NewAPIToken() (string, error) {
	return newToken(PrefixAPI, randomLen, 0)
}

// NewSessionToken returns a fresh "tks_" token with 238 bits of randomness.
func NewSessionToken() (string, error) {
	return newToken(PrefixSession, randomLen, 0)
}

// NewWallarmToken returns a fresh token in [FormatWallarm]: 64 base62
// characters, 345 bits of randomness, checksum inside.
func NewWallarmToken() (string, error) {
	return newToken("", wallarmRandomLen, wallarmSeed)
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

// Classify reports the format of s, in this order:
//
//   - a string starting with "tkd_" or "tks_" is an API or session token
//     if it has the length and checksum of one, and invalid otherwise:
//     the prefixes are reserved, so a mistyped tokend token never costs a
//     database round trip;
//   - 64 base62 characters whose embedded checksum verifies are an API
//     token ([FormatWallarm]);
//   - anything else of the legacy shape (see [KindLegacy]) is legacy:
//     that includes a 64-character base62 value whose checksum does not
//     verify, since such a value is a plausible Wallarm secret. A random
//     legacy secret verifies by chance with probability 62^-6 ≈ 2^-35.7.
//
// Classify does not allocate and runs in time that depends only on len(s)
// and on where s first deviates from a format, never on a stored secret.
func Classify(s string) Kind {
	n := len(s)
	if n < LegacyMinLen || n > LegacyMaxLen {
		return KindInvalid
	}
	if hasReservedPrefix(s) {
		if n == tokenLen {
			return classifyToken(s)
		}
		return KindInvalid
	}
	if n == wallarmLen && isWallarmToken(s) {
		return KindAPI
	}
	if isLegacy(s) {
		return KindLegacy
	}
	return KindInvalid
}

// Hint returns a short, display-safe reminder of a token such as
// "tkd_AbCd…wxyz" (or "AbCd…wxyz" for a token without a prefix: Wallarm
// format and legacy secrets), so that users can tell their tokens apart in
// a list. It reveals at most 8 characters besides the prefix; for tokend's
// own tokens the last 4 are checksum characters, so only 4 characters of
// randomness are disclosed. For a string that Classify rejects it returns
// "", because a hint of a mistyped or foreign secret could leak that secret.
func Hint(token string) string {
	switch Classify(token) {
	case KindAPI, KindSession:
		if hasReservedPrefix(token) {
			return token[:prefixLen+hintLen] + ellipsis + token[len(token)-hintLen:]
		}
		return token[:hintLen] + ellipsis + token[len(token)-hintLen:]
	case KindLegacy:
		return token[:hintLen] + ellipsis + token[len(token)-hintLen:]
	}
	return ""
}

// Legacy secret bounds, in characters, padding included.
const (
	LegacyMinLen = 40
	LegacyMaxLen = 128
)

// Thresholds of [CheckLegacySecret].
const (
	// MinLegacyEntropy is the least empirical Shannon entropy, in bits per
	// character, of a legacy secret's character distribution (padding
	// excluded). Eight equally used characters give 3; a random 40-character
	// hex secret has about 3.6, and its minimum over a million draws is
	// about 3.0; random base64 has about 4.8. Below 2.5 a value uses fewer
	// than ~6 symbols evenly and is not the output of a random generator.
	MinLegacyEntropy = 2.5
	// MaxLegacyRun is the longest run of characters each exactly one above
	// (or each one below) the previous in ASCII, such as "abcdefghi", that a
	// legacy secret may contain; "0123456789" is refused. A run of 10 occurs
	// in a random 128-character hex secret with probability about 10^-10, in
	// base64 below 10^-14 (a run of 8 would already refuse about one random
	// 40-character hex secret in 10^8).
	MaxLegacyRun = 9
)

// Errors of [CheckLegacySecret]. The returned errors wrap one of them and
// say why, never quoting the secret.
var (
	ErrLegacyShape = errors.New("not a Wallarm API secret: want 40 to 128 characters of base64 (A-Z a-z 0-9 and + / or - _, optional = padding) or hex")
	ErrLegacyWeak  = errors.New("legacy secret is too predictable")
)

// CheckLegacySecret decides whether s may be imported as a legacy Wallarm
// secret (R15). It refuses what [Classify] does not call [KindLegacy]
// (including tokend's own tokens), base64 that mixes the standard and the
// URL-safe alphabets or pads a length that is not a multiple of 4, and
// values of trivially low entropy: one character repeated, any repeated
// pattern of at most half the length ("abab…"), a run of more than
// [MaxLegacyRun] consecutive characters ("0123456789"), and an empirical
// entropy below [MinLegacyEntropy] bits per character. Random secrets of
// the shapes Wallarm issued pass every check (the thresholds are set far
// from what random 40-character hex and base64 values reach).
func CheckLegacySecret(s string) error {
	switch Classify(s) {
	case KindLegacy:
	case KindAPI, KindSession:
		return fmt.Errorf("%w (this is a tokend token)", ErrLegacyShape)
	default:
		return ErrLegacyShape
	}
	body := trimPadding(s)
	if len(body) != len(s) && len(s)%4 != 0 {
		return fmt.Errorf("%w (padded, but %d characters is not a multiple of 4)", ErrLegacyShape, len(s))
	}
	if strings.ContainsAny(body, "+/") && strings.ContainsAny(body, "-_") {
		return fmt.Errorf("%w (mixes the standard and URL-safe base64 alphabets)", ErrLegacyShape)
	}
	switch p := smallestPeriod(body); {
	case p == 1:
		return fmt.Errorf("%w: one character repeated", ErrLegacyWeak)
	case p <= len(body)/2:
		return fmt.Errorf("%w: a %d-character pattern repeated", ErrLegacyWeak, p)
	}
	if r := longestStepRun(body); r > MaxLegacyRun {
		return fmt.Errorf("%w: a run of %d consecutive characters", ErrLegacyWeak, r)
	}
	if h := entropyPerChar(body); h < MinLegacyEntropy {
		return fmt.Errorf("%w: %.2f bits of entropy per character, want at least %.1f", ErrLegacyWeak, h, MinLegacyEntropy)
	}
	return nil
}

const (
	prefixLen   = 4
	randomLen   = 40 // 40 × log2(62) ≈ 238.2 bits
	checksumLen = 6  // 62^6 > 2^32, so any CRC32 fits
	randomEnd   = prefixLen + randomLen
	tokenLen    = randomEnd + checksumLen

	wallarmRandomLen = 58 // 58 × log2(62) ≈ 345.4 bits
	wallarmLen       = wallarmRandomLen + checksumLen
	wallarmLabel     = "tkw_"

	legacyRandomBytes = 48 // 48 bytes encode to exactly 64 base64 characters

	hintLen  = 4
	ellipsis = "…"

	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// Bytes at or above this bound are rejected when drawing base62
	// characters: 248 = 4×62 is the largest multiple of 62 that fits in a
	// byte, so b%62 is uniform over accepted bytes (no modulo bias) and
	// only 8 in 256 draws are wasted.
	rejectionBound = 248

	// scratchLen is the longest body a checksum covers.
	scratchLen = max(randomEnd, wallarmRandomLen)
)

// wallarmSeed is the CRC32 state after wallarmLabel, so that the checksum
// of a Wallarm-format body b is crc32.ChecksumIEEE("tkw_" + b).
var wallarmSeed = crc32.ChecksumIEEE([]byte(wallarmLabel))

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
var crcScratch = sync.Pool{New: func() any { return new([scratchLen]byte) }}

// newToken returns prefix + nRandom random base62 characters + the base62
// CRC32 of both, continuing the CRC from seed (0 for a plain CRC32).
func newToken(prefix string, nRandom int, seed uint32) (string, error) {
	// One allocation for random input and output together; the token is
	// assembled in place and copied once into the immutable string.
	n := len(prefix) + nRandom + checksumLen
	buf := make([]byte, n+nRandom+nRandom/2)
	tok, pool := buf[:n], buf[n:]
	copy(tok, prefix)
	body := tok[:len(prefix)+nRandom]
	if err := fillBase62(body[len(prefix):], pool); err != nil {
		return "", err
	}
	sum := encodeChecksum(crc32.Update(seed, crc32.IEEETable, body))
	copy(tok[len(body):], sum[:])
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

func hasReservedPrefix(s string) bool {
	return len(s) >= prefixLen && (s[:prefixLen] == PrefixAPI || s[:prefixLen] == PrefixSession)
}

// classifyToken judges a string of tokenLen with a reserved prefix.
func classifyToken(s string) Kind {
	kind := KindAPI
	if s[:prefixLen] == PrefixSession {
		kind = KindSession
	}
	if !isBase62(s[prefixLen:]) {
		return KindInvalid
	}
	if sum := checksumOf(0, s[:randomEnd]); s[randomEnd:] != string(sum[:]) {
		return KindInvalid
	}
	return kind
}

// isWallarmToken judges a string of wallarmLen without a reserved prefix.
func isWallarmToken(s string) bool {
	if !isBase62(s) {
		return false
	}
	sum := checksumOf(wallarmSeed, s[:wallarmRandomLen])
	return s[wallarmRandomLen:] == string(sum[:])
}

func isBase62(s string) bool {
	for i := range len(s) {
		if base62Value[s[i]] < 0 {
			return false
		}
	}
	return true
}

func checksumOf(seed uint32, body string) [checksumLen]byte {
	buf := crcScratch.Get().(*[scratchLen]byte)
	n := copy(buf[:], body)
	crc := crc32.Update(seed, crc32.IEEETable, buf[:n])
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

// isLegacy reports whether s, of a length already checked, is characters
// of the standard or URL-safe base64 alphabet, optionally followed by "="
// or "==" padding.
func isLegacy(s string) bool {
	body := trimPadding(s)
	for i := range len(body) {
		if !isLegacyChar(body[i]) {
			return false
		}
	}
	return true
}

func trimPadding(s string) string {
	n := len(s)
	for pad := 0; pad < 2 && n > 0 && s[n-1] == '='; pad++ {
		n--
	}
	return s[:n]
}

func isLegacyChar(c byte) bool {
	return base62Value[c] >= 0 || c == '+' || c == '/' || c == '-' || c == '_'
}

// smallestPeriod returns the least p such that s[i] == s[i+p] for every i
// (len(s) for a string with no shorter period), from the KMP failure
// function. len(s) is at most LegacyMaxLen.
func smallestPeriod(s string) int {
	if s == "" {
		return 0
	}
	var fail [LegacyMaxLen]int
	for i := 1; i < len(s); i++ {
		k := fail[i-1]
		for k > 0 && s[i] != s[k] {
			k = fail[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		fail[i] = k
	}
	return len(s) - fail[len(s)-1]
}

// longestStepRun returns the length of the longest run of characters each
// one above the previous, or each one below it, in ASCII.
func longestStepRun(s string) int {
	if s == "" {
		return 0
	}
	best, up, down := 1, 1, 1
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1]+1 {
			up++
		} else {
			up = 1
		}
		if s[i] == s[i-1]-1 {
			down++
		} else {
			down = 1
		}
		best = max(best, up, down)
	}
	return best
}

// entropyPerChar returns the Shannon entropy, in bits, of the distribution
// of the characters of s.
func entropyPerChar(s string) float64 {
	var counts [256]int
	for i := range len(s) {
		counts[s[i]]++
	}
	n, h := float64(len(s)), 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
