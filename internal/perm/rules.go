package perm

import (
	"slices"
	"strconv"
	"strings"
)

// SourceRoleCustom is the source role of a list that is not exactly one role.
const SourceRoleCustom = "custom"

// Expand resolves a permission list: role names expand to their sets,
// catalog permissions stand for themselves. Any unknown name makes the whole
// list invalid: the result is the empty Set and an *UnknownError listing
// every unknown name. (R1 itself, refusing such a list, is decided in
// internal/rules.)
func Expand(names []string) (Set, error) {
	s, unknown := expand(names)
	if len(unknown) > 0 {
		return Set{}, &UnknownError{Names: unknown}
	}
	return s, nil
}

// UnknownError lists names that are neither a role nor a catalog permission,
// in input order without duplicates, for the 400 response detail.
type UnknownError struct {
	Names []string
}

func (e *UnknownError) Error() string {
	quoted := make([]string, len(e.Names))
	for i, n := range e.Names {
		quoted[i] = strconv.Quote(n)
	}
	return "unknown permission or role: " + strings.Join(quoted, ", ")
}

// ExpandKnown is Expand for stored lists, on the per-request path: names a
// later release removed are ignored so that old tokens keep working, and
// nothing is allocated.
func ExpandKnown(names []string) Set { return expandKnown(names) }

// SourceRole returns the role name when the list is exactly one role name
// (repeated or not), else SourceRoleCustom.
func SourceRole(names []string) string {
	if len(names) == 0 {
		return SourceRoleCustom
	}
	first := names[0]
	for _, n := range names[1:] {
		if n != first {
			return SourceRoleCustom
		}
	}
	if !Role(first).Valid() {
		return SourceRoleCustom
	}
	return first
}

// Reduce returns a stored list without the permissions no longer in
// allowed (internal/rules applies it when an owner's role is reduced, R12).
//
//   - A role name fully inside allowed stays, so the token keeps its source role.
//   - A role name partly inside allowed is replaced, at its position, by its
//     allowed permissions in catalog order.
//   - A permission stays if allowed.
//   - Unknown entries and duplicates are dropped; survivors keep their order.
//
// The result may be empty (never nil); the caller then disables the token.
func Reduce(names []string, allowed Set) []string {
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	keep := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range names {
		if r := Role(n); r.Valid() {
			rs := r.Permissions()
			if rs.SubsetOf(allowed) {
				keep(n)
				continue
			}
			for _, p := range rs.Intersect(allowed).Strings() {
				keep(p)
			}
			continue
		}
		if allowed.Has(Permission(n)) {
			keep(n)
		}
	}
	return out
}

// Normalize removes duplicates from a submitted list, keeping the first
// occurrence of each name, so stored lists compare and display cleanly.
func Normalize(names []string) []string {
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// expand resolves names, returning the set of the known ones and the unknown
// names in input order without duplicates.
func expand(names []string) (Set, []string) {
	var s Set
	var unknown []string
	for _, n := range names {
		ns, ok := resolve(n)
		if ok {
			s = s.Union(ns)
		} else if !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
	}
	return s, unknown
}

// expandKnown is expand without tracking unknown names, so that the
// per-request path does not allocate.
func expandKnown(names []string) Set {
	var s Set
	for _, n := range names {
		ns, _ := resolve(n)
		s = s.Union(ns)
	}
	return s
}

// resolve maps one name, role or permission, to its set.
func resolve(name string) (Set, bool) {
	if d, ok := roleDefs[Role(name)]; ok {
		return d.perms, true
	}
	if _, ok := catalogIdx[Permission(name)]; ok {
		return SetOf(Permission(name)), true
	}
	return Set{}, false
}
