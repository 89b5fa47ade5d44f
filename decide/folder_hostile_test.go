package decide

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFolderRefusesAbsurdRecordNumbers(t *testing.T) {
	a := loadExample(t, "checkout.yaml")
	for _, name := range []string{"9223372036854775807-x.md", "99999999999999999999999-x.md", "1000000-x.md"} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("# X\n\n## Status\n\nAccepted\n"), 0o644))
		_, err := shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
		require.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), filepath.Join(dir, name)+": record numbers above 999999 are not supported; rename the file")
		entries, _ := os.ReadDir(dir)
		assert.Len(t, entries, 1, "nothing was written")
		assert.ErrorIs(t, shipped.WriteIndex(t.Context(), dir), ErrInvalid)
	}
	// The highest allowed number is read, but nothing can follow it.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "999999-last.md"), []byte("# Last\n\n## Status\n\nAccepted\n"), 0o644))
	recs, err := ListRecords(t.Context(), dir)
	require.NoError(t, err)
	assert.Equal(t, MaxRecordNumber, recs[0].Number)
	_, err = shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "already has the highest record number 999999")
}

// within runs f and fails the test if it has not returned after d: the
// pipe tests would otherwise hang the whole run when the fix regresses.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still blocked after %s", d)
		return nil
	}
}

func TestFolderNeverOpensAPipe(t *testing.T) {
	dir := copyDir(t, "testdata/adr-tools")
	fifo := filepath.Join(dir, "0004-pipe.md")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))

	err := within(t, 5*time.Second, func() error { _, err := ListRecords(t.Context(), dir); return err })
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), fifo+" is a named pipe, not a file; move it out of the records folder")

	for name, op := range map[string]func() error{
		"write": func() error {
			_, err := shipped.WriteRecord(t.Context(), dir, loadExample(t, "checkout.yaml"), FormatMADR)
			return err
		},
		"status":    func() error { _, err := shipped.SetStatus(t.Context(), dir, 3, "deprecated"); return err },
		"supersede": func() error { return shipped.Supersede(t.Context(), dir, 1, 3) },
		"index":     func() error { return shipped.WriteIndex(t.Context(), dir) },
	} {
		assert.ErrorIs(t, within(t, 5*time.Second, op), ErrInvalid, name)
	}

	// A README.md that is a pipe is not read either.
	dir = copyDir(t, "testdata/adr-tools")
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "README.md"), 0o644))
	err = within(t, 5*time.Second, func() error { return shipped.WriteIndex(t.Context(), dir) })
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "README.md is a named pipe")

	// A link to a record is read as the record.
	dir = copyDir(t, "testdata/adr-tools")
	require.NoError(t, os.Symlink(filepath.Join(dir, "0001-record-architecture-decisions.md"), filepath.Join(dir, "0009-linked.md")))
	recs, err := ListRecords(t.Context(), dir)
	require.NoError(t, err)
	assert.Equal(t, 9, recs[len(recs)-1].Number)
}

func TestFolderOperationsStopWhenCancelled(t *testing.T) {
	dir := copyDir(t, "testdata/adr-tools")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ListRecords(ctx, dir)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = shipped.WriteRecord(ctx, dir, loadExample(t, "checkout.yaml"), FormatMADR)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = shipped.SetStatus(ctx, dir, 3, "deprecated")
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, shipped.Supersede(ctx, dir, 1, 3), context.Canceled)
	assert.ErrorIs(t, shipped.WriteIndex(ctx, dir), context.Canceled)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "nothing was written")
}
