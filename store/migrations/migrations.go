// Package migrations holds the versioned, forward-only schema migrations,
// one directory per SQL dialect with the same numbered files in each.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
