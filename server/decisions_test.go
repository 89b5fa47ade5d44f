package server

import (
	"html/template"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
)

func openLog(t *testing.T, dir string) *decide.Log {
	t.Helper()
	l, err := decide.OpenLog(t.Context(), dir)
	require.NoError(t, err)
	return l
}

// noRedirect answers a redirect with itself, so a test sees where it leads.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestDecisionsAbsentWithoutALog(t *testing.T) {
	_, base := newTestServer(t, Config{})
	res, _ := get(t, base+"/decisions")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = get(t, base+"/decisions/1")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	_, home := get(t, base+"/")
	assert.NotContains(t, home, `href="/decisions"`, "no link to a log that is not there")
}

func TestDecisionsListAdrTools(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/adr-tools")})
	_, home := get(t, base+"/")
	assert.Contains(t, home, `<a href="/decisions" >Decisions</a>`, "the site's navigation links the log")

	res, body := get(t, base+"/decisions")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `<a href="/decisions" aria-current="page">Decisions</a>`)
	assert.Contains(t, body, "<code>../decide/testdata/adr-tools</code>")
	assert.Contains(t, body, "3 records.")
	for _, want := range []string{
		`<a href="/decisions/1">Record architecture decisions</a>`,
		`<a href="/decisions/2">Use REST between services</a>`,
		`<a href="/decisions/3">Use events for notifications</a>`,
		"2019-03-01", "2019-04-02", "2019-05-03",
	} {
		assert.Contains(t, body, want)
	}
	assert.Equal(t, 2, strings.Count(body, `<span class="status-badge status-accepted"`))
	assert.Contains(t, body, `status-superseded" title="Superceded by 3. Use events for notifications"><span class="status-mark" aria-hidden="true"></span>Superseded</span>`)
	assert.Contains(t, body, `<span class="status-by">by <a href="/decisions/3" title="Use events for notifications" aria-label="3. Use events for notifications">3</a></span>`,
		"the list follows the supersede link")
}

func TestDecisionsRecordFollowsSupersedeLinks(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/adr-tools")})
	res, two := get(t, base+"/decisions/2")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, two, "<title>2. Use REST between services · Crossroads</title>")
	assert.Contains(t, two, `<h1 id="decision-title">Use REST between services</h1>`)
	assert.Contains(t, two, `Superseded</span>`)
	assert.Contains(t, two, "<time>2019-04-02</time>")
	assert.Contains(t, two, `id="decision-superseded"`)
	assert.Regexp(t, `(?s)id="decision-superseded">[^<]*<a href="/decisions/3">3. Use events for notifications</a>`, two)
	assert.NotContains(t, two, "Date: 2019-04-02", "the date shows once, above the body")
	assert.Contains(t, two, `Superceded by <a href="/decisions/3">3. Use events for notifications</a>`, "the body's link leads into the app")
	assert.Contains(t, two, `href="/decisions/1" rel="prev"`)
	assert.Contains(t, two, `href="/decisions/3" rel="next"`)

	_, three := get(t, base+"/decisions/3")
	assert.Contains(t, three, `<dt>Supersedes</dt><dd><a href="/decisions/2">2. Use REST between services</a></dd>`)
	assert.NotContains(t, three, `id="decision-superseded"`)
	assert.NotContains(t, three, `rel="next"`, "the last record has no next")

	// A record's file name, as a relative link in a record writes it,
	// leads to the record.
	res, err := noRedirect.Get(base + "/decisions/0003-use-events-for-notifications.md")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusFound, res.StatusCode)
	assert.Equal(t, "/decisions/3", res.Header.Get("Location"))
	res, _ = get(t, base+"/decisions/0003")
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestDecisionsMADR(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/madr")})
	_, list := get(t, base+"/decisions")
	assert.Contains(t, list, `<a href="/decisions/3">Browse decisions next to the code with crossroads serve</a>`)
	assert.Contains(t, list, "2024-01-10")
	assert.Contains(t, list, `<a href="/decisions/3" title="Browse decisions next to the code with crossroads serve" aria-label="3. Browse decisions next to the code with crossroads serve">3</a>`)
	_, two := get(t, base+"/decisions/2")
	assert.Regexp(t, `(?s)id="decision-superseded">[^<]*<a href="/decisions/3">3. Browse decisions`, two)
	assert.NotContains(t, two, `class="decision-status-line`, "the notice says it")
	_, one := get(t, base+"/decisions/1")
	assert.NotContains(t, one, `class="decision-status-line`, "the badge says it")
	assert.Contains(t, two, `Superseded by <a href="/decisions/3">ADR-0003</a>.`)
	_, three := get(t, base+"/decisions/3")
	assert.Contains(t, three, `<dt>Supersedes</dt><dd><a href="/decisions/2">2. Publish decisions on the wiki</a></dd>`)
	assert.Contains(t, three, "<table>")
}

