// Package perm is the permission catalog of the API-token service and the
// rules that turn roles and permission lists into effective permission sets.
//
// A permission is "resource:action". Token permission lists may mix catalog
// permissions with role names; roles expand to fixed sets. Sets are bitsets
// over the catalog so that checks on the request path cost a few word
// operations and never allocate.
//
// The package is pure: no I/O, no global mutable state after init.
package perm
