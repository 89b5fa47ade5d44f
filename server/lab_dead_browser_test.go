package server

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/labs"
)

// pagePost posts a form from the page, as the learner's browser, and
// returns the answer's status.
func pagePost(t *testing.T, ctx context.Context, path string, form string) int {
	t.Helper()
	return awaitJS[int](t, ctx, `fetch(document.querySelector("[data-base]").dataset.base + `+strconv.Quote(path)+`, {method: "POST", credentials: "same-origin",
		headers: {"X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded"}, body: `+strconv.Quote(form)+`}).then(r => r.status)`)
}

// shotOf saves a screenshot of one element when LAB_SHOTS names a folder.
func shotOf(t *testing.T, ctx context.Context, sel, name string) {
	dir := os.Getenv("LAB_SHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// scripts turns the page's scripts on or off.
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// awaitJS evaluates a promise on the page and returns what it resolves to.
func awaitJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return v
}

// TestBrowserLabDeadLettersByKindPagedAndTraced groups and pages the dead
// letters, follows one to its signup's record, and replays a kind, reading
// the note inside the panel.
func TestBrowserLabDeadLettersByKindPagedAndTraced(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 120*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#dead-letters"))))
	base := js[string](t, ctx, `document.getElementById("dead-letters").dataset.base`)

	// 3 signups whose email gives up after 2 tries, and 12 poison messages
	// (one letter per group each): 27 dead letters.
	require.Equal(t, 200, pagePost(t, ctx, "/settings", "partial=1&email_error_rate=1&max_deliveries=2"))
	require.Equal(t, 200, pagePost(t, ctx, "/run", "signups=3&concurrency=1"))
	for range 12 {
		require.Equal(t, 200, pagePost(t, ctx, "/poison", ""))
	}
	require.Eventually(t, func() bool {
		return awaitJS[int](t, ctx, `fetch(`+strconv.Quote(base+"/dead-letters?limit=1")+`, {headers: {Accept: "application/json"}}).then(r => r.json()).then(j => j.total)`) == 27 &&
			awaitJS[bool](t, ctx, `fetch(`+strconv.Quote(base+"/snapshot")+`).then(r => r.json()).then(j => !j.status.running)`)
	}, 30*time.Second, 100*time.Millisecond, "27 dead letters")

	// Grouped by kind, paged by 20; clock times in the reader's zone
	// (India, half an hour off every UTC minute), the UTC time as tooltip.
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"})
		return err
	})))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+base+"#dead-letters"), chromedp.WaitVisible(chromedp.CSS("#dead-count"))))
	clock := js[[]string](t, ctx, `(function () { var el = document.querySelector("#dead-table [data-local-time]");
		var want = "at " + new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "Asia/Kolkata"}).format(new Date(el.dataset.localTime));
		return [el.textContent, want, el.title]; })()`)
	assert.Equal(t, clock[1], clock[0], "the dead letter's time is the reader's own")
	assert.Regexp(t, `^at \d\d:\d\d:\d\d UTC$`, clock[2], "the server's UTC time stays as the tooltip")
	assert.NotContains(t, clock[0], clock[2][3:8], "not the UTC clock")
	assert.Contains(t, text(t, ctx, "#dead-count"), "20 of 27")
	kinds := js[[]string](t, ctx, `Array.from(document.querySelectorAll("#dead-kinds .dead-kind")).map(a => a.textContent.replace(/\s+/g, " ").trim())`)
	assert.Equal(t, []string{"All — 27", "email · gave up after its tries — 3", "email · unreadable (poison) — 12", "analytics · unreadable (poison) — 12"}, kinds)
	assert.Equal(t, 20, js[int](t, ctx, `document.querySelectorAll("#dead-table .replay-one").length`))
	shotOf(t, ctx, "#dead-letters", "dead-panel")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#dead-older")), chromedp.WaitVisible(chromedp.CSS("#dead-newer"))))
	assert.Contains(t, text(t, ctx, "#dead-count"), "7 of 27")
	assert.Contains(t, text(t, ctx, "#dead-count"), "21–27")

	// One kind, then one letter's signup.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`li[data-kind="email:gave_up"] a.dead-kind`)), chromedp.WaitVisible(chromedp.CSS("#dead-filter"))))
	assert.Contains(t, text(t, ctx, "#dead-count"), "3 of 3")
	assert.Equal(t, "true", js[string](t, ctx, `document.querySelector('li[data-kind="email:gave_up"] a').getAttribute("aria-current")`))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#dead-table .signup-link")), chromedp.WaitVisible(chromedp.CSS("#group-states"))))
	record := js[string](t, ctx, `location.pathname`)
	assert.Contains(t, record, base+"/signups/u_")
	assert.Equal(t, "dead", js[string](t, ctx, `document.getElementById("group-email").dataset.state`))
	assert.Contains(t, text(t, ctx, "#group-email"), "dead-lettered")
	assert.Contains(t, text(t, ctx, "#group-email"), "after 2 tries")
	assert.Contains(t, text(t, ctx, "#group-analytics"), "done")
	assert.Contains(t, text(t, ctx, "#effects"), "no email")
	shot(t, ctx, "signup-record")

	// Both pages fit a phone, light and dark.
	for _, theme := range []string{"light", "dark"} {
		for _, w := range []int64{1280, 390} {
			name := theme + "-" + strconv.FormatInt(w, 10)
			for _, page := range []string{base + "?dead_code=gave_up#dead-letters", record} {
				require.NoError(t, chromedp.Do(ctx,
					chromedp.EmulateViewport(w, 900),
					chromedp.Evaluate[chromedp.Void](`localStorage.setItem("cr-theme", "`+theme+`")`),
					chromedp.Navigate(e.base+page),
					chromedp.WaitVisible(chromedp.CSS("h1")),
				))
				assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), int(w), "no sideways scrolling: %s %s", page, name)
				if page == record {
					shot(t, ctx, "signup-"+name)
				} else {
					require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#dead-table"))))
					js[bool](t, ctx, `document.querySelector("#dead-table details").open = true`)
					shotOf(t, ctx, "#dead-letters", "dead-"+name)
				}
			}
		}
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1200, 900)))

	// Replay one kind once email works again: the note is in the panel, in
	// view, and stays when the page refreshes the panel.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+base+"?dead_group=email#dead-letters"), chromedp.WaitVisible(chromedp.CSS("#dead-kinds"))))
	require.Equal(t, 200, pagePost(t, ctx, "/settings", "partial=1&email_error_rate=0&max_deliveries=60"))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`li[data-kind="email:gave_up"] .replay-kind`))))
	waitJS(t, ctx, `(document.querySelector("#dead-letters #dead-status #dead-note") || {}).textContent === "Replayed 3 dead letters of email · gave up after its tries. Each is back on the stream for its own group only; one that fails again comes back here."`, 10*time.Second)
	inView := `(function () { var r = document.getElementById("dead-note").getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; })()`
	assert.True(t, js[bool](t, ctx, inView), "the note is in view")
	assert.Equal(t, "status", js[string](t, ctx, `document.getElementById("dead-status").getAttribute("role")`))
	waitJS(t, ctx, `!document.querySelector('li[data-kind="email:gave_up"]')`, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // the live updates refresh the panel as the counts change
	assert.Contains(t, text(t, ctx, "#dead-note"), "Replayed 3 dead letters")
	assert.Contains(t, text(t, ctx, "#dead-filter"), "Showing only email", "the list chosen stays")
	assert.Contains(t, text(t, ctx, "#dead-count"), "12 of 12")
	shotOf(t, ctx, "#dead-letters", "dead-replayed")

	// Without scripts the form posts and comes back to the panel, the note
	// in view.
	require.NoError(t, chromedp.Do(ctx, scripts(false)))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+base+"?dead_group=analytics"), chromedp.WaitVisible(chromedp.CSS("#dead-table"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#dead-table .replay-one")), chromedp.WaitVisible(chromedp.CSS("#dead-note"))))
	assert.Contains(t, js[string](t, ctx, `location.search`), "dead_group=analytics")
	assert.Contains(t, text(t, ctx, "#dead-note"), "Replayed 1 dead letter: the unreadable message is back on the stream for analytics.")
	assert.True(t, js[bool](t, ctx, inView), "the note is in view after the redirect")
	shot(t, ctx, "dead-replayed-nojs")
	require.NoError(t, chromedp.Do(ctx, scripts(true)))

	// The record now says the email went out.
	require.Eventually(t, func() bool {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+record), chromedp.WaitVisible(chromedp.CSS("#group-states"))))
		return js[string](t, ctx, `document.getElementById("group-email").dataset.state`) == "done"
	}, 10*time.Second, 200*time.Millisecond, "the replayed email was sent")
	assert.Contains(t, text(t, ctx, "#effects"), "1 welcome email sent")
}
