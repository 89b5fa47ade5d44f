package server

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
)

// TestBrowserDecisionsLog opens the decision log over the adr-tools folder:
// every record with its status, one record, its "superseded by" link
// followed, a search, all by keyboard where a reader would use it, and no
// sideways scrolling at 390 px.
func TestBrowserDecisionsLog(t *testing.T) {
	_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/adr-tools")})
	ctx := browsertest.New(t, 90*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decisions"), chromedp.WaitVisible(chromedp.CSS("#decisions-table"))))
	assert.Equal(t, []string{
		"1|Record architecture decisions|Accepted|2019-03-01",
		"2|Use REST between services|Superseded by 3|2019-04-02",
		"3|Use events for notifications|Accepted|2019-05-03",
	}, js[[]string](t, ctx, `[...document.querySelectorAll("#decisions-table tbody tr")].map(tr =>
		[...tr.querySelectorAll("td")].map(td => td.innerText.replace(/\s+/g, " ").trim()).join("|"))`),
		"every record with its status (in words) and date")

	// The keyboard reaches a record; its focus is visible; Enter opens it.
	var focused string
	for range 30 {
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)))
		if focused = js[string](t, ctx, `document.activeElement.getAttribute("href") || ""`); focused == "/decisions/2" {
			break
		}
	}
	require.Equal(t, "/decisions/2", focused, "Tab reaches the second record")
	assert.Equal(t, "solid", js[string](t, ctx, `getComputedStyle(document.activeElement).outlineStyle`), "focus is visible")
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(kb.Enter)))
	require.NoError(t, err)
	assert.Equal(t, base+"/decisions/2", location(t, ctx))
	assert.Equal(t, "Use REST between services", js[string](t, ctx, `document.getElementById("decision-title").innerText`))
	assert.Equal(t, "Superseded", js[string](t, ctx, `document.getElementById("decision-status").innerText.trim()`))

	// "Superseded by" leads to the record that replaced it, which says
	// what it supersedes.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#decision-superseded a")),
		chromedp.WaitVisible(chromedp.CSS("#decision-related")),
	))
	assert.Equal(t, base+"/decisions/3", location(t, ctx))
	assert.Equal(t, "Use events for notifications", js[string](t, ctx, `document.getElementById("decision-title").innerText`))
	assert.Equal(t, "/decisions/2", js[string](t, ctx, `document.querySelector("#decision-related a").getAttribute("href")`))
	// The link in the record's own text is followed within the app too.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#decision-body a[href="/decisions/2"]`)),
		chromedp.WaitVisible(chromedp.CSS("#decision-superseded")),
	))
	assert.Equal(t, base+"/decisions/2", location(t, ctx))

	// Search, from the list.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".crumbs a")),
		chromedp.WaitVisible(chromedp.CSS("#decisions-q")),
		chromedp.SendKeys(chromedp.CSS("#decisions-q"), "eventual"),
	))
	_, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(kb.Enter)))
	require.NoError(t, err)
	assert.Equal(t, base+"/decisions?q=eventual", location(t, ctx))
	assert.Equal(t, "1 record matches “eventual”.", js[string](t, ctx, `document.getElementById("decisions-count").innerText`))
	assert.Equal(t, []string{"/decisions/3"}, js[[]string](t, ctx, `[...document.querySelectorAll("#decisions-table .col-title a")].map(a => a.getAttribute("href"))`))

	// Dark mode follows the site's theme.
	light := js[string](t, ctx, `getComputedStyle(document.querySelector(".decisions-table")).backgroundColor`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#theme-toggle"))))
	assert.NotEqual(t, light, js[string](t, ctx, `getComputedStyle(document.querySelector(".decisions-table")).backgroundColor`))

	// A phone: nothing scrolls sideways.
	for _, path := range []string{"/decisions", "/decisions/2", "/decisions/3", "/decisions?q=events"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 800), chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main"))))
		assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), 390, "no sideways scrolling at 390 px: %s", path)
	}
	shot(t, ctx, "decisions-390")
}

// TestBrowserDecisionsEveryRecord lists and opens every record of an
// adr-tools and a MADR folder, and follows every supersede link each shows.
func TestBrowserDecisionsEveryRecord(t *testing.T) {
	ctx := browsertest.New(t, 90*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)
	for folder, links := range map[string]map[string][]string{
		"adr-tools": {"/decisions/1": nil, "/decisions/2": {"/decisions/3"}, "/decisions/3": {"/decisions/2"}},
		"madr":      {"/decisions/1": nil, "/decisions/2": {"/decisions/3"}, "/decisions/3": {"/decisions/2"}},
	} {
		_, base := newTestServer(t, Config{Decisions: openLog(t, "../decide/testdata/"+folder)})
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decisions"), chromedp.WaitVisible(chromedp.CSS("#decisions-table"))))
		type row struct{ Href, Title, Status string }
		rows := js[[]row](t, ctx, `[...document.querySelectorAll("#decisions-table tbody tr")].map(tr => ({
			Href: tr.querySelector(".col-title a").getAttribute("href"),
			Title: tr.querySelector(".col-title a").innerText,
			Status: tr.querySelector(".status-badge").innerText.trim()}))`)
		require.Len(t, rows, len(links), folder)
		for _, r := range rows {
			assert.NotEmpty(t, r.Status, "%s %s", folder, r.Href)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+r.Href), chromedp.WaitVisible(chromedp.CSS("#decision-body"))))
			assert.Equal(t, r.Title, js[string](t, ctx, `document.getElementById("decision-title").innerText`), "%s %s", folder, r.Href)
			assert.Equal(t, r.Status, js[string](t, ctx, `document.getElementById("decision-status").innerText.trim()`), "%s %s", folder, r.Href)
			assert.NotEmpty(t, js[string](t, ctx, `document.getElementById("decision-body").innerText.trim()`), "%s %s renders", folder, r.Href)
			shown := js[[]string](t, ctx, `[...document.querySelectorAll("#decision-superseded a, #decision-related a")].map(a => a.getAttribute("href"))`)
			assert.ElementsMatch(t, links[r.Href], shown, "%s %s: its supersede links", folder, r.Href)
			for _, href := range shown {
				require.NoError(t, chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`#decision-superseded a[href="`+href+`"], #decision-related a[href="`+href+`"]`)),
					chromedp.WaitVisible(chromedp.CSS("#decision-body")),
				))
				assert.Equal(t, base+href, location(t, ctx), "%s %s: the link is followed", folder, r.Href)
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+r.Href), chromedp.WaitVisible(chromedp.CSS("#decision-body"))))
			}
		}
	}
}
