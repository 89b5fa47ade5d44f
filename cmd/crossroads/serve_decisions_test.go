package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestServeDecisionsFlagRefusesABadFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.md")
	assert.NoError(t, os.WriteFile(file, []byte("# Notes\n"), 0o644))
	for name, dir := range map[string]string{
		"missing":      filepath.Join(t.TempDir(), "missing"),
		"not-a-folder": file,
	} {
		code, _, errOut := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--metrics-addr", "", "--decisions", dir)
		assert.Equal(t, 2, code, name)
		assert.Contains(t, errOut, "--decisions: ", name)
		assert.Contains(t, errOut, dir, name)
	}
}
