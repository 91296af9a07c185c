package secret_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

func TestCheckLegacySecret(t *testing.T) {
	t.Parallel()
	wallarm, _ := secret.NewWallarmToken()
	api, _ := secret.NewAPIToken()
	session, _ := secret.NewSessionToken()
	tests := []struct {
		name string
		in   string
		want error // nil, ErrLegacyShape or ErrLegacyWeak
	}{
		{"golden legacy", goldenLegacy, nil},
		{"std base64 padded", "c2VjcmV0IHZhbHVlIGZyb20gV2FsbGFybSB3aXRoIHBhZGRpbmc=", nil},
		{"url base64", "Zm9vYmFyLWJhel9xdXV4X2NvcmdlX2dyYXVsdF9nYXJwbHlfd2FsZG8", nil},
		{"hex 40", "3f786850e387550fdab836ed7e6dc881de23001b", nil},
		{"hex 64", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", nil},
		{"64 base62 without our checksum", "5EvA9rW81yLgD1z4u8uTpe078zbwKolIEfmIJjhrvvD7JFYhrNuB63wlQRg5VDBx", nil},
		{"run of 9 allowed", goldenLegacy[:20] + "klmnopqrs" + goldenLegacy[29:], nil},

		{"empty", "", secret.ErrLegacyShape},
		{"too short", goldenLegacy[:39], secret.ErrLegacyShape},
		{"too long", strings.Repeat(goldenLegacy, 2) + "A", secret.ErrLegacyShape},
		{"outside the alphabet", goldenLegacy[:40] + "!" + goldenLegacy[41:], secret.ErrLegacyShape},
		{"three pads", goldenLegacy[:61] + "===", secret.ErrLegacyShape},
		{"pad in the middle", goldenLegacy[:30] + "=" + goldenLegacy[31:], secret.ErrLegacyShape},
		{"padded length not a multiple of 4", goldenLegacy + "=", secret.ErrLegacyShape},
		{"mixed base64 alphabets", "+" + goldenLegacy[1:40] + "-" + goldenLegacy[41:], secret.ErrLegacyShape},
		{"tokend wallarm-format token", wallarm, secret.ErrLegacyShape},
		{"tokend api token", api, secret.ErrLegacyShape},
		{"tokend session token", session, secret.ErrLegacyShape},
		{"reserved prefix", "tkd_" + goldenLegacy[4:], secret.ErrLegacyShape},

		{"one character", strings.Repeat("A", 64), secret.ErrLegacyWeak},
		{"one character padded", strings.Repeat("A", 63) + "=", secret.ErrLegacyWeak},
		{"one character two pads", strings.Repeat("a", 62) + "==", secret.ErrLegacyWeak},
		{"period 2", strings.Repeat("ab", 32), secret.ErrLegacyWeak},
		{"period 3 not aligned", strings.Repeat("xyz", 22)[:64], secret.ErrLegacyWeak},
		{"period 16, hex", strings.Repeat("0123456789abcdef", 4), secret.ErrLegacyWeak},
		{"half repeated", goldenLegacy[:32] + goldenLegacy[:32], secret.ErrLegacyWeak},
		{"ascending run", "0123456789" + goldenLegacy[10:], secret.ErrLegacyWeak},
		{"ascending alphabet", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", secret.ErrLegacyWeak},
		{"descending run", goldenLegacy[:50] + "zyxwvutsrqpo" + goldenLegacy[62:], secret.ErrLegacyWeak},
		{"run of 10 inside", goldenLegacy[:20] + "klmnopqrst" + goldenLegacy[30:], secret.ErrLegacyWeak},
		{"nearly one character", strings.Repeat("A", 62) + "BC", secret.ErrLegacyWeak},
		{"two symbols, no period", "ABBABAABBAABABBABAABABBAABBABAABBAABABBAABBABAABABBABAABBAABABBA", secret.ErrLegacyWeak},
		{"four symbols, no period", "ACGTTGCAAGCTTCGAGATCCTAGGCTAATCGCGATTAGCCATGGTACGATCAGTCTGAACTG", secret.ErrLegacyWeak},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := secret.CheckLegacySecret(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckLegacySecret(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckLegacySecret(%q) = %v, want %v", tt.in, err, tt.want)
			}
			// The message explains, but never quotes the value.
			if len(tt.in) >= 8 && strings.Contains(err.Error(), tt.in[:8]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

// TestCheckLegacySecretRandom: random secrets of every shape Wallarm issued
// always pass, at the shortest and the longest length allowed.
func TestCheckLegacySecretRandom(t *testing.T) {
	t.Parallel()
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	raw := func(size int) []byte {
		b := make([]byte, size)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	gens := map[string]func() string{
		"hex 40":           func() string { return hex.EncodeToString(raw(20)) },
		"hex 64":           func() string { return hex.EncodeToString(raw(32)) },
		"hex 128":          func() string { return hex.EncodeToString(raw(64)) },
		"HEX 40":           func() string { return strings.ToUpper(hex.EncodeToString(raw(20))) },
		"std base64 40":    func() string { return base64.StdEncoding.EncodeToString(raw(30)) },
		"std base64 44 =":  func() string { return base64.StdEncoding.EncodeToString(raw(31)) },
		"std base64 44 ==": func() string { return base64.StdEncoding.EncodeToString(raw(32)) },
		"std base64 64":    func() string { return base64.StdEncoding.EncodeToString(raw(48)) },
		"std base64 128":   func() string { return base64.StdEncoding.EncodeToString(raw(96)) },
		"url base64 40":    func() string { return base64.RawURLEncoding.EncodeToString(raw(30)) },
		"url base64 43":    func() string { return base64.RawURLEncoding.EncodeToString(raw(32)) },
		"url base64 padded": func() string {
			return base64.URLEncoding.EncodeToString(raw(32))
		},
		"legacy generator": func() string { s, _ := secret.NewLegacySecret(); return s },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			for range n {
				s := gen()
				if err := secret.CheckLegacySecret(s); err != nil {
					t.Fatalf("CheckLegacySecret(%q) = %v for a random secret", s, err)
				}
				if k := secret.Classify(s); k != secret.KindLegacy {
					t.Fatalf("Classify(%q) = %v for a random legacy secret", s, k)
				}
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    secret.Format
		wantErr bool
	}{
		{"tkd", secret.FormatTKD, false},
		{"", secret.FormatTKD, false},
		{"wallarm", secret.FormatWallarm, false},
		{"Wallarm", 0, true},
		{"tks", 0, true},
	}
	for _, tt := range tests {
		got, err := secret.ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if !tt.wantErr && tt.in != "" && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	if _, err := secret.NewToken(secret.Format(7)); err == nil {
		t.Error("NewToken(unknown format) succeeded")
	}
	if s := secret.Format(7).String(); s != "Format(7)" {
		t.Errorf("Format(7).String() = %q", s)
	}
}
