// Package identity turns the e-mail address a person types into the one form
// tokend stores and compares, and into the confusable skeleton that
// uniqueness is checked on, so that look-alike accounts ("ａdmin" in
// fullwidth letters, a Cyrillic "о" for a Latin "o", an invisible U+200B, a
// stray combining mark, a trailing dot) cannot sit next to the real one.
//
// It is about confusables and invisibles, not about banning Unicode: a
// precomposed "josé@example.com" or an all-Cyrillic domain is accepted.
//
// Both functions are pure. The Unicode tables are those of the Go toolchain
// (unicode, golang.org/x/text/unicode/norm and cases agree on the version);
// the confusables data is that of go.mau.fi/util/confusable.
package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.mau.fi/util/confusable"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxLength is the longest canonical address, in octets of its UTF-8 form
// (RFC 5321's 256-octet path less the angle brackets).
const MaxLength = 254

// Reason names why an address was refused. It never contains the address.
type Reason string

// The reasons CanonicalEmail refuses an address for.
const (
	ReasonEmpty         Reason = "is empty"
	ReasonTooLong       Reason = "is longer than 254 octets"
	ReasonInvalidUTF8   Reason = "is not valid UTF-8"
	ReasonControl       Reason = "contains a control character"
	ReasonFormat        Reason = "contains an invisible formatting character"
	ReasonPrivateUse    Reason = "contains a private-use character"
	ReasonUnassigned    Reason = "contains an unassigned code point"
	ReasonWhitespace    Reason = "contains whitespace"
	ReasonCombiningMark Reason = "contains a combining mark that does not compose with its letter"
	ReasonMissingAt     Reason = "has no @"
	ReasonRepeatedAt    Reason = "has more than one @"
	ReasonEmptyLocal    Reason = "has nothing before the @"
	ReasonEmptyDomain   Reason = "has nothing after the @"
	ReasonTrailingDot   Reason = "ends its domain with a dot"
	ReasonEmptyLabel    Reason = "has an empty label in its domain"
	ReasonDotVariant    Reason = "uses an ideographic full stop in its domain"
	ReasonUnstable      Reason = "does not have a stable normal form"
)

// Error is the typed error of CanonicalEmail: it says what is wrong, never
// which value was wrong, so it is safe to log and to answer with.
type Error struct{ Reason Reason }

func (e *Error) Error() string { return "e-mail address " + string(e.Reason) }

// Is makes errors.Is(err, &Error{Reason: r}) true for every error of reason r.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

func fail(r Reason) (string, error) { return "", &Error{Reason: r} }

var fold = cases.Fold()

// CanonicalEmail returns the form of an e-mail address that tokend stores
// and compares: surrounding whitespace trimmed, NFKC-normalised, then
// Unicode-case-folded (and normalised again until stable). It refuses,
// with an *Error, addresses that contain control, format (zero-width, BOM,
// bidi controls), private-use or unassigned characters, inner whitespace,
// combining marks left over after NFKC composition, or that do not have
// exactly one "@" with something on both sides, or whose domain ends with
// a dot or has an empty label, or that are longer than MaxLength octets.
//
// CanonicalEmail is idempotent: CanonicalEmail(CanonicalEmail(x)) ==
// CanonicalEmail(x) for every x it accepts.
func CanonicalEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return fail(ReasonEmpty)
	}
	// Compatibility forms shrink at most from 4 octets to 1 under NFKC, so
	// anything longer cannot come out short enough: refuse before the work.
	if len(s) > 4*MaxLength {
		return fail(ReasonTooLong)
	}
	if !utf8.ValidString(s) {
		return fail(ReasonInvalidUTF8)
	}
	// Invisible and unassigned characters are refused as typed, before
	// normalisation could hide or change them.
	if r, ok := checkRunes(s); !ok {
		return fail(r)
	}
	out := norm.NFKC.String(s)
	stable := false
	for range 4 {
		next := norm.NFKC.String(fold.String(out))
		if next == out {
			stable = true
			break
		}
		out = next
	}
	if !stable {
		return fail(ReasonUnstable)
	}
	// Normalisation maps some characters onto others (U+00A0 to a space,
	// U+FF20 to "@"); the result is checked again, and so are the marks.
	if r, ok := checkRunes(out); !ok {
		return fail(r)
	}
	if r, ok := checkMarks(out); !ok {
		return fail(r)
	}
	if len(out) > MaxLength {
		return fail(ReasonTooLong)
	}
	local, domain, found := strings.Cut(out, "@")
	switch {
	case !found:
		return fail(ReasonMissingAt)
	case strings.Contains(domain, "@"):
		return fail(ReasonRepeatedAt)
	case local == "":
		return fail(ReasonEmptyLocal)
	case domain == "":
		return fail(ReasonEmptyDomain)
	case strings.ContainsAny(domain, "\u3002\uff61"):
		// IDNA reads these as label separators: "example.com。" would be
		// "example.com." in DNS.
		return fail(ReasonDotVariant)
	case strings.HasSuffix(domain, "."):
		return fail(ReasonTrailingDot)
	case strings.HasPrefix(domain, ".") || strings.Contains(domain, ".."):
		return fail(ReasonEmptyLabel)
	}
	return out, nil
}

// checkRunes refuses control, format, private-use, unassigned and
// whitespace characters.
func checkRunes(s string) (Reason, bool) {
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Cc, r):
			return ReasonControl, false
		case unicode.Is(unicode.Cf, r):
			return ReasonFormat, false
		case unicode.Is(unicode.Co, r):
			return ReasonPrivateUse, false
		case !assigned(r):
			return ReasonUnassigned, false
		case unicode.IsSpace(r) || unicode.Is(unicode.Z, r):
			return ReasonWhitespace, false
		}
	}
	return "", true
}

// assigned reports whether r has a general category other than Cn
// (unassigned code points and noncharacters). The categories are listed
// one by one: unicode.C includes Cn in recent Go releases.
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// checkMarks refuses the combining marks that NFKC could not compose into
// their base: the script-neutral ones (Inherited: U+0300–U+036F and the
// like, which stack on any letter and make look-alikes) always, and a
// script's own marks (a Devanagari vowel sign, a Thai tone mark) unless they
// follow a letter or mark of the same script, as they do in real words.
func checkMarks(s string) (Reason, bool) {
	var prev rune = -1
	for _, r := range s {
		if unicode.Is(unicode.M, r) {
			if unicode.Is(unicode.Inherited, r) || prev < 0 || !sameScript(prev, r) {
				return ReasonCombiningMark, false
			}
		}
		prev = r
	}
	return "", true
}

func sameScript(a, b rune) bool {
	for _, t := range unicode.Scripts {
		if unicode.Is(t, b) {
			return unicode.Is(t, a)
		}
	}
	return false
}

// Skeleton returns the UTS #39 confusable skeleton of a canonical address
// (the result of CanonicalEmail): two addresses that look alike, such as
// "paypal@example.com" and "pаypal@example.com" with a Cyrillic "а", have
// the same skeleton. Uniqueness of accounts is checked on it. A skeleton is
// for comparison only, never for display or for sending mail.
func Skeleton(canonical string) string {
	return confusable.Skeleton(canonical)
}
