package labs

import "embed"

// Source is the lab's own Go source, so lessons can show the real signup
// handlers (signupSync and signupAsync in signup.go) rather than a copy that
// could drift from what runs.
//
//go:embed *.go
var Source embed.FS
