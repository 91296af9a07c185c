//go:build tools

// Package tools pins the code generators used by `make generate`, so that
// everyone regenerates gen/ with exactly the same version.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)
