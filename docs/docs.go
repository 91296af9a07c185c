// Package docs carries the documents the binary serves itself: the web
// console's page about rule refusals is docs/RULES.md's table, so that the
// page and the document cannot disagree.
package docs

import _ "embed"

// Rules is docs/RULES.md.
//
//go:embed RULES.md
var Rules string