func TestDecisionsSearch(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/adr-tools")})
	_, body := get(t, base+"/decisions?q=Eventual")
	assert.Contains(t, body, "1 record matches “Eventual”.")
	assert.Contains(t, body, `value="Eventual"`, "the search stays in its field")
	assert.Contains(t, body, `<a href="/decisions/3">`)
	assert.NotContains(t, body, `<a href="/decisions/1">`)
	assert.Contains(t, body, `<p class="decisions-excerpt">`, "a match shows where it is")
	assert.Regexp(t, `<p class="decisions-excerpt">[^<]*<mark>Eventual</mark> consistency`, body, "and marks the word found")
	assert.Contains(t, body, `<a href="/decisions" class="decisions-clear">`)

	_, body = get(t, base+"/decisions?q=events")
	assert.Contains(t, body, "2 records match “events”.")

	_, body = get(t, base+"/decisions?q=%3Cscript%3Ekafka")
	assert.Contains(t, body, "No record matches “&lt;script&gt;kafka”.")
	assert.NotContains(t, body, "<script>kafka")
	assert.NotContains(t, body, `id="decisions-table"`)

	res, _ := get(t, base+"/decisions?q="+strings.Repeat("a", maxDecisionQuery))
	assert.Equal(t, http.StatusOK, res.StatusCode, "the longest search")
}

func TestMarkWordsEscapesAndMarksEveryWord(t *testing.T) {
	for _, tc := range []struct{ s, q, want string }{
		{"Use events for <notifications>", "EVENTS notif", "Use <mark>events</mark> for &lt;<mark>notif</mark>ications&gt;"},
		{"a & b", "", "a &amp; b"},
		{"retry retries", "retr retries", "<mark>retr</mark>y <mark>retries</mark>"},
		{"naïve café", "café", "naïve <mark>café</mark>"},
	} {
		assert.Equal(t, template.HTML(tc.want), markWords(tc.s, tc.q), "%q / %q", tc.s, tc.q)
	}
}

func TestDecisionsRefusals(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/adr-tools")})
	for path, want := range map[string]string{
		"/decisions/9":               "There is no decision number 9 in this log.",
		"/decisions/0009-missing.md": "There is no decision number 0009-missing.md in this log.",
	} {
		res, body := get(t, base+path)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, path)
		assert.Contains(t, body, want, path)
	}
	for path, want := range map[string]string{
		"/decisions/abc":      "The record number in the address must be a number such as 3; “abc” is not one.",
		"/decisions/-1":       "“-1” is not one",
		"/decisions/+1":       "is not one",
		"/decisions/12345678": "“12345678” is not one",
		"/decisions?q=" + strings.Repeat("é", maxDecisionQuery+1): "The search (q) may be at most 200 characters long; this one has 201.",
	} {
		res, body := get(t, base+path)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, path)
		assert.Contains(t, body, want, path)
	}

	// A client that asks for JSON is told the field.
	req, err := http.NewRequest(http.MethodGet, base+"/decisions/abc", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, string(b), `"field":"number"`)
}

func TestDecisionsEmptyFolder(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, t.TempDir())})
	res, body := get(t, base+"/decisions")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `id="decisions-empty"`)
	assert.NotContains(t, body, `role="search"`, "nothing to search")
}

func TestDecisionsFollowTheFolder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"0001-record-architecture-decisions.md", "0002-use-rest-between-services.md", "0003-use-events-for-notifications.md"} {
		b, err := os.ReadFile(filepath.Join("../decide/testdata/adr-tools", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	s, base := newTestServer(t, Config{Decisions: openLog(t, dir)})
	s.decisions.every = 0 // look at the folder on every request

	require.NoError(t, os.WriteFile(filepath.Join(dir, "0004-use-grpc.md"), []byte("# 4. Use gRPC\n\nDate: 2020-01-01\n\n## Status\n\nProposed\n"), 0o644))
	_, body := get(t, base+"/decisions")
	assert.Contains(t, body, "4 records.")
	assert.Contains(t, body, `<a href="/decisions/4">Use gRPC</a>`)
	assert.Contains(t, body, `status-proposed`)

	// A record that cannot be read keeps the log as it was, and says so.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0005-huge.md"), []byte(strings.Repeat("x", decide.MaxLogRecordBytes+1)), 0o644))
	_, body = get(t, base+"/decisions")
	assert.Contains(t, body, "4 records.")
	assert.Contains(t, body, `id="decisions-stale"`)
	assert.Contains(t, body, ": "+filepath.Base(dir)+"/0005-huge.md is larger than 256 KiB", "the folder by its name, not the server's path")
	_, body = get(t, base+"/decisions/4")
	assert.Contains(t, body, `id="decisions-stale"`)

	require.NoError(t, os.Remove(filepath.Join(dir, "0005-huge.md")))
	_, body = get(t, base+"/decisions")
	assert.NotContains(t, body, `id="decisions-stale"`)
}
