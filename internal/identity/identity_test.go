package identity_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokend/tokend/internal/identity"
)

func TestCanonicalEmail(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n-len("@example.com")) + "@example.com" }
	for _, c := range []struct {
		name, in, want string
		reason         identity.Reason // "" when accepted
	}{
		// Accepted, and what they become.
		{name: "plain ASCII", in: "admin@example.com", want: "admin@example.com"},
		{name: "mixed case folds", in: "AdMiN@Example.COM", want: "admin@example.com"},
		{name: "surrounding whitespace trimmed", in: " \t admin@example.com \r\n", want: "admin@example.com"},
		{name: "surrounding no-break and ideographic spaces trimmed", in: "\u00a0admin@example.com\u3000", want: "admin@example.com"},
		{name: "fullwidth letters become ASCII", in: "ａdmin@example.com", want: "admin@example.com"},
		{name: "all fullwidth, fullwidth @ and dot", in: "ａｄｍｉｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", want: "admin@example.com"},
		{name: "mathematical bold letters become ASCII", in: "𝐚𝐝𝐦𝐢𝐧@example.com", want: "admin@example.com"},
		{name: "precomposed é", in: "jos\u00e9@example.com", want: "jos\u00e9@example.com"},
		{name: "e + combining acute composes to é", in: "jose\u0301@example.com", want: "jos\u00e9@example.com"},
		{name: "uppercase É folds", in: "JOS\u00c9@example.com", want: "jos\u00e9@example.com"},
		{name: "sharp s folds to ss", in: "STRAẞE@example.com", want: "strasse@example.com"},
		{name: "Cyrillic-only domain", in: "user@пример.рф", want: "user@пример.рф"},
		{name: "Cyrillic-only address, uppercase", in: "ИВАН@ПРИМЕР.РФ", want: "иван@пример.рф"},
		{name: "Cyrillic о is kept (the skeleton catches it)", in: "r\u043eot@example.com", want: "r\u043eot@example.com"},
		{name: "Devanagari with its own vowel signs", in: "हिन्दी@example.com", want: "हिन्दी@example.com"},
		{name: "Greek", in: "ΑΛΦΑ@example.gr", want: "αλφα@example.gr"},
		{name: "plus and dots in the local part", in: "first.last+tag@sub.example.com", want: "first.last+tag@sub.example.com"},
		{name: "254 octets", in: long(254), want: long(254)},

		// Refused.
		{name: "empty", in: "", reason: identity.ReasonEmpty},
		{name: "only whitespace", in: " \t\n", reason: identity.ReasonEmpty},
		{name: "255 octets", in: long(255), reason: identity.ReasonTooLong},
		{name: "very long input refused before normalisation", in: strings.Repeat("ａ", 2000) + "@example.com", reason: identity.ReasonTooLong},
		{name: "fullwidth letters counted after NFKC", in: strings.Repeat("ａ", 242) + "@example.com", want: strings.Repeat("a", 242) + "@example.com"},
		{name: "invalid UTF-8", in: "adm\xffin@example.com", reason: identity.ReasonInvalidUTF8},
		{name: "NUL", in: "admin\x00@example.com", reason: identity.ReasonControl},
		{name: "inner tab", in: "ad\tmin@example.com", reason: identity.ReasonControl},
		{name: "DEL", in: "admin\x7f@example.com", reason: identity.ReasonControl},
		{name: "C1 control", in: "admin\u0085x@example.com", reason: identity.ReasonControl},
		{name: "zero-width space U+200B inside", in: "ad\u200bmin@example.com", reason: identity.ReasonFormat},
		{name: "zero-width non-joiner", in: "ad\u200cmin@example.com", reason: identity.ReasonFormat},
		{name: "zero-width joiner", in: "ad\u200dmin@example.com", reason: identity.ReasonFormat},
		{name: "word joiner", in: "ad\u2060min@example.com", reason: identity.ReasonFormat},
		{name: "BOM U+FEFF at the start", in: "\ufeffadmin@example.com", reason: identity.ReasonFormat},
		{name: "soft hyphen", in: "ad\u00admin@example.com", reason: identity.ReasonFormat},
		{name: "right-to-left override", in: "admin\u202e@example.com", reason: identity.ReasonFormat},
		{name: "left-to-right mark", in: "admin@\u200eexample.com", reason: identity.ReasonFormat},
		{name: "bidi isolate", in: "admin\u2066@example.com", reason: identity.ReasonFormat},
		{name: "tag character", in: "admin\U000E0041@example.com", reason: identity.ReasonFormat},
		{name: "private use", in: "admin\ue000@example.com", reason: identity.ReasonPrivateUse},
		{name: "supplementary private use", in: "admin\U000F0000@example.com", reason: identity.ReasonPrivateUse},
		{name: "unassigned", in: "admin\u0378@example.com", reason: identity.ReasonUnassigned},
		{name: "noncharacter", in: "admin\ufffe@example.com", reason: identity.ReasonUnassigned},
		{name: "inner space", in: "ad min@example.com", reason: identity.ReasonWhitespace},
		{name: "inner no-break space", in: "ad\u00a0min@example.com", reason: identity.ReasonWhitespace},
		{name: "inner ideographic space", in: "ad\u3000min@example.com", reason: identity.ReasonWhitespace},
		{name: "combining acute with no precomposed form", in: "q\u0301@example.com", reason: identity.ReasonCombiningMark},
		{name: "stacked combining marks", in: "e\u0301\u0301@example.com", reason: identity.ReasonCombiningMark},
		{name: "combining mark on Cyrillic letter", in: "\u0430\u0308\u0304@example.com", reason: identity.ReasonCombiningMark},
		{name: "combining mark at the start", in: "\u0301admin@example.com", reason: identity.ReasonCombiningMark},
		{name: "combining mark after @", in: "admin@\u0301example.com", reason: identity.ReasonCombiningMark},
		{name: "script mark on a letter of another script", in: "a\u093fb@example.com", reason: identity.ReasonCombiningMark},
		{name: "dotted capital I folds to i + U+0307, which does not compose", in: "\u0130@example.com", reason: identity.ReasonCombiningMark},
		{name: "missing @", in: "admin.example.com", reason: identity.ReasonMissingAt},
		{name: "repeated @", in: "admin@evil@example.com", reason: identity.ReasonRepeatedAt},
		{name: "fullwidth @ is an @ too", in: "admin@evil＠example.com", reason: identity.ReasonRepeatedAt},
		{name: "small commercial at is an @ too", in: "admin\ufe6bexample.com@x.com", reason: identity.ReasonRepeatedAt},
		{name: "empty local part", in: "@example.com", reason: identity.ReasonEmptyLocal},
		{name: "empty domain", in: "admin@", reason: identity.ReasonEmptyDomain},
		{name: "trailing dot", in: "admin@example.com.", reason: identity.ReasonTrailingDot},
		{name: "trailing fullwidth dot", in: "admin@example.com．", reason: identity.ReasonTrailingDot},
		{name: "trailing ideographic full stop", in: "admin@example.com\u3002", reason: identity.ReasonDotVariant},
		{name: "halfwidth ideographic full stop", in: "admin@example\uff61com", reason: identity.ReasonDotVariant},
		{name: "leading dot in domain", in: "admin@.example.com", reason: identity.ReasonEmptyLabel},
		{name: "double dot in domain", in: "admin@example..com", reason: identity.ReasonEmptyLabel},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := identity.CanonicalEmail(c.in)
			if c.reason != "" {
				var e *identity.Error
				if !errors.As(err, &e) || e.Reason != c.reason {
					t.Fatalf("CanonicalEmail(%+q) = %+q, %v; want reason %q", c.in, got, err, c.reason)
				}
				if !errors.Is(err, &identity.Error{Reason: c.reason}) {
					t.Fatal("errors.Is does not match the reason")
				}
				if got != "" {
					t.Fatalf("a refused address returned %+q", got)
				}
				if v := strings.TrimSpace(c.in); v != "" && strings.Contains(err.Error(), v) {
					t.Fatalf("the error echoes the value: %s", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("CanonicalEmail(%+q) = %+q, %v; want %+q", c.in, got, err, c.want)
			}
			again, err := identity.CanonicalEmail(got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: %+q -> %+q, %v", got, again, err)
			}
		})
	}
}

