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
	// zlib.crc32(b"tkw_" + body) for the 58-character body, in base62.
	goldenWallarm = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv46UZHy"
	// A body with its plain CRC32 (no "tkw_"): another scheme's checksum
	// must not pass for ours, so this is a legacy secret.
	plainCRCBase62 = "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA9876541ouXXV"
)

func TestNewTokens(t *testing.T) {
	t.Parallel()
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
		{"wallarm", secret.NewWallarmToken, secret.KindAPI, "", 64},
		{"format tkd", func() (string, error) { return secret.NewToken(secret.FormatTKD) }, secret.KindAPI, secret.PrefixAPI, 50},
		{"format wallarm", func() (string, error) { return secret.NewToken(secret.FormatWallarm) }, secret.KindAPI, "", 64},
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
	t.Parallel()
	for range 1000 {
		tok, err := secret.NewAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		if body := strings.TrimPrefix(tok, secret.PrefixAPI); strings.Trim(body, base62) != "" {
			t.Fatalf("%q has characters outside base62", tok)
		}
	}
	// The Wallarm Terraform provider validates api_token with this pattern.
	terraform := regexp.MustCompile(`^[A-Za-z0-9+/]{64}$`)
	for range 1000 {
		tok, err := secret.NewWallarmToken()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Trim(tok, base62) != "" || !terraform.MatchString(tok) {
			t.Fatalf("%q is not 64 base62 characters", tok)
		}
		if !validWallarmChecksum(tok) {
			t.Fatalf("%q: checksum does not verify independently", tok)
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
	t.Parallel()
	tests := []struct {
		name       string
		gen        func() (string, error)
		start, end int // the random characters
	}{
		{"tkd", secret.NewAPIToken, 4, 44},
		{"wallarm", secret.NewWallarmToken, 0, 58},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var counts [256]int
			const tokens = 5000
			for range tokens {
				tok, err := tt.gen()
				if err != nil {
					t.Fatal(err)
				}
				for i := tt.start; i < tt.end; i++ {
					counts[tok[i]]++
				}
			}
			want := float64(tokens*(tt.end-tt.start)) / 62 // tkd: ≈ 3226 per character, σ ≈ 56
			for i := range len(base62) {
				c := base62[i]
				if got := float64(counts[c]); got < want*0.9 || got > want*1.1 {
					t.Errorf("character %q occurs %v times, want about %.0f", c, got, want)
				}
			}
		})
	}
}

