package server

// The lab page tells the truth: the picture, the numbers and the history
// follow what the engine measured, and a newcomer finds the guided path and
// the run control at once.

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/labs"
)

// openSystem opens the "Your system" panel so its controls can be clicked.
func openSystem(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("system").open = true`)))
}

// applied waits until the settings the page shows are in force.
func applied(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, `document.getElementById("apply-state").textContent === "Applied"`, 5*time.Second)
}

// lastRun is the engine's result of the newest run, as the page can fetch it.
func lastRun(t *testing.T, ctx context.Context) map[string]any {
	t.Helper()
	runs, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]any](
		`fetch(document.getElementById("lab").dataset.base + "/history.json").then(r => r.json()).then(j => j.runs)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.NotEmpty(t, runs)
	return runs[len(runs)-1]
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// Test 1 of the page issue: async with email down and no recovery. The
// picture shows email down and the email group paused with every message
// waiting; what went to email came back failed; the last run says 200
// accepted and no email; bringing email back sends them all, no replay.
func TestBrowserLabOutagePictureAndNumbersTellTheTruth(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 120*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	openSystem(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#f-email_down"))))
	applied(t, ctx)
	waitJS(t, ctx, `document.getElementById("pic-svc-email").dataset.state === "down"`, 5*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#f-signups"), "200"), chromedp.Click(chromedp.CSS("#run"))))
	waitJS(t, ctx, `document.querySelector('#flow [data-group="email"]').dataset.state === "paused"`, 30*time.Second)
	shot(t, ctx, "outage-paused")
	assert.Equal(t, "DOWN", strings.ToUpper(text(t, ctx, "#pic-email-state")), "the service says down in words")
	assert.Contains(t, strings.ToLower(text(t, ctx, `#flow [data-g="email.label"]`)), "paused")
	waitJS(t, ctx, `!!document.getElementById("r-succeeded")`, 60*time.Second)
	waitJS(t, ctx, `document.querySelector('#flow [data-g="email.waiting"]').textContent === "200"`, 10*time.Second)
	assert.Equal(t, "0", text(t, ctx, `#flow [data-g="analytics.waiting"]`), "analytics did its part")
	assert.Positive(t, js[int](t, ctx, `Number(document.getElementById("picture").dataset.drawnFail || 0)`), "calls to the downed email service came back failed")
	assert.Equal(t, "200 of 200", text(t, ctx, "#r-succeeded"), "every signup was accepted")
	assert.Equal(t, "0", text(t, ctx, "#r-emails"))
	assert.Equal(t, "200", text(t, ctx, "#r-inflight"), "waiting, not lost")
	assert.Equal(t, "0", text(t, ctx, "#r-lost"))
	run := lastRun(t, ctx)
	assert.EqualValues(t, 200, num(run["in_flight"]), "the page says what the engine measured")
	shot(t, ctx, "outage-run-ended")

	// Email comes back: the paused group's probe succeeds and the backlog
	// drains by itself.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#f-email_down"))))
	waitJS(t, ctx, `document.querySelector('#flow [data-g="email.waiting"]').textContent === "0"`, 30*time.Second)
	waitJS(t, ctx, `document.querySelector('[data-total="emails_sent"]').textContent === "200"`, 10*time.Second)
	assert.Zero(t, js[int](t, ctx, `document.querySelectorAll("#dead-letters .replay-one").length`), "nothing was dead-lettered, nothing replayed")
	shot(t, ctx, "outage-recovered")
}

// Test 2: a sync run with an 800 ms email service. The page's p50 is the
// run's, and the chart's last window agrees with it.
func TestBrowserLabSyncLatencyIsTheRunsOwn(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name="mode"][value="sync"]`))))
	openSystem(t, ctx)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#f-email_latency"), "800"),
		chromedp.SetValue(chromedp.CSS("#f-timeout"), "3000"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("settings-form").dispatchEvent(new Event("change"))`),
	))
	applied(t, ctx)
	waitJS(t, ctx, `document.getElementById("picture").dataset.mode === "sync"`, 5*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#f-signups"), "24"),
		chromedp.SetValue(chromedp.CSS("#f-concurrency"), "4"),
		chromedp.Click(chromedp.CSS("#run")),
	))
	// While it runs, a dot waits at the email service as long as the call.
	waitJS(t, ctx, `document.querySelectorAll("#flow .dot-waiting").length > 0`, 20*time.Second)
	waitJS(t, ctx, `!!document.getElementById("r-latency")`, 60*time.Second)
	shot(t, ctx, "sync-800")
	run := lastRun(t, ctx)
	p50 := num(run["latency_ms"].(map[string]any)["p50"])
	require.Greater(t, p50, 800.0)
	shown, err := strconv.ParseFloat(strings.Fields(text(t, ctx, "#r-latency"))[0], 64)
	require.NoError(t, err)
	assert.InEpsilon(t, p50, shown, 0.1, "the page's p50 is the run's")
	waitJS(t, ctx, `document.getElementById("charts").dataset.run === `+strconv.Quote(run["run"].(string)), 10*time.Second)
	chart, err := strconv.ParseFloat(js[string](t, ctx, `document.getElementById("charts").dataset.lastP50`), 64)
	require.NoError(t, err)
	// Every answer in the window waited for the 800 ms email call, and none
	// longer than the run's slowest: how far the window's median sits from
	// the run's depends on the machine.
	assert.GreaterOrEqual(t, chart, 800*0.98, "the chart's last window holds answers that waited for email")
	assert.LessOrEqual(t, chart, num(run["latency_ms"].(map[string]any)["max"])*1.02, "and none slower than the run's slowest")
}