func TestSkeleton(t *testing.T) {
	t.Parallel()
	canon := func(s string) string {
		t.Helper()
		c, err := identity.CanonicalEmail(s)
		if err != nil {
			t.Fatalf("CanonicalEmail(%+q): %v", s, err)
		}
		return c
	}
	same := [][2]string{
		{"paypal@example.com", "p\u0430ypal@example.com"},         // Cyrillic а
		{"root@example.com", "r\u043eot@example.com"},             // Cyrillic о
		{"admin@example.com", "ａdmin@example.com"},                // fullwidth (NFKC already)
		{"admin@example.com", "ADMIN@EXAMPLE.COM"},                // case (folding already)
		{"apple@example.com", "\u0430pple@example.com"},           // Cyrillic а
		{"paypal@example.com", "paypa\u04cf@example.com"},         // Cyrillic palochka for l
		{"scope@example.com", "\u0455\u0441\u043epe@example.com"}, // Cyrillic ѕ, с, о
		{"admin@example.com", "admin@ex\u0430mple.com"},           // in the domain
		{"admin@example.com", "\u0251dmin@example.com"},           // Latin alpha
		{"josé@example.com", "jose\u0301@example.com"},            // composed either way
		{"mail@example.com", "rnail@example.com"},                 // rn looks like m
	}
	for _, p := range same {
		a, b := identity.Skeleton(canon(p[0])), identity.Skeleton(canon(p[1]))
		if a != b {
			t.Errorf("%+q and %+q: skeletons %+q and %+q differ", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{
		{"admin@example.com", "admins@example.com"},
		{"josé@example.com", "jose@example.com"},
		{"user@пример.рф", "user@example.com"},
		{"alice@example.com", "bob@example.com"},
	}
	for _, p := range differ {
		a, b := identity.Skeleton(canon(p[0])), identity.Skeleton(canon(p[1]))
		if a == b {
			t.Errorf("%+q and %+q share the skeleton %+q", p[0], p[1], a)
		}
	}
}

// FuzzCanonicalEmail: never panics; accepted output is valid, bounded,
// free of what is refused, and idempotent; the skeleton of a canonical
// address is stable.
func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range []string{
		"admin@example.com", "ａdmin@example.com", "r\u043eot@example.com", "ad\u200bmin@example.com",
		"jose\u0301@example.com", "jos\u00e9@example.com", "admin@example.com.", "AdMiN@Example.COM",
		"  admin@example.com\t", "user@пример.рф", "हिन्दी@example.com", "\u0130@example.com", "ǅ@example.com",
		"\u0345@x.y", "ﷺ@example.com", "㎒@example.com", "a@b@c", "@", "", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := identity.CanonicalEmail(in)
		if err != nil {
			var e *identity.Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("untyped error %v", err)
			}
			if c != "" {
				t.Fatalf("refused but returned %+q", c)
			}
			return
		}
		if !utf8.ValidString(c) || len(c) > identity.MaxLength || strings.Count(c, "@") != 1 {
			t.Fatalf("bad canonical form %+q", c)
		}
		again, err := identity.CanonicalEmail(c)
		if err != nil || again != c {
			t.Fatalf("not idempotent: %+q -> %+q -> %+q, %v", in, c, again, err)
		}
		if identity.Skeleton(again) != identity.Skeleton(c) {
			t.Fatalf("skeleton not stable for %+q", c)
		}
	})
}

// Every code point, alone and after a letter, is either refused or gives an
// idempotent canonical form: the fuzz target's property, exhaustively for
// single characters (where NFKC and case folding have their special cases).
func TestCanonicalEmailEveryCodePoint(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		for _, in := range []string{string(r) + "@example.com", "a" + string(r) + "@example.com", "x@ex" + string(r) + ".com"} {
			c, err := identity.CanonicalEmail(in)
			if err != nil {
				continue
			}
			if again, err := identity.CanonicalEmail(c); err != nil || again != c {
				t.Fatalf("%U: %+q -> %+q -> %+q, %v", r, in, c, again, err)
			}
		}
	}
}
