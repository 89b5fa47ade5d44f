package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
)

// runCLIWithin runs the command line under ctx and fails the test if it
// has not returned after d, so a regression that blocks shows as a failure
// rather than a hung test run.
func runCLIWithin(t *testing.T, ctx context.Context, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		var out, errb syncBuffer
		code := run(ctx, args, &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(d):
		t.Fatalf("crossroads %s: still running after %s", strings.Join(args, " "), d)
		return 0, "", ""
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestDecideAnswersMustBeAFile(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "decide", "--answers", dir)
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Equal(t, "crossroads: --answers: "+dir+" is a folder; pass an answers file (YAML or JSON)\n", stderr)
}

func TestDecideAnswersFromAPipeStopOnSignal(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "answers.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	// Nobody writes to the pipe: the read waits until the context (SIGTERM
	// in main) is done, then the command ends.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	code, _, stderr := runCLIWithin(t, ctx, 5*time.Second, "decide", "--answers", fifo)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "read answers from "+fifo+": stopped waiting: context deadline exceeded")
	// The process would exit here; in the test, free the reader left waiting.
	if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}

	// A pipe with a writer is read as any file.
	fifo = filepath.Join(t.TempDir(), "answers.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	b, err := os.ReadFile(checkoutAnswers)
	require.NoError(t, err)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.Write(b)
			f.Close()
		}
	}()
	code, out, stderr := runCLIWithin(t, t.Context(), 5*time.Second, "decide", "--answers", fifo)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "# Checkout communication")
}

func TestDecideOutRefusesPipesAndAbsurdNumbers(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "0002-pipe.md")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	code, _, stderr := runCLIWithin(t, t.Context(), 5*time.Second, "decide", "--answers", checkoutAnswers, "--out", dir)
	assert.Equal(t, 2, code)
	assert.Equal(t, "crossroads: "+fifo+" is a named pipe, not a file; move it out of the records folder\n", stderr)
	for _, args := range [][]string{{"status", "2", "accepted"}, {"supersede", "1", "2"}, {"index"}} {
		code, _, stderr = runCLIWithin(t, t.Context(), 5*time.Second, append(append([]string{"decide"}, args...), "--dir", dir)...)
		assert.Equal(t, 2, code, args)
		assert.Contains(t, stderr, "is a named pipe", args)
	}

	dir = t.TempDir()
	huge := filepath.Join(dir, "9223372036854775807-x.md")
	require.NoError(t, os.WriteFile(huge, []byte("# X\n\n## Status\n\nAccepted\n"), 0o644))
	code, _, stderr = runCLI(t, "decide", "--answers", checkoutAnswers, "--out", dir)
	assert.Equal(t, 2, code)
	assert.Equal(t, fmt.Sprintf("crossroads: %s: record numbers above %d are not supported; rename the file\n", huge, decide.MaxRecordNumber), stderr)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no record numbered -9223372036854775808 was written")
}

func TestDecideRefusesHostileAnswers(t *testing.T) {
	var junk strings.Builder
	for i := 0; junk.Len() < decide.MaxInputBytes-16; i++ {
		fmt.Fprintf(&junk, "k%05d: 1\n", i)
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"dup.json", `{"title": "T", "title": "U"}`, "title: is given twice (lines 1 and 1); keep one"},
		{"bidi.yaml", "title: \"Pay \u202Ednuf\"\njourneys: [{name: J, interactions: [{name: A, from: a, to: b, consistency: strong}]}]\n",
			"title: must not contain U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"junk.yaml", junk.String(), "(file): has more than 32 fields"},
	} {
		code, out, stderr := runCLI(t, "decide", "--answers", writeFile(t, tc.name, tc.text))
		assert.Equal(t, 2, code, tc.name)
		assert.Empty(t, out, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
		assert.Less(t, len(stderr), 2048, "%s: one short message, not a page of errors", tc.name)
	}

	// Many mistakes: the first 20 and a count of the rest.
	var many strings.Builder
	many.WriteString("title: T\njourneys:\n- name: J\n  interactions:\n")
	for range 30 {
		many.WriteString("  - {consistency: maybe}\n")
	}
	code, _, stderr := runCLI(t, "decide", "--answers", writeFile(t, "many.yaml", many.String()))
	assert.Equal(t, 2, code)
	assert.Equal(t, decide.MaxErrors+2, strings.Count(stderr, "\n"), stderr) // heading, 20 problems, the count
	assert.True(t, strings.HasSuffix(stderr, "\n… and 100 more problems; fix the ones above first\n"), stderr)
}
