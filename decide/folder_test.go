package decide

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func copyDir(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestSlug(t *testing.T) {
	assert.Equal(t, "checkout-communication", Slug("Checkout communication"))
	assert.Equal(t, "script-alert-1-script", Slug("<script>alert(1)</script>"))
	assert.Equal(t, "decision", Slug("日本"))
	assert.Equal(t, "decision", Slug(""))
	assert.Equal(t, "a-b", Slug("--A  B--"))
	assert.LessOrEqual(t, len(Slug(strings.Repeat("long title ", 20))), 60)
}

func TestReadAdrToolsRecords(t *testing.T) {
	recs, err := ListRecords(t.Context(), "testdata/adr-tools")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, Record{Number: 2, File: "0002-use-rest-between-services.md", Title: "Use REST between services",
		Status: "superseded", StatusLine: "Superceded by [3. Use events for notifications](0003-use-events-for-notifications.md)"}, recs[1])
	assert.Equal(t, "accepted", recs[2].Status)
	madr, err := ListRecords(t.Context(), "testdata/madr")
	require.NoError(t, err)
	require.Len(t, madr, 3)
	assert.True(t, madr[0].MADR)
	assert.Equal(t, "accepted", madr[0].Status)
	assert.Equal(t, "Use Markdown Architectural Decision Records", madr[0].Title)
	none, err := ListRecords(t.Context(), filepath.Join(t.TempDir(), "missing"))
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestWriteRecordNumbersAfterHighest(t *testing.T) {
	dir := copyDir(t, "testdata/adr-tools")
	a := loadExample(t, "checkout.yaml")
	r, err := shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
	require.NoError(t, err)
	assert.Equal(t, 4, r.Number)
	assert.Equal(t, "0004-checkout-communication.md", r.File)
	want, _ := shipped.Render(a, Options{Format: FormatMADR, Number: 4})
	assert.Equal(t, want, read(t, filepath.Join(dir, r.File)))

	ny, err := shipped.WriteRecord(t.Context(), dir, a, FormatNygard)
	require.NoError(t, err)
	assert.Equal(t, "0005-checkout-communication.md", ny.File)
	assert.True(t, strings.HasPrefix(read(t, filepath.Join(dir, ny.File)), "# 5. Checkout communication\n"))

	idx := read(t, filepath.Join(dir, "README.md"))
	assert.Contains(t, idx, "| [0002](0002-use-rest-between-services.md) | Use REST between services | Superceded by [3. Use events for notifications](0003-use-events-for-notifications.md) |")
	assert.Contains(t, idx, "| [0004](0004-checkout-communication.md) | Checkout communication | proposed |")
	assert.Contains(t, idx, "| [0005](0005-checkout-communication.md) | Checkout communication | Proposed |")

	_, err = shipped.WriteRecord(t.Context(), dir, a, FormatJSON)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestWriteRecordCreatesFolderAndGaps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docs", "decisions")
	r, err := shipped.WriteRecord(t.Context(), dir, loadExample(t, "checkout.yaml"), FormatMinimal)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Number)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0041-later.md"), []byte("# Later\n\n## Status\n\nAccepted\n"), 0o644))
	r, err = shipped.WriteRecord(t.Context(), dir, loadExample(t, "checkout.yaml"), FormatMinimal)
	require.NoError(t, err)
	assert.Equal(t, 42, r.Number)
}

func TestWriteRecordConcurrentWritersNeverOverwrite(t *testing.T) {
	dir := t.TempDir()
	a := loadExample(t, "checkout.yaml")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = shipped.WriteRecord(t.Context(), dir, a, FormatMADR) })
	}
	wg.Wait()
	recs, err := ListRecords(t.Context(), dir)
	require.NoError(t, err)
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		}
	}
	assert.Equal(t, ok, len(recs), "every successful write is its own file")
	assert.GreaterOrEqual(t, ok, 1)
}

func TestIndexKeepsTeamText(t *testing.T) {
	dir := copyDir(t, "testdata/madr")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Our decisions\n\nHand-written intro.\n"), 0o644))
	require.NoError(t, shipped.WriteIndex(t.Context(), dir))
	require.NoError(t, shipped.WriteIndex(t.Context(), dir))
	idx := read(t, filepath.Join(dir, "README.md"))
	assert.True(t, strings.HasPrefix(idx, "# Our decisions\n\nHand-written intro.\n\n<!-- crossroads:index -->\n"))
	assert.Equal(t, 1, strings.Count(idx, "<!-- crossroads:index -->"), "regenerating replaces, never duplicates")
}

