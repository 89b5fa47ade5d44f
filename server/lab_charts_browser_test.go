package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/labs"
)

// chartsShot saves the charts panel alone when LAB_SHOTS names a folder,
// beside the full page from shot.
func chartsShot(t *testing.T, ctx context.Context, name string) {
	shot(t, ctx, name)
	dir := os.Getenv("LAB_SHOTS")
	if dir == "" {
		return
	}
	// The run bar sticks to the top of the window; keep it off the picture.
	err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(document.getElementById("run-bar") || {style: {}}).style.visibility = "hidden"`),
		chromedp.ScrollIntoView(chromedp.CSS("#charts-panel")))
	var buf []byte
	if err == nil {
		buf, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#charts-panel")))
	}
	_ = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(document.getElementById("run-bar") || {style: {}}).style.visibility = ""`))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+"-charts.png"), buf, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// browserLab returns the lab of the browser's learner.
func browserLab(t *testing.T, ctx context.Context, e *labEnv) *labs.Lab {
	t.Helper()
	var id string
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{e.base}})
		for _, c := range res.Cookies {
			if c.Name == learnerCookieName {
				id = c.Value
			}
		}
		return err
	})))
	require.NotEmpty(t, id, "the browser has a learner cookie")
	l := e.mgr.Lookup(id)
	require.NotNil(t, l, "the browser's learner has a lab")
	return l
}

// openCharts loads the lab page and waits for the charts to draw what the
// server has.
func openCharts(t *testing.T, ctx context.Context, e *labEnv) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.base+"/labs"), chromedp.WaitVisible(chromedp.CSS("#charts"))))
	// lab.js calls init on load; a second call changes nothing.
	js[bool](t, ctx, `window.LabCharts.init(document.getElementById("charts")), true`)
	waitJS(t, ctx, `document.querySelectorAll("#charts .uplot").length === 3 && document.getElementById("charts").dataset.points !== undefined`, 10*time.Second)
}

// jsAwait evaluates a script that returns a promise and gives its value.
func jsAwait[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return v
}

// emulateScheme makes the browser's system setting light or dark.
func emulateScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

func chartsData(t *testing.T, ctx context.Context) map[string]string {
	return js[map[string]string](t, ctx, `Object.assign({}, document.getElementById("charts").dataset)`)
}

