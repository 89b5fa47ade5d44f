package decide

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func logHref(n int) string { return "/decisions/" + strconv.Itoa(n) }

func numbers(es []LogEntry) []int {
	out := []int{}
	for _, e := range es {
		out = append(out, e.Number)
	}
	return out
}

func TestLogReadsAdrTools(t *testing.T) {
	l, err := OpenLog(t.Context(), "testdata/adr-tools")
	require.NoError(t, err)
	require.Equal(t, 3, l.Len())
	assert.Equal(t, []int{1, 2, 3}, numbers(l.Entries()))

	one, ok := l.Entry(1)
	require.True(t, ok)
	assert.Equal(t, "Record architecture decisions", one.Title)
	assert.Equal(t, "accepted", one.Status)
	assert.Equal(t, "2019-03-01", one.Date)
	assert.Equal(t, "0001-record-architecture-decisions.md", one.File)
	assert.Equal(t, "0001-record-architecture-decisions", one.Slug)
	assert.False(t, one.MADR)
	assert.Empty(t, one.Supersedes)
	assert.Empty(t, one.SupersededBy)

	two, _ := l.Entry(2)
	assert.Equal(t, "superseded", two.Status, "adr-tools' 'Superceded' spelling")
	assert.Equal(t, "Superceded by [3. Use events for notifications](0003-use-events-for-notifications.md)", two.StatusLine)
	assert.Equal(t, "Superceded by 3. Use events for notifications", two.StatusText)
	assert.Equal(t, "2019-04-02", two.Date)
	assert.Equal(t, []int{3}, two.SupersededBy)
	assert.Empty(t, two.Supersedes)

	three, _ := l.Entry(3)
	assert.Equal(t, []int{2}, three.Supersedes)
	assert.Empty(t, three.SupersededBy)
	assert.Contains(t, three.Body, "Publish events.")

	prev, next := l.Neighbours(2)
	assert.Equal(t, [2]int{1, 3}, [2]int{prev, next})
	prev, next = l.Neighbours(1)
	assert.Equal(t, [2]int{0, 2}, [2]int{prev, next})
	prev, next = l.Neighbours(3)
	assert.Equal(t, [2]int{2, 0}, [2]int{prev, next})

	e, ok := l.Lookup("0003-use-events-for-notifications.md")
	assert.True(t, ok)
	assert.Equal(t, 3, e.Number)
	e, ok = l.Lookup("0003-use-events-for-notifications")
	assert.True(t, ok)
	assert.Equal(t, 3, e.Number)
	_, ok = l.Lookup("0009-nothing.md")
	assert.False(t, ok)
	_, ok = l.Entry(9)
	assert.False(t, ok)
}

func TestLogReadsMADR(t *testing.T) {
	l, err := OpenLog(t.Context(), "testdata/madr")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, numbers(l.Entries()))

	one, _ := l.Entry(1)
	assert.True(t, one.MADR)
	assert.Equal(t, "Use Markdown Architectural Decision Records", one.Title)
	assert.Equal(t, "2024-01-10", one.Date, "front matter date")
	assert.NotContains(t, one.Body, "decision-makers", "the front matter is not the body")

	two, _ := l.Entry(2)
	assert.Equal(t, "superseded", two.Status)
	assert.Equal(t, "superseded by ADR-0003", two.StatusText)
	assert.Equal(t, "2024-02-01", two.Date)
	assert.Equal(t, []int{3}, two.SupersededBy)

	three, _ := l.Entry(3)
	assert.Equal(t, "Browse decisions next to the code with crossroads serve", three.Title, "the title is plain text")
	assert.Equal(t, "accepted", three.Status)
	assert.Equal(t, "2024-03-15", three.Date)
	assert.Equal(t, []int{2}, three.Supersedes)
}