// TestWithChecksum keeps the test helper honest against the golden token.
func TestWithChecksum(t *testing.T) {
	t.Parallel()
	if got := withChecksum(goldenAPI[:44]); got != goldenAPI {
		t.Fatalf("withChecksum(%q) = %q, want %q", goldenAPI[:44], got, goldenAPI)
	}
	if got := withWallarmChecksum(goldenWallarm[:58]); got != goldenWallarm {
		t.Fatalf("withWallarmChecksum(%q) = %q, want %q", goldenWallarm[:58], got, goldenWallarm)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want secret.Kind
	}{
		{"golden api", goldenAPI, secret.KindAPI},
		{"golden session", goldenSession, secret.KindSession},
		{"api checksum with session prefix", "tks_" + goldenAPI[4:], secret.KindInvalid},
		// Only tkd_ and tks_ are reserved: another prefix of the same
		// alphabet is a plausible URL-safe base64 legacy secret.
		{"unknown prefix with valid checksum", withChecksum("tkx_" + goldenAPI[4:44]), secret.KindLegacy},
		{"uppercase prefix with valid checksum", withChecksum("TKD_" + goldenAPI[4:44]), secret.KindLegacy},
		{"unknown prefix not base64", withChecksum("tk._" + goldenAPI[4:44]), secret.KindInvalid},
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
		{"reserved prefix, legacy length", "tkd_" + goldenLegacy[4:], secret.KindInvalid},
		{"reserved session prefix, legacy length", "tks_" + goldenLegacy[:40], secret.KindInvalid},
		{"prefix typo is a plausible legacy secret", "tkx_" + goldenAPI[4:], secret.KindLegacy},

		// Wallarm format: checksum inside, no prefix.
		{"golden wallarm", goldenWallarm, secret.KindAPI},
		{"random body rebuilt wallarm checksum", withWallarmChecksum(strings.Repeat("Zz9", 19) + "q"), secret.KindAPI},
		{"wallarm bad checksum is legacy", goldenWallarm[:63] + "z", secret.KindLegacy},
		{"wallarm changed body is legacy", "1" + goldenWallarm[1:], secret.KindLegacy},
		{"plain CRC32 is not our checksum", plainCRCBase62, secret.KindLegacy},
		{"wallarm checksum on 63", withWallarmChecksum(goldenWallarm[:57]), secret.KindLegacy},
		{"wallarm checksum plus one", goldenWallarm + "0", secret.KindLegacy},
		{"wallarm checksum with plus", "+" + withWallarmChecksum(goldenWallarm[1:58])[1:], secret.KindLegacy},
		{"wallarm with tkd_ prefix", "tkd_" + goldenWallarm[4:], secret.KindInvalid},

		// Legacy: 40 to 128 characters of base64 (either alphabet) or hex.
		{"legacy", goldenLegacy, secret.KindLegacy},
		{"legacy with one pad", goldenLegacy[:63] + "=", secret.KindLegacy},
		{"legacy with two pads", goldenLegacy[:62] + "==", secret.KindLegacy},
		{"legacy with three pads", goldenLegacy[:61] + "===", secret.KindInvalid},
		{"legacy pad in the middle", goldenLegacy[:30] + "=" + goldenLegacy[31:], secret.KindInvalid},
		{"legacy only pads", strings.Repeat("=", 64), secret.KindInvalid},
		{"legacy plus and slash", strings.Repeat("+/", 32), secret.KindLegacy},
		{"legacy url alphabet", strings.Repeat("-_", 32), secret.KindLegacy},
		{"legacy hex 40", strings.Repeat("0123456789abcdef", 3)[:40], secret.KindLegacy},
		{"legacy hex 64", strings.Repeat("0123456789abcdef", 4), secret.KindLegacy},
		{"legacy 39", goldenLegacy[:39], secret.KindInvalid},
		{"legacy 38 padded to 40", goldenLegacy[:38] + "==", secret.KindLegacy},
		{"legacy 40", goldenLegacy[:40], secret.KindLegacy},
		{"legacy 63", goldenLegacy[:63], secret.KindLegacy},
		{"legacy 65", goldenLegacy + "A", secret.KindLegacy},
		{"legacy 64 padded to 65", goldenLegacy + "=", secret.KindLegacy},
		{"legacy 128", goldenLegacy + goldenLegacy, secret.KindLegacy},
		{"legacy 129", goldenLegacy + goldenLegacy + "A", secret.KindInvalid},
		{"legacy unicode", goldenLegacy[:62] + "é", secret.KindInvalid},
		{"legacy space", goldenLegacy[:31] + " " + goldenLegacy[32:], secret.KindInvalid},
		{"legacy dot", goldenLegacy[:31] + "." + goldenLegacy[32:], secret.KindInvalid},
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
// with every other plausible byte; none of the results may be accepted as
// a tokend token. A changed tkd_/tks_ token whose prefix survived is
// invalid (the prefixes are reserved); one whose prefix changed, and a
// changed Wallarm-format token, may be a plausible legacy secret, which
// only a database lookup can judge.
func TestClassifySingleSubstitution(t *testing.T) {
	t.Parallel()
	replacements := base62 + "_-+/= .\x00\xff"
	tokens := []string{goldenAPI, goldenSession, goldenWallarm}
	for range 5 {
		api, _ := secret.NewAPIToken()
		session, _ := secret.NewSessionToken()
		wallarm, _ := secret.NewWallarmToken()
		tokens = append(tokens, api, session, wallarm)
	}
	for _, tok := range tokens {
		b := []byte(tok)
		for i := range b {
			orig := b[i]
			for j := range len(replacements) {
				if c := replacements[j]; c != orig {
					b[i] = c
					got := secret.Classify(string(b))
					switch {
					case got == secret.KindAPI || got == secret.KindSession:
						t.Errorf("Classify(%q) = %v after changing position %d of %q", b, got, i, tok)
					case got == secret.KindLegacy && strings.HasPrefix(string(b), "tk") && b[3] == '_' && (b[2] == 'd' || b[2] == 's'):
						t.Errorf("Classify(%q) = legacy despite a reserved prefix", b)
					}
				}
			}
			b[i] = orig
		}
	}
}

var hintPattern = regexp.MustCompile(`^(tkd_|tks_)?[A-Za-z0-9+/_-]{4}…[A-Za-z0-9+/=_-]{4}$`)

func TestHint(t *testing.T) {
	t.Parallel()
	api, _ := secret.NewAPIToken()
	wallarm, _ := secret.NewWallarmToken()
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"api", goldenAPI, "tkd_0123…Ltxi"},
		{"wallarm", goldenWallarm, "0123…UZHy"},
		{"generated wallarm", wallarm, wallarm[:4] + "…" + wallarm[60:]},
		{"wallarm bad checksum is a legacy hint", goldenWallarm[:63] + "z", "0123…UZHz"},
		{"legacy url alphabet", "_-" + goldenLegacy[2:40], "_-EC…Gxwd"},
		{"reserved prefix bad checksum", "tkd_" + goldenLegacy[4:], ""},
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
	t.Parallel()
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
	f.Add(goldenWallarm)
	f.Add(plainCRCBase62)
	f.Add(goldenAPI[:49] + "0")
	f.Add("")
	f.Add("tkd_ünïcødé")
	f.Fuzz(func(t *testing.T, s string) {
		kind := secret.Classify(s)
		hint := secret.Hint(s)
		switch kind {
		case secret.KindAPI, secret.KindSession:
			if len(s) == 64 && kind == secret.KindAPI && !strings.HasPrefix(s, "tkd_") && !strings.HasPrefix(s, "tks_") {
				if strings.Trim(s, base62) != "" || !validWallarmChecksum(s) {
					t.Fatalf("Classify(%q) = api without a valid Wallarm-format checksum", s)
				}
				break
			}
			prefix := map[secret.Kind]string{secret.KindAPI: "tkd_", secret.KindSession: "tks_"}[kind]
			if len(s) != 50 || !strings.HasPrefix(s, prefix) {
				t.Fatalf("Classify(%q) = %v for a string of the wrong shape", s, kind)
			}
			if !validChecksum(s) {
				t.Fatalf("Classify(%q) = %v despite a bad checksum", s, kind)
			}
		case secret.KindLegacy:
			if len(s) < 40 || len(s) > 128 || !legacyShape.MatchString(s) {
				t.Fatalf("Classify(%q) = legacy for a string of the wrong shape", s)
			}
			if strings.HasPrefix(s, "tkd_") || strings.HasPrefix(s, "tks_") {
				t.Fatalf("Classify(%q) = legacy despite a reserved prefix", s)
			}
			if len(s) == 64 && strings.Trim(s, base62) == "" && validWallarmChecksum(s) {
				t.Fatalf("Classify(%q) = legacy for a valid Wallarm-format token", s)
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

var legacyShape = regexp.MustCompile(`^[A-Za-z0-9+/_-]+={0,2}$`)

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

// validWallarmChecksum checks a Wallarm-format token independently: the
// last 6 characters, decoded from base62, are the CRC32 of "tkw_" and the
// first 58.
func validWallarmChecksum(tok string) bool {
	var v uint64
	for _, c := range []byte(tok[58:]) {
		d := strings.IndexByte(base62, c)
		if d < 0 {
			return false
		}
		v = v*62 + uint64(d)
	}
	return v == uint64(crc32.ChecksumIEEE([]byte("tkw_"+tok[:58])))
}

// withWallarmChecksum appends the Wallarm-format checksum of body.
func withWallarmChecksum(body string) string {
	return body + withChecksum("tkw_" + body)[4+len(body):]
}