// TestBrowserLabChartsFollowARun draws a sync run with a slow email
// service: the charts follow it live, their last p50 matches the run's, and
// a reload draws the same run again.
func TestBrowserLabChartsFollowARun(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 120*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	openCharts(t, ctx, e)

	// No run yet: the charts say so and stay empty.
	d := chartsData(t, ctx)
	assert.Equal(t, "", d["run"])
	assert.Equal(t, "0", d["points"])
	waitJS(t, ctx, `!document.getElementById("charts-empty").hidden`, 5*time.Second)
	assert.Len(t, js[[]string](t, ctx, `window.LabCharts.series("chart-latency")`), 3)
	assert.Len(t, js[[]string](t, ctx, `window.LabCharts.series("chart-throughput")`), 3)
	assert.Len(t, js[[]string](t, ctx, `window.LabCharts.series("chart-lag")`), 5)
	assert.Empty(t, js[[]string](t, ctx, `window.LabCharts.series("no-such-chart")`))

	// The update contract, driven by hand: points of the same run append
	// (older ones ignored), a second without answers is a gap, a new run
	// replaces the old.
	js[bool](t, ctx, `(function () {
		var C = window.LabCharts;
		C.update(null); C.update(undefined);
		C.update({run: "r-hand", started: new Date().toISOString(), done: false,
			points: [{t: 1, accepted: 5, failed: 0, completed: 1, p50: 12, p95: 20, p99: 25, waiting: {email: 4, analytics: 2}, retrying: {email: 0, analytics: 0}, dead: 0},
			         {t: 2, accepted: 0, failed: 0, completed: 3, p50: 0, p95: 0, p99: 0, waiting: {email: 1, analytics: 0}, retrying: {email: 1, analytics: 0}, dead: 1}],
			marks: [{t: 0, label: "run started"}, {t: 1.5, label: "email down"}]});
		return true; })()`)
	d = chartsData(t, ctx)
	assert.Equal(t, "r-hand", d["run"])
	assert.Equal(t, "2", d["points"])
	assert.Equal(t, "12", d["lastP50"], "the second without answers is a gap, not a p50 of 0")
	assert.Contains(t, text(t, ctx, "#charts-marks"), "1.5 s email down")
	assert.Contains(t, text(t, ctx, "#chart-latency + .lc-legend"), "Last second with answers, 1 s:")
	assert.Contains(t, js[string](t, ctx, `document.getElementById("chart-lag").getAttribute("aria-label")`), "email down at 1.5 s")
	js[bool](t, ctx, `(window.LabCharts.update({run: "r-hand", done: true,
		points: [{t: 2, accepted: 99, p50: 999, p95: 999, p99: 999}, {t: 3, accepted: 2, p50: 30, p95: 31, p99: 32}],
		marks: [{t: 1.5, label: "email down"}, {t: 3.2, label: "run ended"}]}), true)`)
	d = chartsData(t, ctx)
	assert.Equal(t, "3", d["points"], "the repeated second 2 is ignored, second 3 appended")
	assert.Equal(t, "30", d["lastP50"])
	assert.Equal(t, "true", d["done"])
	assert.Equal(t, 3, js[int](t, ctx, `(document.getElementById("charts-marks").textContent.match(/ · /g) || []).length + 1`), "marks are not repeated")

	// Sync mode, email answering in 800 ms, through the page's settings form.
	status := jsAwait[int](t, ctx, `(function () {
		var f = document.getElementById("settings-form"), fd = new FormData(f);
		fd.set("mode", "sync"); fd.set("email_latency", "800"); fd.set("timeout", "3000");
		return fetch(f.action, {method: "POST", body: new URLSearchParams(fd), credentials: "same-origin",
			headers: {"X-Requested-With": "fetch", "Accept": "application/json"}}).then(function (r) { return r.status; });
	})()`)
	require.Equal(t, 200, status)
	lab := browserLab(t, ctx, e)
	require.Equal(t, labs.ModeSync, lab.Settings().Mode)
	require.Equal(t, 800*time.Millisecond, lab.Settings().Email.Latency)

	// 20 signups, 4 at a time, through the run form.
	status = jsAwait[int](t, ctx, `(function () {
		var f = document.getElementById("run-form"), fd = new FormData(f);
		fd.set("signups", "20"); fd.set("concurrency", "4"); fd.set("rate", "0"); fd.set("recover_after", "0");
		return fetch(f.action, {method: "POST", body: new URLSearchParams(fd), credentials: "same-origin",
			headers: {"X-Requested-With": "fetch", "Accept": "application/json"}}).then(function (r) { return r.status; });
	})()`)
	require.Equal(t, 200, status)

	// The live updates replace the hand-made run with the real one as it goes.
	waitJS(t, ctx, `(function (d) { return d.run && d.run !== "r-hand" && d.done === "false"; })(document.getElementById("charts").dataset)`, 10*time.Second)
	require.Eventually(t, func() bool { return !lab.Status().Running && len(lab.History()) == 1 }, 40*time.Second, 100*time.Millisecond)
	run := lab.History()[0]
	require.EqualValues(t, 20, run.SignupsSucceeded, "with a 3 s timeout every slow call succeeds")
	waitJS(t, ctx, `(function (d) { return d.run === `+strconv.Quote(run.Run)+` && d.done === "true"; })(document.getElementById("charts").dataset)`, 10*time.Second)
	tl, ok := lab.Timeline(-1)
	require.True(t, ok)

	checkRun := func(when string) {
		t.Helper()
		d := chartsData(t, ctx)
		assert.Equal(t, run.Run, d["run"], when)
		assert.Equal(t, strconv.Itoa(len(tl.Points)), d["points"], "%s: every second of the run is drawn", when)
		p50, err := strconv.ParseFloat(d["lastP50"], 64)
		require.NoError(t, err, "%s: data-last-p50=%q", when, d["lastP50"])
		assert.InEpsilon(t, run.Latency.P50, p50, 0.10, "%s: the last second's p50 (%v ms) is the run's (%v ms) within 10%%", when, p50, run.Latency.P50)
		assert.Greater(t, p50, 700.0, "%s: each answer waited for the 800 ms email call", when)
		legend := js[string](t, ctx, `document.querySelector("#chart-latency + .lc-legend").textContent`)
		assert.Regexp(t, `p50 \d+ ms`, legend, when)
		marks := text(t, ctx, "#charts-marks")
		for _, m := range []string{"run started", "load ended", "run ended"} {
			assert.Contains(t, marks, m, when)
		}
		assert.Contains(t, js[string](t, ctx, `document.getElementById("chart-throughput").getAttribute("aria-label")`), "20 accepted", when)
		assert.Contains(t, text(t, ctx, "#charts-run"), "Last run", when)
		assert.True(t, js[bool](t, ctx, `document.getElementById("charts-empty").hidden`), when)
	}
	checkRun("live")
	chartsShot(t, ctx, "charts-sync-light-1280")

	// A reload draws the same run from the timeline the page fetches.
	openCharts(t, ctx, e)
	waitJS(t, ctx, `document.getElementById("charts").dataset.run === `+strconv.Quote(run.Run), 10*time.Second)
	checkRun("reloaded")

	// An async run with email down until 1.5 s in: signups are accepted at
	// once while the email work waits, then completes; the recovery is marked.
	status = jsAwait[int](t, ctx, `(function () {
		var f = document.getElementById("settings-form"), fd = new FormData(f);
		fd.set("mode", "async"); fd.set("email_latency", "0"); fd.set("email_down", "on");
		return fetch(f.action, {method: "POST", body: new URLSearchParams(fd), credentials: "same-origin",
			headers: {"X-Requested-With": "fetch", "Accept": "application/json"}}).then(function (r) { return r.status; });
	})()`)
	require.Equal(t, 200, status)
	status = jsAwait[int](t, ctx, `fetch(document.getElementById("run-form").action, {method: "POST", credentials: "same-origin",
		body: new URLSearchParams({signups: "60", concurrency: "4", rate: "30", recover_after: "1500"}),
		headers: {"X-Requested-With": "fetch", "Accept": "application/json"}}).then(function (r) { return r.status; })`)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool { return !lab.Status().Running && len(lab.History()) == 2 }, 60*time.Second, 100*time.Millisecond)
	run = lab.History()[1]
	require.EqualValues(t, 60, run.EmailsSent, "every email went out once email was back")
	waitJS(t, ctx, `(function (d) { return d.run === `+strconv.Quote(run.Run)+` && d.done === "true"; })(document.getElementById("charts").dataset)`, 10*time.Second)
	assert.Contains(t, text(t, ctx, "#charts-marks"), "email back up")
	assert.Regexp(t, `at most [1-9]\d* for email`, js[string](t, ctx, `document.getElementById("chart-lag").getAttribute("aria-label")`), "email work waited")
	assert.Contains(t, js[string](t, ctx, `document.getElementById("chart-throughput").getAttribute("aria-label")`), "60 accepted, 0 failed, 60 welcome emails completed")
	chartsShot(t, ctx, "charts-async-live")

	// Phone width and dark theme: nothing wider than the screen, the charts
	// as wide as their panel.
	for _, theme := range []string{"light", "dark"} {
		for _, w := range []int64{1280, 390} {
			name := fmt.Sprintf("charts-async-%s-%d", theme, w)
			require.NoError(t, chromedp.Do(ctx,
				chromedp.EmulateViewport(w, 900),
				chromedp.Evaluate[chromedp.Void](`localStorage.setItem("cr-theme", "`+theme+`")`),
			))
			openCharts(t, ctx, e)
			waitJS(t, ctx, `document.getElementById("charts").dataset.run === `+strconv.Quote(run.Run), 10*time.Second)
			assert.LessOrEqual(t, js[int](t, ctx, `document.documentElement.scrollWidth`), int(w), name)
			widths := js[[]float64](t, ctx, `Array.from(document.querySelectorAll("#charts .chart")).map(function (c) { return Math.abs(c.querySelector("canvas").getBoundingClientRect().width - c.getBoundingClientRect().width); })`)
			for _, dw := range widths {
				assert.Less(t, dw, 2.0, "%s: each chart fills its width", name)
			}
			chartsShot(t, ctx, name)
		}
	}

	// The charts follow the window: narrower window, narrower canvas.
	before := js[float64](t, ctx, `document.querySelector("#chart-latency canvas").getBoundingClientRect().width`)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1000, 900)))
	waitJS(t, ctx, `Math.abs(document.querySelector("#chart-latency canvas").getBoundingClientRect().width - document.getElementById("chart-latency").getBoundingClientRect().width) < 2 && document.querySelector("#chart-latency canvas").getBoundingClientRect().width > `+strconv.FormatFloat(before+100, 'f', 0, 64), 5*time.Second)
}