func TestLogRendersRecordsWithLinksInTheApp(t *testing.T) {
	l, err := OpenLog(t.Context(), "testdata/adr-tools")
	require.NoError(t, err)
	two, _ := l.Entry(2)
	h, err := l.HTML(two, logHref)
	require.NoError(t, err)
	assert.Contains(t, string(h), `Superceded by <a href="/decisions/3">3. Use events for notifications</a>`)
	assert.Contains(t, string(h), "<h2>Context</h2>")
	assert.NotContains(t, string(h), "<h1>", "the page shows the title itself")
	assert.NotContains(t, string(h), "Date: 2019-04-02", "and the date")

	m, err := OpenLog(t.Context(), "testdata/madr")
	require.NoError(t, err)
	three, _ := m.Entry(3)
	h, err = m.HTML(three, logHref)
	require.NoError(t, err)
	assert.Contains(t, string(h), `Supersedes <a href="/decisions/2">ADR-0002</a>.`)
	assert.Contains(t, string(h), `<a href="https://adr.github.io/madr/">MADR project</a>`, "external links stay")
	assert.Contains(t, string(h), "<table>", "tables are rendered")
}

// writeLog makes a folder of records from name -> text.
func writeLog(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	return dir
}

func TestLogRecordsAreInert(t *testing.T) {
	dir := writeLog(t, map[string]string{
		"0001-hostile.md": "# Use <script>alert(1)</script> &amp; `code`\n\nDate: <b>2024</b>\n\n## Status\n\nAccepted\n\n" +
			"<script>alert(2)</script>\n\n<img src=x onerror=alert(3)>\n\n[click](javascript:alert(4)) [data](data:text/html,x) " +
			"[ok](0002-other.md#decision) [up](../secret.md) [ext](https://example.com/0002-other.md)\n",
		"0002-other.md": "# Other\n\n## Status\n\nProposed\n\nAmends [1. Hostile](./0001-hostile.md)\n",
	})
	l, err := OpenLog(t.Context(), dir)
	require.NoError(t, err)
	one, _ := l.Entry(1)
	assert.Equal(t, "Use alert(1) & code", one.Title, "raw HTML is no part of a plain title")
	assert.Equal(t, "2024", one.Date)
	assert.Equal(t, []int{2}, one.AmendedBy)
	two, _ := l.Entry(2)
	assert.Equal(t, []int{1}, two.Amends)

	h, err := l.HTML(one, logHref)
	require.NoError(t, err)
	s := string(h)
	for _, bad := range []string{"<script", "<img", "onerror", "javascript:", "data:text"} {
		assert.NotContains(t, s, bad)
	}
	assert.Contains(t, s, `<a href="/decisions/2">ok</a>`)
	assert.Contains(t, s, `<a href="../secret.md">up</a>`, "links to other files stay as written")
	assert.Contains(t, s, `<a href="https://example.com/0002-other.md">ext</a>`)
}

func TestLogSearch(t *testing.T) {
	l, err := OpenLog(t.Context(), "testdata/adr-tools")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, numbers(l.Search("")))
	assert.Equal(t, []int{1, 2, 3}, numbers(l.Search("   ")))
	assert.Equal(t, []int{1}, numbers(l.Search("RECORD")), "title, any case")
	assert.Equal(t, []int{2, 3}, numbers(l.Search("rest")), "3 names 2 in its body")
	assert.Equal(t, []int{3}, numbers(l.Search("EVENTUAL consistency")), "body, every word")
	assert.Equal(t, []int{2, 3}, numbers(l.Search("events")), "number order")
	assert.Empty(t, l.Search("kafka"))
	assert.Empty(t, l.Search("rest kafka"), "every word must match")

	three, _ := l.Entry(3)
	assert.Equal(t, "Accepted Supercedes 2. Use REST between services Notifications were slow. Publish events. Eventual consistency.", Excerpt(three, "slow", 200),
		"the text without its title, date and headings")
	ex := Excerpt(three, "eventual", 40)
	assert.True(t, strings.HasPrefix(ex, "…") && strings.HasSuffix(ex, "Publish events. Eventual consistency."), ex)
	ex = Excerpt(three, "slow", 20)
	assert.Contains(t, ex, "slow")
	assert.LessOrEqual(t, len([]rune(ex)), 22)
	assert.Empty(t, Excerpt(three, "kafka", 80))
}

