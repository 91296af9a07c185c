package secret_test

import (
	"encoding/base64"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Known-answer tokens, computed independently (Python zlib.crc32).
const (
	goldenAPI     = "tkd_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcd2WLtxi"
	goldenSession = "tks_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcd1O3nrg"
	goldenLegacy  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
)

func TestNewTokens(t *testing.T) {
	tests := []struct {
		name   string
		gen    func() (string, error)
		kind   secret.Kind
		prefix string
		length int
	}{
		{"api", secret.NewAPIToken, secret.KindAPI, secret.PrefixAPI, 50},
		{"session", secret.NewSessionToken, secret.KindSession, secret.PrefixSession, 50},
		{"legacy", secret.NewLegacySecret, secret.KindLegacy, "", 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 10_000
			seen := make(map[string]bool, n)
			for range n {
				tok, err := tt.gen()
				if err != nil {
					t.Fatal(err)
				}
				if len(tok) != tt.length {
					t.Fatalf("len(%q) = %d, want %d", tok, len(tok), tt.length)
				}
				if !strings.HasPrefix(tok, tt.prefix) {
					t.Fatalf("%q lacks prefix %q", tok, tt.prefix)
				}
				if got := secret.Classify(tok); got != tt.kind {
					t.Fatalf("Classify(%q) = %v, want %v", tok, got, tt.kind)
				}
				if seen[tok] {
					t.Fatalf("duplicate token %q", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestNewTokenCharset(t *testing.T) {
	for range 1000 {
		tok, err := secret.NewAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		if body := strings.TrimPrefix(tok, secret.PrefixAPI); strings.Trim(body, base62) != "" {
			t.Fatalf("%q has characters outside base62", tok)
		}
	}
	for range 1000 {
		s, err := secret.NewLegacySecret()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := base64.StdEncoding.DecodeString(s); err != nil || len(b) != 48 {
			t.Fatalf("legacy %q: decoded %d bytes, err %v; want 48 bytes", s, len(b), err)
		}
	}
}

// TestRandomDistribution is a coarse check that every base62 character
// occurs at roughly the same rate; modulo bias from b%62 on raw bytes would
// make the first 8 characters about 1.25× as frequent as the rest.
func TestRandomDistribution(t *testing.T) {
	var counts [256]int
	const tokens = 5000
	for range tokens {
		tok, err := secret.NewAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		for i := 4; i < 44; i++ {
			counts[tok[i]]++
		}
	}
	want := float64(tokens*40) / 62 // ≈ 3226 per character, σ ≈ 56
	for i := range len(base62) {
		c := base62[i]
		if got := float64(counts[c]); got < want*0.9 || got > want*1.1 {
			t.Errorf("character %q occurs %v times, want about %.0f", c, got, want)
		}
	}
}

// TestWithChecksum keeps the test helper honest against the golden token.
func TestWithChecksum(t *testing.T) {
	if got := withChecksum(goldenAPI[:44]); got != goldenAPI {
		t.Fatalf("withChecksum(%q) = %q, want %q", goldenAPI[:44], got, goldenAPI)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want secret.Kind
	}{
		{"golden api", goldenAPI, secret.KindAPI},
		{"golden session", goldenSession, secret.KindSession},
		{"api checksum with session prefix", "tks_" + goldenAPI[4:], secret.KindInvalid},
		{"unknown prefix with valid checksum", withChecksum("tkx_" + goldenAPI[4:44]), secret.KindInvalid},
		{"uppercase prefix with valid checksum", withChecksum("TKD_" + goldenAPI[4:44]), secret.KindInvalid},
		{"rebuilt checksum", withChecksum(goldenAPI[:44]), secret.KindAPI},
		{"random body rebuilt checksum", withChecksum("tks_" + strings.Repeat("zZ09", 10)), secret.KindSession},
		{"empty", "", secret.KindInvalid},
		{"prefix only", "tkd_", secret.KindInvalid},
		{"one short", goldenAPI[:49], secret.KindInvalid},
		{"one long", goldenAPI + "0", secret.KindInvalid},
		{"checksum only checked on full length", withChecksum("tkd_" + goldenAPI[4:43]), secret.KindInvalid},
		{"body not base62", withChecksum("tkd_" + strings.Repeat("-", 40)), secret.KindInvalid},
		{"checksum not base62", goldenAPI[:49] + "+", secret.KindInvalid},
		{"whitespace", " " + goldenAPI[1:], secret.KindInvalid},
		{"unicode same byte length", withChecksum("tkd_" + goldenAPI[4:42] + "é"), secret.KindInvalid},
		{"unicode", "tkd_ünïcødé", secret.KindInvalid},
		{"NUL bytes", strings.Repeat("\x00", 50), secret.KindInvalid},
		{"legacy", goldenLegacy, secret.KindLegacy},
		{"legacy with one pad", goldenLegacy[:63] + "=", secret.KindLegacy},
		{"legacy with two pads", goldenLegacy[:62] + "==", secret.KindLegacy},
		{"legacy with three pads", goldenLegacy[:61] + "===", secret.KindInvalid},
		{"legacy pad in the middle", goldenLegacy[:30] + "=" + goldenLegacy[31:], secret.KindInvalid},
		{"legacy plus and slash", strings.Repeat("+/", 32), secret.KindLegacy},
		{"legacy url alphabet", strings.Repeat("-_", 32), secret.KindInvalid},
		{"legacy 63", goldenLegacy[:63], secret.KindInvalid},
		{"legacy 65", goldenLegacy + "A", secret.KindInvalid},
		{"legacy 64 padded to 65", goldenLegacy + "=", secret.KindInvalid},
		{"legacy unicode", goldenLegacy[:62] + "é", secret.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secret.Classify(tt.in); got != tt.want {
				t.Errorf("Classify(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestClassifySingleSubstitution replaces every character of valid tokens
// with every other plausible byte; none of the results may be accepted.
func TestClassifySingleSubstitution(t *testing.T) {
	replacements := base62 + "_-+/= .\x00\xff"
	tokens := []string{goldenAPI, goldenSession}
	for range 5 {
		api, _ := secret.NewAPIToken()
		session, _ := secret.NewSessionToken()
		tokens = append(tokens, api, session)
	}
	for _, tok := range tokens {
		b := []byte(tok)
		for i := range b {
			orig := b[i]
			for j := range len(replacements) {
				if c := replacements[j]; c != orig {
					b[i] = c
					if got := secret.Classify(string(b)); got != secret.KindInvalid {
						t.Errorf("Classify(%q) = %v after changing position %d of %q", b, got, i, tok)
					}
				}
			}
			b[i] = orig
		}
	}
}

var hintPattern = regexp.MustCompile(`^(tkd_|tks_)?[A-Za-z0-9+/]{4}…[A-Za-z0-9+/=]{4}$`)

func TestHint(t *testing.T) {
	api, _ := secret.NewAPIToken()
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"api", goldenAPI, "tkd_0123…Ltxi"},
		{"session", goldenSession, "tks_0123…3nrg"},
		{"generated", api, api[:8] + "…" + api[46:]},
		{"legacy", goldenLegacy, "AAEC…LS4v"},
		{"legacy padded", goldenLegacy[:62] + "==", "AAEC…LS=="},
		{"bad checksum", goldenAPI[:49] + "0", ""},
		{"short", "tkd_abc", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := secret.Hint(tt.token)
			if got != tt.want {
				t.Fatalf("Hint(%q) = %q, want %q", tt.token, got, tt.want)
			}
			if got == "" {
				return
			}
			if !hintPattern.MatchString(got) {
				t.Errorf("Hint(%q) = %q, does not match %v", tt.token, got, hintPattern)
			}
			revealed := strings.TrimPrefix(strings.TrimPrefix(got, secret.PrefixAPI), secret.PrefixSession)
			if n := len(strings.ReplaceAll(revealed, "…", "")); n > 8 {
				t.Errorf("Hint(%q) = %q reveals %d characters, want at most 8", tt.token, got, n)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[secret.Kind]string{
		secret.KindInvalid: "invalid",
		secret.KindAPI:     "api",
		secret.KindSession: "session",
		secret.KindLegacy:  "legacy",
		secret.Kind(42):    "invalid",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(goldenAPI)
	f.Add(goldenSession)
	f.Add(goldenLegacy)
	f.Add(goldenAPI[:49] + "0")
	f.Add("")
	f.Add("tkd_ünïcødé")
	f.Fuzz(func(t *testing.T, s string) {
		kind := secret.Classify(s)
		hint := secret.Hint(s)
		switch kind {
		case secret.KindAPI, secret.KindSession:
			prefix := map[secret.Kind]string{secret.KindAPI: "tkd_", secret.KindSession: "tks_"}[kind]
			if len(s) != 50 || !strings.HasPrefix(s, prefix) {
				t.Fatalf("Classify(%q) = %v for a string of the wrong shape", s, kind)
			}
			if !validChecksum(s) {
				t.Fatalf("Classify(%q) = %v despite a bad checksum", s, kind)
			}
		case secret.KindLegacy:
			if len(s) != 64 {
				t.Fatalf("Classify(%q) = legacy for length %d", s, len(s))
			}
		case secret.KindInvalid:
			if hint != "" {
				t.Fatalf("Hint(%q) = %q for an invalid token", s, hint)
			}
			return
		default:
			t.Fatalf("Classify(%q) = unknown kind %d", s, int(kind))
		}
		if !hintPattern.MatchString(hint) {
			t.Fatalf("Hint(%q) = %q", s, hint)
		}
	})
}

// validChecksum is an independent check of the token checksum: it decodes
// the trailing base62 digits instead of encoding the CRC.
func validChecksum(tok string) bool {
	var v uint64
	for _, c := range []byte(tok[44:]) {
		d := strings.IndexByte(base62, c)
		if d < 0 {
			return false
		}
		v = v*62 + uint64(d)
	}
	return v == uint64(crc32.ChecksumIEEE([]byte(tok[:44])))
}

// withChecksum appends the base62 CRC32 of body, whatever body is, to
// build inputs that pass the checksum but fail another rule.
func withChecksum(body string) string {
	crc := crc32.ChecksumIEEE([]byte(body))
	var out [6]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = base62[crc%62]
		crc /= 62
	}
	return body + string(out[:])
}
