package server

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/labs"
)

// waitJS polls a JavaScript condition until it is true; errors while the
// page navigates (the lab reloads itself at times) count as "not yet".
func waitJS(t *testing.T, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({url: location.pathname + location.search, lab: Object.assign({}, (document.getElementById("lab") || {}).dataset), dead: document.querySelectorAll("#dead-table tbody tr").length, state: (document.getElementById("run-state") || {}).textContent})`))
	snap, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById("lab").dataset.base + "/snapshot").then(r => r.json()).then(j => JSON.stringify({dead: j.snapshot.dead_letters, len: j.snapshot.stream_length, groups: j.snapshot.groups, c: j.snapshot.counters}))`, chromedp.EvalAwaitPromise))
	t.Fatalf("waiting for %s: timed out (last error: %v; page: %s; snapshot: %.600s %v)", expr, last, state, snap, err)
}

// text reads an element's text (HTML or SVG), trimmed.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(el){ return el ? (el.innerText !== undefined ? el.innerText : el.textContent).trim() : "(missing)"; })(document.querySelector(`+strconv.Quote(sel)+`))`))
	require.NoError(t, err, sel)
	return s
}

func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// shot saves a full-page screenshot when LAB_SHOTS names a folder (for
// looking at the page, not for asserting).
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("LAB_SHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// TestBrowserLabSyncVersusAsyncWithEmailDown toggles modes, takes email down
// and runs 200 signups each way, reading the outcomes on the page.
func TestBrowserLabSyncVersusAsyncWithEmailDown(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	waitJS(t, ctx, `document.querySelector("#pic-email-state").textContent === "up"`, 5*time.Second)

	// Sync mode, email down: applied live, shown in the picture by label.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name="mode"][value="sync"]`))))
	waitJS(t, ctx, `document.getElementById("picture").dataset.mode === "sync"`, 5*time.Second)
	openSystem(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#f-email_down`))))
	waitJS(t, ctx, `document.getElementById("pic-svc-email").dataset.state === "down"`, 5*time.Second)
	assert.Equal(t, "down", text(t, ctx, "#pic-email-state"), "state is named, not only coloured")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run"))))
	waitJS(t, ctx, `!!document.getElementById("r-succeeded")`, 30*time.Second)
	shot(t, ctx, "sync-email-down")
	assert.Equal(t, "0 of 200", text(t, ctx, "#r-succeeded"), "sync: email down fails every signup")
	assert.Equal(t, "200", text(t, ctx, "#r-failed"))
	assert.Equal(t, "200", text(t, ctx, "#r-orphaned"), "and each failure left a user behind")

	// Async mode, email still down, back after a second.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name="mode"][value="async"]`)),
		chromedp.SetValue(chromedp.CSS("#f-recover_after"), "1000"),
	))
	waitJS(t, ctx, `document.getElementById("picture").dataset.mode === "async"`, 5*time.Second)
	assert.Equal(t, "down", text(t, ctx, "#pic-email-state"))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run"))))
	waitJS(t, ctx, `document.getElementById("lab").dataset.running === "true"`, 5*time.Second)
	waitJS(t, ctx, `(document.querySelector(".run-title")||{}).textContent && document.querySelector(".run-title").textContent.includes("run 2")`, 45*time.Second)
	shot(t, ctx, "async-email-back")
	assert.Equal(t, "200 of 200", text(t, ctx, "#r-succeeded"), "async: every signup succeeds")
	assert.Equal(t, "0", text(t, ctx, "#r-failed"))
	assert.Equal(t, "200", text(t, ctx, "#r-emails"), "every welcome email went out once email was back")
	assert.Equal(t, "up", text(t, ctx, "#pic-email-state"), "recover-after brought email back")
	waitJS(t, ctx, `!document.getElementById("f-email_down").checked`, 5*time.Second) // and the control follows
	// The charts received points while it ran.
	assert.Greater(t, js[int](t, ctx, `document.querySelectorAll(".uplot").length`), 2)

	// The history puts both runs side by side.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#last-run a[href$="/history"]`)),
		chromedp.WaitVisible(chromedp.CSS("#compare-table")),
	))
	shot(t, ctx, "history")
	rows := js[[]string](t, ctx, `Array.from(document.querySelectorAll("#compare-table tbody tr")).map(r => Array.from(r.cells).map(c => c.firstChild.textContent.trim()).join(" "))`)
	assert.Contains(t, rows, "Succeeded 0 200")
	assert.Contains(t, rows, "Orphaned users 200 0")
	assert.Equal(t, 2, js[int](t, ctx, `document.querySelectorAll('#history-table input[name="run"]:checked').length`))

	// One traced signup in async mode: caller, stream, then each consumer.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.crumbs a`)),
		chromedp.WaitVisible(chromedp.CSS("#trace-btn")),
		chromedp.Click(chromedp.CSS("#trace-btn")),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	))
	shot(t, ctx, "trace")
	timeline := text(t, ctx, "#timeline")
	assert.Contains(t, timeline, "email consumer")
	assert.Contains(t, timeline, "analytics consumer")
	assert.Regexp(t, `waited [0-9.]+ ms in the stream|picked up from the stream at once`, timeline, "each consumer's wait in the stream is shown")
	assert.Contains(t, text(t, ctx, ".trace-page"), "async mode")
}