func TestLogRefreshReadsChanges(t *testing.T) {
	dir := copyDir(t, "testdata/adr-tools")
	l, err := OpenLog(t.Context(), dir)
	require.NoError(t, err)
	same, err := l.Refresh(t.Context())
	require.NoError(t, err)
	assert.Same(t, l, same, "nothing changed: nothing is read")

	// The command line supersedes a record while the log is open.
	a := loadExample(t, "checkout.yaml")
	r, err := shipped.WriteRecord(t.Context(), dir, a, FormatMADR)
	require.NoError(t, err)
	require.NoError(t, shipped.Supersede(t.Context(), dir, 3, r.Number))
	fresh, err := l.Refresh(t.Context())
	require.NoError(t, err)
	require.NotSame(t, l, fresh)
	assert.Equal(t, 4, fresh.Len())
	three, _ := fresh.Entry(3)
	assert.Equal(t, "superseded", three.Status)
	assert.Equal(t, []int{4}, three.SupersededBy)
	assert.Equal(t, []int{2}, three.Supersedes)
	four, _ := fresh.Entry(4)
	assert.Equal(t, []int{3}, four.Supersedes)
	assert.Equal(t, a.Date, four.Date)
}

func TestLogBounds(t *testing.T) {
	_, err := OpenLog(t.Context(), filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist, "the folder must exist")

	empty, err := OpenLog(t.Context(), t.TempDir())
	require.NoError(t, err)
	assert.Zero(t, empty.Len())
	assert.Empty(t, empty.Search("x"))

	big := writeLog(t, map[string]string{"0001-big.md": "# Big\n\n" + strings.Repeat("x", MaxLogRecordBytes)})
	_, err = OpenLog(t.Context(), big)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "0001-big.md is larger than 256 KiB")

	dup := writeLog(t, map[string]string{"0001-a.md": "# A\n", "0001-b.md": "# B\n"})
	_, err = OpenLog(t.Context(), dup)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "both have number 1")

	many := t.TempDir()
	for i := range MaxLogRecords + 1 {
		require.NoError(t, os.WriteFile(filepath.Join(many, fmt.Sprintf("%04d-r.md", i+1)), []byte("# R\n"), 0o644))
	}
	_, err = OpenLog(t.Context(), many)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "more than 2000 records")
	require.NoError(t, os.Remove(filepath.Join(many, "0001-r.md")))
	full, err := OpenLog(t.Context(), many)
	require.NoError(t, err, "exactly the bound is fine")
	assert.Equal(t, MaxLogRecords, full.Len())

	// All records together are bounded too.
	heavy := t.TempDir()
	chunk := "# R\n\n" + strings.Repeat("y", MaxLogRecordBytes-10)
	for i := range MaxLogBytes/len(chunk) + 1 {
		require.NoError(t, os.WriteFile(filepath.Join(heavy, fmt.Sprintf("%04d-r.md", i+1)), []byte(chunk), 0o644))
	}
	_, err = OpenLog(t.Context(), heavy)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "more than 32 MiB")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = OpenLog(ctx, "testdata/adr-tools")
	require.ErrorIs(t, err, context.Canceled)
}

func TestLogStaysInItsFolder(t *testing.T) {
	outside := writeLog(t, map[string]string{"secret.md": "# Secret\n\nthe password\n"})

	// A link inside the folder is read; one that leads out is refused.
	dir := copyDir(t, "testdata/adr-tools")
	require.NoError(t, os.Symlink("0001-record-architecture-decisions.md", filepath.Join(dir, "0009-linked.md")))
	l, err := OpenLog(t.Context(), dir)
	require.NoError(t, err)
	nine, ok := l.Entry(9)
	require.True(t, ok)
	assert.Equal(t, "Record architecture decisions", nine.Title)

	for name, target := range map[string]string{
		"absolute": filepath.Join(outside, "secret.md"),
		"relative": filepath.Join("..", filepath.Base(outside), "secret.md"),
	} {
		dir := copyDir(t, "testdata/adr-tools")
		require.NoError(t, os.Symlink(target, filepath.Join(dir, "0004-escape.md")), name)
		_, err := OpenLog(t.Context(), dir)
		require.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), "0004-escape.md is a link that leads out of the folder", name)
	}

	// A pipe named like a record is refused without being opened.
	dir = copyDir(t, "testdata/adr-tools")
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "0004-pipe.md"), 0o644))
	err = within(t, 5*time.Second, func() error { _, err := OpenLog(t.Context(), dir); return err })
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "0004-pipe.md is a named pipe")
}
