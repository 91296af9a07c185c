package perm

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// setWords sizes Set; 2 words hold 128 permissions.
const (
	setWords = 2
	setBits  = setWords * 64
)

// Set is a set of catalog permissions. It is a comparable value type: copy
// it freely and compare with ==. The zero value is the empty set.
type Set struct {
	words [setWords]uint64
}

// SetOf returns the set of the given permissions. Unknown ones are ignored.
func SetOf(ps ...Permission) Set {
	var s Set
	for _, p := range ps {
		s = s.with(p)
	}
	return s
}

// Has reports whether p is in s. It is false for unknown permissions.
func (s Set) Has(p Permission) bool {
	i, ok := catalogIdx[p]
	return ok && s.words[i/64]&(1<<(i%64)) != 0
}

// Intersect returns the permissions in both s and o.
func (s Set) Intersect(o Set) Set {
	for i := range s.words {
		s.words[i] &= o.words[i]
	}
	return s
}

// Union returns the permissions in s or o.
func (s Set) Union(o Set) Set {
	for i := range s.words {
		s.words[i] |= o.words[i]
	}
	return s
}

// Minus returns the permissions in s that are not in o.
func (s Set) Minus(o Set) Set {
	for i := range s.words {
		s.words[i] &^= o.words[i]
	}
	return s
}

// SubsetOf reports whether every permission in s is in o.
func (s Set) SubsetOf(o Set) bool {
	return s.Minus(o).Empty()
}

// Empty reports whether s has no permissions.
func (s Set) Empty() bool {
	return s == Set{}
}

// Len returns the number of permissions in s.
func (s Set) Len() int {
	n := 0
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// Permissions returns the permissions in s in catalog order.
func (s Set) Permissions() []Permission {
	out := make([]Permission, 0, s.Len())
	for wi, w := range s.words {
		for w != 0 {
			out = append(out, catalog[wi*64+bits.TrailingZeros64(w)])
			w &= w - 1 // clear the lowest set bit
		}
	}
	return out
}

// Strings returns the permissions in s as strings, in catalog order.
func (s Set) Strings() []string {
	ps := s.Permissions()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// Names is Strings for the hot path: the list is computed once per distinct
// set and shared, so the caller must not modify it. Every request reports
// its caller's permissions (GET /v1/user, verify), and a deployment has few
// distinct sets (the roles and a handful of custom grants); past namesMax
// distinct sets it stops remembering new ones and computes them each time.
func (s Set) Names() []string {
	if v, ok := names.Load(s); ok {
		return v.([]string)
	}
	out := s.Strings()
	if namesLen.Load() < namesMax {
		if _, loaded := names.LoadOrStore(s, out); !loaded {
			namesLen.Add(1)
		}
	}
	return out
}

const namesMax = 4096

var (
	names    sync.Map // Set → []string
	namesLen atomic.Int64
	jsons    sync.Map // Set → []byte
	jsonsLen atomic.Int64
)

// JSON is Names as a JSON array, for the hot path's hand-written answers:
// encoded once per distinct set and shared (the caller must not modify
// it), like Names. Catalog names need no escaping.
func (s Set) JSON() []byte {
	if v, ok := jsons.Load(s); ok {
		return v.([]byte)
	}
	ns := s.Names()
	n := 2
	for _, name := range ns {
		n += len(name) + 3
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, name := range ns {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"')
	}
	out = append(out, ']')
	if jsonsLen.Load() < namesMax {
		if _, loaded := jsons.LoadOrStore(s, out); !loaded {
			jsonsLen.Add(1)
		}
	}
	return out
}

// with returns s plus p; unknown permissions leave s unchanged.
func (s Set) with(p Permission) Set {
	if i, ok := catalogIdx[p]; ok {
		s.words[i/64] |= 1 << (i % 64)
	}
	return s
}