// TestBrowserLabEmailDownScenario completes the guided scenario: predict,
// run, and read the measured result beside the prediction.
func TestBrowserLabEmailDownScenario(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/labs"),
		chromedp.WaitVisible(chromedp.CSS("#scenarios")),
		chromedp.Click(chromedp.CSS(`#scenarios a[href$="/scenarios/email-down"]`)),
		chromedp.WaitVisible(chromedp.CSS("#predict-btn")),
	))
	assert.Contains(t, text(t, ctx, "h1"), "Email down")
	assert.Zero(t, js[int](t, ctx, `document.querySelectorAll("#scenario-run").length`), "no run before a prediction")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name="prediction"][value="1"]`)),
		chromedp.Click(chromedp.CSS("#predict-btn")),
		chromedp.WaitVisible(chromedp.CSS("#scenario-run")),
	))
	assert.Contains(t, text(t, ctx, "#your-prediction"), "Sync fails every signup")
	shot(t, ctx, "scenario-predicted")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#scenario-run"))))
	waitJS(t, ctx, `!!document.getElementById("verdict")`, 60*time.Second)
	shot(t, ctx, "scenario-result")
	assert.Contains(t, text(t, ctx, "#verdict"), "Your prediction held")
	measured := text(t, ctx, "#measured")
	assert.Contains(t, measured, "Sync, email down")
	assert.Contains(t, measured, "Async, email down")
	rows := js[[]string](t, ctx, `Array.from(document.querySelectorAll("#measured tbody tr")).map(r => Array.from(r.cells).map(c => c.textContent.trim()).join(" "))`)
	assert.Contains(t, rows, "Succeeded 0 200")
	assert.Contains(t, rows, "Lost events 0 0")
	assert.Contains(t, text(t, ctx, ".lesson-link"), "How one slow kitchen")
	assert.Contains(t, text(t, ctx, "#goal-state"), "reached")
}

// TestBrowserLabDeadLetterReplay sends a poison message and replays one of
// its dead letters from the inspector.
func TestBrowserLabDeadLetterReplay(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/labs"),
		chromedp.WaitVisible(chromedp.CSS("#poison")),
		chromedp.Click(chromedp.CSS("#poison")),
		chromedp.WaitVisible(chromedp.CSS("#dead-letters")),
	))
	// The inspector fills in as the groups give up on the message.
	waitJS(t, ctx, `document.querySelectorAll("#dead-table .replay-one").length === 2`, 15*time.Second)
	shot(t, ctx, "dead-letters")
	row := text(t, ctx, "#dead-table tbody tr")
	assert.Contains(t, row, "not a readable user.signedup event")
	assert.Contains(t, js[[]string](t, ctx, `Array.from(document.querySelectorAll("#dead-table tbody td:nth-child(3)")).map(td => td.textContent)`), "1", "delivery count")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#dead-table .replay-one"))))
	waitJS(t, ctx, `document.querySelector(".notice-ok") && document.querySelector(".notice-ok").textContent.includes("Replayed")`, 10*time.Second)
	assert.Contains(t, text(t, ctx, ".notice-ok"), "Replayed")
	// A replayed poison message fails again and comes back: the inspector
	// shows it with the same reason, the other letter untouched.
	waitJS(t, ctx, `document.querySelectorAll("#dead-table .replay-one").length >= 1`, 10*time.Second)
}

// tabTo presses Tab until the focused element matches sel.
func tabTo(t *testing.T, ctx context.Context, sel string) { tabUntil(t, ctx, sel, false) }

// tabBackTo presses Shift+Tab until the focused element matches sel.
func tabBackTo(t *testing.T, ctx context.Context, sel string) { tabUntil(t, ctx, sel, true) }

func tabUntil(t *testing.T, ctx context.Context, sel string, back bool) {
	t.Helper()
	key := chromedp.KeyEvent("\t")
	if back {
		key = chromedp.KeyEvent("\t", chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	for range 120 {
		if js[bool](t, ctx, `document.activeElement && document.activeElement.matches(`+strconv.Quote(sel)+`)`) {
			visible := js[bool](t, ctx, `getComputedStyle(document.activeElement).outlineStyle !== "none"`)
			assert.True(t, visible, "focus is visible on %s", sel)
			return
		}
		require.NoError(t, chromedp.Do(ctx, key))
	}
	t.Fatalf("Tab never reached %s", sel)
}

// TestBrowserLabKeyboardOnly drives the lab with the keyboard alone: switch
// mode with the arrow keys, tick a fault with Space, run with Enter.
func TestBrowserLabKeyboardOnly(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	tabTo(t, ctx, `input[name="mode"]`)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowUp))) // the previous radio: sync
	waitJS(t, ctx, `document.getElementById("picture").dataset.mode === "sync"`, 5*time.Second)
	tabTo(t, ctx, "#system > summary")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r"))) // opens "Your system"
	tabTo(t, ctx, "#f-analytics_down")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(" ")))
	waitJS(t, ctx, `document.querySelector('#flow [data-svc="analytics"]').dataset.state === "down"`, 5*time.Second)
	tabTo(t, ctx, "#f-fallback")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(" ")))
	tabBackTo(t, ctx, "#f-signups")                               // the run bar is at the top
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("50"))) // Tab selected the old value; typing replaces it
	tabTo(t, ctx, "#run")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r")))
	waitJS(t, ctx, `!!document.getElementById("r-succeeded")`, 30*time.Second)
	assert.Equal(t, "50 of 50", text(t, ctx, "#r-succeeded"), "with the fallback on, analytics down does not fail signup")
	tabTo(t, ctx, "#pause")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r")))
	pressed, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#pause"), "aria-pressed"))
	require.NoError(t, err)
	assert.Equal(t, "true", pressed.Value, "the picture can be paused")
}

// TestBrowserLabFitsPhoneAndDark checks the lab pages at phone width in both
// themes: nothing wider than the screen, the picture and controls on show.
func TestBrowserLabFitsPhoneAndDark(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	base := js[string](t, ctx, `document.getElementById("lab").dataset.base`)
	for _, theme := range []string{"light", "dark"} {
		for _, w := range []int64{1280, 390} {
			require.NoError(t, chromedp.Do(ctx,
				chromedp.EmulateViewport(w, 900),
				chromedp.Evaluate[chromedp.Void](`localStorage.setItem("cr-theme", "`+theme+`")`),
				chromedp.Navigate(e.base+"/labs"),
				chromedp.WaitVisible(chromedp.CSS("#picture")),
			))
			waitJS(t, ctx, `document.querySelectorAll(".uplot").length === 3`, 5*time.Second)
			name := theme + "-" + strconv.FormatInt(w, 10)
			shot(t, ctx, "lab-"+name)
			assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), int(w), "no sideways scrolling: %s", name)
			assert.Equal(t, theme, js[string](t, ctx, `document.documentElement.dataset.theme || "light"`))
			shown := js[string](t, ctx, `Array.from(document.querySelectorAll("svg.flow")).filter(s => s.getBoundingClientRect().width > 0).map(s => s.classList[1]).join()`)
			if w < 600 {
				assert.Equal(t, "flow-tall", shown, "phones get the tall picture")
			} else {
				assert.Equal(t, "flow-wide", shown)
			}
			for _, page := range []string{"/scenarios/email-down", "/history"} {
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+base+page), chromedp.WaitVisible(chromedp.CSS("h1"))))
				assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), int(w), "no sideways scrolling: %s %s", page, name)
				shot(t, ctx, "page-"+filepath.Base(page)+"-"+name)
			}
		}
	}
}
