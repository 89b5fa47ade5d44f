//go:build !unix

package main

// fileLimit is unknown here; the defaults that depend on it keep their caps.
func fileLimit() int { return 0 }