// TestBrowserLabChartsFollowTheTheme switches to the dark theme after the
// charts are drawn, then follows the system's setting: the series' colours
// change to the theme's each time.
func TestBrowserLabChartsFollowTheTheme(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := browsertest.New(t, 60*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		emulateScheme("light"),
		chromedp.Navigate(e.base+"/labs"),
		chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("cr-theme")`),
	))
	openCharts(t, ctx, e)
	// Something to draw: one hand-made second.
	js[bool](t, ctx, `(window.LabCharts.update({run: "r-theme", done: true,
		points: [{t: 1, accepted: 5, completed: 5, p50: 12, p95: 20, p99: 25, waiting: {email: 4, analytics: 2}, retrying: {email: 1, analytics: 0}, dead: 1},
		         {t: 2, accepted: 3, completed: 4, p50: 14, p95: 21, p99: 28, waiting: {email: 2, analytics: 1}, retrying: {email: 0, analytics: 0}, dead: 1}],
		marks: [{t: 0, label: "run started"}, {t: 1.2, label: "email down"}, {t: 2, label: "run ended"}]}), true)`)
	cssVar := func(name string) string {
		return js[string](t, ctx, `getComputedStyle(document.documentElement).getPropertyValue("`+name+`").trim()`)
	}
	series := func() []string { return js[[]string](t, ctx, `window.LabCharts.series("chart-latency")`) }
	light := series()
	require.Len(t, light, 3)
	assert.Equal(t, cssVar("--accent"), light[0], "p50 is drawn in the theme's accent")
	assert.Equal(t, []string{cssVar("--ok"), cssVar("--fail"), cssVar("--accent")}, js[[]string](t, ctx, `window.LabCharts.series("chart-throughput")`))
	assert.Equal(t, "light", js[string](t, ctx, `document.documentElement.dataset.theme || "light"`))

	// The toggle: data-theme="dark".
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#theme-toggle"))))
	waitJS(t, ctx, `document.documentElement.dataset.theme === "dark"`, 5*time.Second)
	waitJS(t, ctx, `window.LabCharts.series("chart-latency")[0] !== `+strconv.Quote(light[0]), 5*time.Second)
	dark := series()
	assert.NotEqual(t, light, dark, "the colours changed with the theme")
	assert.Equal(t, cssVar("--accent"), dark[0], "to the dark theme's")
	assert.Equal(t, cssVar("--fail"), js[[]string](t, ctx, `window.LabCharts.series("chart-lag")`)[4], "dead letters in the dark theme's failure colour")
	assert.Equal(t, cssVar("--accent"), js[string](t, ctx, `document.querySelector("#chart-latency + .lc-legend line").getAttribute("stroke")`), "the legend follows")
	assert.Equal(t, "2", chartsData(t, ctx)["points"], "the data survives the change")
	chartsShot(t, ctx, "charts-theme-dark")

	// With no choice saved, the system's setting rules: emulate a dark
	// system, then a light one.
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`delete document.documentElement.dataset.theme`)))
	waitJS(t, ctx, `window.LabCharts.series("chart-latency")[0] === `+strconv.Quote(light[0]), 5*time.Second)
	require.NoError(t, chromedp.Do(ctx, emulateScheme("dark")))
	waitJS(t, ctx, `window.LabCharts.series("chart-latency")[0] === `+strconv.Quote(dark[0]), 5*time.Second)
	require.NoError(t, chromedp.Do(ctx, emulateScheme("light")))
	waitJS(t, ctx, `window.LabCharts.series("chart-latency")[0] === `+strconv.Quote(light[0]), 5*time.Second)
}