func TestSetStatusLifecycle(t *testing.T) {
	dir := t.TempDir()
	a := loadExample(t, "checkout.yaml")
	madr, err := shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
	require.NoError(t, err)
	ny, err := shipped.WriteRecord(t.Context(), dir, a, FormatNygard)
	require.NoError(t, err)

	_, err = shipped.SetStatus(t.Context(), dir, madr.Number, "accepted")
	require.NoError(t, err)
	assert.Contains(t, read(t, filepath.Join(dir, madr.File)), "---\nstatus: accepted\ndate: 2026-11-25\n")
	_, err = shipped.SetStatus(t.Context(), dir, ny.Number, "accepted")
	require.NoError(t, err)
	assert.Contains(t, read(t, filepath.Join(dir, ny.File)), "## Status\n\nAccepted\n\n## Context")
	assert.Contains(t, read(t, filepath.Join(dir, "README.md")), "| [0001](0001-checkout-communication.md) | Checkout communication | accepted |")

	for _, tc := range []struct {
		n      int
		status string
		msg    string
	}{
		{madr.Number, "proposed", "record 1: invalid request: a accepted record can become deprecated, not proposed"},
		{madr.Number, "superseded", "record 1: invalid request: a record becomes superseded only by naming its successor: crossroads decide supersede OLD NEW"},
		{madr.Number, "done", `record 1: invalid request: status "done": must be proposed, accepted, rejected, deprecated or superseded`},
		{9, "accepted", "invalid request: no record number 9 in " + dir},
	} {
		_, err := shipped.SetStatus(t.Context(), dir, tc.n, tc.status)
		require.Error(t, err)
		assert.True(t, errors.Is(err, ErrInvalid))
		assert.Equal(t, tc.msg, err.Error())
	}
	_, err = shipped.SetStatus(t.Context(), dir, madr.Number, "deprecated")
	require.NoError(t, err)
	_, err = shipped.SetStatus(t.Context(), dir, madr.Number, "accepted")
	assert.ErrorContains(t, err, "a deprecated record is final")
}

func TestSupersedeAdrToolsAndMADR(t *testing.T) {
	dir := copyDir(t, "testdata/adr-tools")
	a := loadExample(t, "checkout.yaml")
	r, err := shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
	require.NoError(t, err)

	// A MADR record supersedes an adr-tools one.
	require.NoError(t, shipped.Supersede(t.Context(), dir, 3, r.Number))
	old := read(t, filepath.Join(dir, "0003-use-events-for-notifications.md"))
	assert.Contains(t, old, "## Status\n\nSuperseded by [ADR-0004](0004-checkout-communication.md)\n\nSupercedes [2. Use REST")
	nw := read(t, filepath.Join(dir, r.File))
	assert.Contains(t, nw, "# Checkout communication\n\nSupersedes [ADR-0003](0003-use-events-for-notifications.md).\n")

	// The adr-tools spelling is read as superseded: it cannot be superseded twice.
	err = shipped.Supersede(t.Context(), dir, 2, r.Number)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "record 2 is already superseded (Superceded by")

	// A MADR record superseded by a Nygard one.
	ny, err := shipped.WriteRecord(t.Context(), dir, a, FormatNygard)
	require.NoError(t, err)
	require.NoError(t, shipped.Supersede(t.Context(), dir, r.Number, ny.Number))
	nw = read(t, filepath.Join(dir, r.File))
	assert.Contains(t, nw, "---\nstatus: superseded by ADR-0005\n")
	assert.Contains(t, nw, "Superseded by [ADR-0005](0005-checkout-communication.md).")
	assert.Contains(t, read(t, filepath.Join(dir, ny.File)), "## Status\n\nProposed\n\nSupersedes [ADR-0004](0004-checkout-communication.md)\n\n## Context")

	recs, err := ListRecords(t.Context(), dir)
	require.NoError(t, err)
	assert.Equal(t, "superseded", recs[3].Status)
	idx := read(t, filepath.Join(dir, "README.md"))
	assert.Contains(t, idx, "| [0004](0004-checkout-communication.md) | Checkout communication | superseded by ADR-0005 |")

	assert.ErrorIs(t, shipped.Supersede(t.Context(), dir, 1, 1), ErrInvalid)
	assert.ErrorIs(t, shipped.Supersede(t.Context(), dir, 1, 77), ErrInvalid)
}