// Test 3: two runs in a row. "Last run" is the newest run's own figures
// and the history compares each run's own, as the engine measured them.
func TestBrowserLabTwoRunsEachShowTheirOwnFigures(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#flow"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#f-signups"), "60"), chromedp.Click(chromedp.CSS("#run"))))
	waitJS(t, ctx, `(document.querySelector(".run-title")||{}).textContent && document.querySelector(".run-title").textContent.includes("run 1")`, 30*time.Second)
	first := lastRun(t, ctx)
	assert.Equal(t, "60 of 60", text(t, ctx, "#r-succeeded"))
	assert.Equal(t, strconv.Itoa(int(num(first["emails_sent"]))), text(t, ctx, "#r-emails"))

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name="mode"][value="sync"]`))))
	openSystem(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#f-email_down"))))
	applied(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#f-signups"), "30"), chromedp.Click(chromedp.CSS("#run"))))
	waitJS(t, ctx, `(document.querySelector(".run-title")||{}).textContent && document.querySelector(".run-title").textContent.includes("run 2")`, 30*time.Second)
	second := lastRun(t, ctx)
	assert.Equal(t, "0 of 30", text(t, ctx, "#r-succeeded"), "the newest run only, not the sandbox's totals")
	assert.Equal(t, "30", text(t, ctx, "#r-orphaned"))
	assert.Equal(t, "0", text(t, ctx, "#r-emails"))
	assert.Equal(t, "0", text(t, ctx, "#r-dead"), "no dead letters credited from an earlier run")
	assert.EqualValues(t, 30, num(second["orphaned_users"]))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+js[string](t, ctx, `document.getElementById("lab").dataset.base`)+"/history"),
		chromedp.WaitVisible(chromedp.CSS("#compare-table")),
	))
	shot(t, ctx, "two-runs-history")
	rows := js[[]string](t, ctx, `Array.from(document.querySelectorAll("#compare-table tbody tr")).map(r => Array.from(r.cells).map(c => c.firstChild.textContent.trim()).join(" "))`)
	assert.Contains(t, rows, "Succeeded 60 0")
	assert.Contains(t, rows, "Orphaned users 0 30")
	assert.Contains(t, rows, "Welcome emails sent "+strconv.Itoa(int(num(first["emails_sent"])))+" 0")
	assert.Contains(t, rows, "Dead-lettered 0 0")
}

// Test 4: a scenario link from a lesson opens the scenario, even for a
// browser that never visited the lab.
func TestBrowserLabScenarioLinkWorksOnAFirstVisit(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	for _, link := range []string{"/labs?scenario=email-down", "/labs/scenarios/email-down"} {
		ctx := browsertest.New(t, 30*time.Second) // a fresh browser: no cookie yet
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+link), chromedp.WaitVisible(chromedp.CSS("h1"))))
		assert.Contains(t, text(t, ctx, "h1"), "Email down", link)
		assert.Contains(t, js[string](t, ctx, `location.pathname`), "/scenarios/email-down", link)
	}
	ctx := browsertest.New(t, 30*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs?scenario=no-such-thing"), chromedp.WaitVisible(chromedp.CSS("h1"))))
	assert.Contains(t, text(t, ctx, "main"), "no lab scenario called", "an unknown scenario is said so, not a 500")
}

// Test 6: on a phone the run control is on screen at once and stays there
// while the learner scrolls through the page.
func TestBrowserLabRunControlIsInReachOnAPhone(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 60*time.Second)
	for _, w := range []int64{390, 1280} {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(w, 800), chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#picture"))))
		onScreen := `(function(){ const r = document.getElementById("run").getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.width > 0; })()`
		assert.True(t, js[bool](t, ctx, onScreen), "the run button is on screen without scrolling at %d px", w)
		assert.True(t, js[bool](t, ctx, `(function(){ const r = document.getElementById("scenarios").getBoundingClientRect(); return r.top < innerHeight; })()`),
			"the guided scenarios start on the first screen at %d px", w)
		for _, at := range []string{"0.4", "0.8"} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.documentElement.scrollHeight * `+at+`)`), chromedp.Sleep(100*time.Millisecond)))
			assert.True(t, js[bool](t, ctx, onScreen), "still in reach after scrolling %s of the page at %d px", at, w)
		}
		shot(t, ctx, "run-bar-"+strconv.FormatInt(w, 10))
	}
}
