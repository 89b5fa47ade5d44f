package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
)

// TestBrowserAFigureShowsTheRunThatMeasuredIt reads a chapter as a learner:
// a quoted figure opens, from the keyboard, a note with the command that
// repeats its run, and its link leads to that recorded run, where the same
// command and the claims checked on it are shown, at desktop and phone
// widths.
func TestBrowserAFigureShowsTheRunThatMeasuredIt(t *testing.T) {
	cat := realCatalog(t)
	ch := chapterWith(t, cat, `class="figure-value"`)
	db := redistest.Open(t)
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Logger: quietLog()}})
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	_, base := newTestServer(t, Config{Redis: db.Client, Lessons: cat, Labs: mgr})

	ctx := lessonsBrowser(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(base+"/lessons/"+ch.Slug),
		chromedp.WaitVisible(chromedp.CSS("#lesson-title")),
		chromedp.Focus(chromedp.CSS(".lesson-body .figure-value")),
		chromedp.KeyEvent(kb.Enter),
	))
	pop := js[string](t, ctx, `document.activeElement.getAttribute("popovertarget")`)
	require.NotEmpty(t, pop)
	open := func() bool {
		return js[bool](t, ctx, `document.getElementById("`+pop+`").matches(":popover-open")`)
	}
	assert.True(t, open(), "Enter on a figure opens its note")
	note := js[string](t, ctx, `document.getElementById("`+pop+`").innerText`)
	assert.Contains(t, note, "Measured in the recorded run")
	command := js[string](t, ctx, `document.querySelector("#`+pop+` code").innerText`)
	assert.True(t, strings.HasPrefix(command, "crossroads lab run --mode "), command)
	shot(t, ctx, "figure-note")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)))
	assert.False(t, open(), "Esc closes the note")

	// The note's link opens the recorded run with the same command.
	href := js[string](t, ctx, `document.querySelector("#`+pop+` a").getAttribute("href")`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".lesson-body .figure-value")),
		chromedp.Click(chromedp.CSS("#"+pop+" a")),
		chromedp.WaitVisible(chromedp.CSS("#results")),
	))
	assert.Equal(t, base+href, location(t, ctx))
	anchor := href[strings.Index(href, "#"):]
	assert.Equal(t, command, js[string](t, ctx, `document.querySelector("`+anchor+` pre.command").innerText`),
		"the recorded run is the one the figure quoted")
	assert.Positive(t, js[int](t, ctx, `document.querySelectorAll("#claim-list li.claim-ok").length`), "the claims checked on it")
	assert.Zero(t, js[int](t, ctx, `document.querySelectorAll("#claim-list li.claim-no").length`))
	shot(t, ctx, "recorded-run-1280")

	for _, w := range []int64{390, 1280} {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(w, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#results"))))
		assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), int(w), "no sideways scrolling at %d px", w)
	}
	shot(t, ctx, "recorded-run-390")

	// Every recording is listed, and reachable from the lab's index.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.crumbs a[href="/labs/results"]`)), chromedp.WaitVisible(chromedp.CSS("#results-table"))))
	assert.GreaterOrEqual(t, js[int](t, ctx, `document.querySelectorAll("#results-table tbody tr").length`), 9)
}
