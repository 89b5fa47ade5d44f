// Package content holds the words a learner reads: lessons, the glossary, the
// questionnaire text, lab scenarios and the site's own pages.
//
// Keeping prose out of Go string literals lets writers change a sentence
// without touching code, and lets tests lint every word that ships.
package content

import "embed"

// FS is every file under content/, embedded into the binary.
//
//go:embed site lessons decide labs workshops glossary.yaml
var FS embed.FS
