package server

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
	"github.com/crossroads-learn/crossroads/internal/browsertest"
)

// submitTo clicks a button that submits a form and waits for the page it
// leads to.
func decideSubmit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
	require.NoError(t, err, "click %s", sel)
}

func decidePageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

func decideEval(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return s
}

// TestBrowserDecideWizard walks all five steps in a real browser, goes back,
// reloads, resumes, and checks the downloaded record is byte-for-byte what
// the command line renders for the same answers.
func TestBrowserDecideWizard(t *testing.T) {
	_, base := newTestServer(t, Config{})
	ctx := browsertest.New(t, 120*time.Second)
	ip := func(i int, field string) string {
		return "#" + decideFieldID("journeys[0].interactions["+string(rune('0'+i))+"]."+field)
	}

	// A CSP refusal or a script error fails the test; the 422 of the
	// deliberately invalid step is expected.
	browsertest.FailOnConsoleErrors(t, ctx, "status of 422")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decide")))
	decideSubmit(t, ctx, "#decide-start-blank")
	assert.Equal(t, base+"/decide/step/1", decideLocation(t, ctx))
	assert.Contains(t, decidePageText(t, ctx, ".decide-progress [aria-current=step]"), "Journeys")

	// A first visit shows no errors, and no badge on the empty interaction.
	assert.Equal(t, "0", decideEval(t, ctx, `String(document.querySelectorAll(".decide-errors, .field-error").length)`))
	assert.Equal(t, "true", decideEval(t, ctx, `String(document.getElementById("badge-0-0").hidden)`))
	assert.Equal(t, "Step 1 of 5", decidePageText(t, ctx, ".kicker"))
	assert.Equal(t, "6", decideEval(t, ctx, `String(document.querySelectorAll(".decide-progress li").length)`), "five steps and the review")
	assert.Equal(t, "5", decideEval(t, ctx, `String(document.querySelectorAll(".decide-progress .num:not(.num-review)").length)`))

	// Next with nothing filled in: the errors are listed in the learner's
	// words, each sits next to its field, and the first field has focus.
	decideSubmit(t, ctx, "#decide-next")
	assert.Equal(t, base+"/decide/step/1", decideLocation(t, ctx))
	assert.Contains(t, decidePageText(t, ctx, "#f-title-error"), "is required")
	assert.Contains(t, decidePageText(t, ctx, "#decide-errors"), "Journey 1 → Interaction 1: Consistency: must be strong or eventual")
	assert.NotContains(t, decidePageText(t, ctx, "#decide-errors"), "journeys[0]")
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	require.NoError(t, err)
	assert.Equal(t, "f-title", focused)

	// Step 1: the live preview, rendered, follows the title as it is typed
	// (and shows the markup typed as text).
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#f-title"), "Checkout <b>communication</b>")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector("#decide-rendered h1") || {}).textContent === "Checkout <b>communication</b>"`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the preview refreshes while typing")
	assert.Equal(t, "true", decideEval(t, ctx, `String(document.querySelector("#decide-rendered b") === null)`))
	assert.Contains(t, decideEval(t, ctx, `document.querySelector(".decide-markdown pre").textContent`), "# Checkout \\<b\\>communication\\</b\\>", "the Markdown is one click away")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#f-deciders"), "alice, bob"),
		chromedp.SendKeys(chromedp.CSS("#f-journeys-0-name"), "Checkout"),
		chromedp.SendKeys(chromedp.CSS(ip(0, "name")), "Reserve inventory"),
		chromedp.SendKeys(chromedp.CSS(ip(0, "from")), "checkout"),
		chromedp.SendKeys(chromedp.CSS(ip(0, "to")), "inventory"),
		chromedp.Click(chromedp.CSS(ip(0, "needs_response")+"-yes")),
		chromedp.Click(chromedp.CSS(ip(0, "consistency")+"-0")),
		chromedp.Click(chromedp.CSS(ip(0, "user_waiting")+"-yes")),
		chromedp.SetValue(chromedp.CSS(ip(0, "peak_rps")), "200"),
	))
	// The badge follows the answers as they are given.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("badge-0-0").textContent === "sync" && !document.getElementById("badge-0-0").hidden`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the badge says sync once the answers decide it")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(ip(0, "needs_response")+"-no")), chromedp.Click(chromedp.CSS(ip(0, "consistency")+"-1")),
		chromedp.Click(chromedp.CSS(ip(0, "user_waiting")+"-no"))))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("badge-0-0").textContent === "async"`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "and changes when they change")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(ip(0, "needs_response")+"-yes")), chromedp.Click(chromedp.CSS(ip(0, "consistency")+"-0")),
		chromedp.Click(chromedp.CSS(ip(0, "user_waiting")+"-yes"))))
	// A second interaction, added with the plain form button: it opens,
	// and the first folds to one line with its badge.
	decideSubmit(t, ctx, `button[value="add-interaction:0"]`)
	assert.Equal(t, "Reserve inventory", decideMust(chromedp.Run(ctx, chromedp.Value(chromedp.CSS(ip(0, "name"))))))
	assert.Equal(t, "false true", decideEval(t, ctx, `document.getElementById("interaction-0-0").open + " " + document.getElementById("interaction-0-1").open`))
	assert.Contains(t, decidePageText(t, ctx, "#interaction-0-0 > summary"), "sync")
	assert.Equal(t, "0", decideEval(t, ctx, `String(document.querySelectorAll(".decide-interaction .help").length)`), "no help repeated under each interaction")
	assert.Contains(t, decidePageText(t, ctx, ".decide-glossary dl"), "Must the result be known", "it is said once for the step")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(ip(1, "name")), "Send receipt"),
		chromedp.SendKeys(chromedp.CSS(ip(1, "from")), "checkout"),
		chromedp.SendKeys(chromedp.CSS(ip(1, "to")), "email"),
		chromedp.Click(chromedp.CSS(ip(1, "consistency")+"-1")),
		chromedp.SetValue(chromedp.CSS(ip(1, "consumers")), "2"),
	))
	decideSubmit(t, ctx, "#decide-next")
	assert.Equal(t, base+"/decide/step/2", decideLocation(t, ctx), "valid step 1 moves on")

	// Step 2: the preview draws the journey; a command-named event is
	// flagged with a suggested fact.
	assert.Equal(t, "1", decideEval(t, ctx, `String(document.querySelectorAll("#decide-rendered svg").length)`))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(ip(1, "event")), "SendReceipt")))
	decideSubmit(t, ctx, "#decide-next")
	require.Equal(t, base+"/decide/step/3", decideLocation(t, ctx))
	assert.Contains(t, decidePageText(t, ctx, ".decide-warnings"), "ReceiptSent")

	// Step 3: observability.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#f-observability-tracing"))))
	decideSubmit(t, ctx, "#decide-next")
	require.Equal(t, base+"/decide/step/4", decideLocation(t, ctx))

	// Step 4: idempotency.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(ip(1, "idempotency")), "dedup-table")))
	decideSubmit(t, ctx, "#decide-next")
	require.Equal(t, base+"/decide/step/5", decideLocation(t, ctx))

	// Step 5 half filled, then back: step 4 still holds its answer.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(ip(0, "timeout_ms")), "800"),
		chromedp.Click(chromedp.CSS(ip(0, "circuit_breaker"))),
	))
	decideSubmit(t, ctx, `button[value="back"]`)
	require.Equal(t, base+"/decide/step/4", decideLocation(t, ctx))
	assert.Equal(t, "dedup-table", decideMust(chromedp.Run(ctx, chromedp.Value(chromedp.CSS(ip(1, "idempotency"))))))

	// Reload: nothing is lost.
	_, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Reload()))
	require.NoError(t, err)
	assert.Equal(t, "dedup-table", decideMust(chromedp.Run(ctx, chromedp.Value(chromedp.CSS(ip(1, "idempotency"))))))

	// Leave and resume from the start page: back at the furthest step, with
	// what Back saved.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decide")))
	assert.Contains(t, decidePageText(t, ctx, "#decide-resume"), "Checkout <b>communication</b>")
	decideSubmit(t, ctx, "#decide-resume")
	require.Equal(t, base+"/decide/step/5", decideLocation(t, ctx))
	assert.Equal(t, "800", decideMust(chromedp.Run(ctx, chromedp.Value(chromedp.CSS(ip(0, "timeout_ms"))))))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(ip(1, "dead_letter"))),
		chromedp.SetValue(chromedp.CSS("#f-fallback-retry"), "exponential"),
		chromedp.SetValue(chromedp.CSS("#f-fallback-max-attempts"), "5"),
		chromedp.SendKeys(chromedp.CSS("#f-fallback-runbook"), "docs/runbooks/dlq.md"),
	))
	decideSubmit(t, ctx, "#decide-next")
	require.Equal(t, base+"/decide/review", decideLocation(t, ctx))
	assert.Contains(t, decidePageText(t, ctx, ".decide-table"), "Reserve inventory")

	// Download the answers and the record as the browser would.
	answers := decideEval(t, ctx, `fetch("/decide/answers.json").then(r => r.text())`)
	record := decideEval(t, ctx, `fetch("/decide/record.md").then(r => r.text())`)
	disposition := decideEval(t, ctx, `fetch("/decide/record.md").then(r => r.headers.get("Content-Disposition"))`)
	assert.Equal(t, `attachment; filename="checkout-b-communication-b.md"`, disposition)
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#download-record"), "href"))
	require.NoError(t, err)
	assert.Equal(t, "/decide/record.md?format=madr", href.Value)

	// The CLI side: parse the same answers and render them.
	a, err := decide.Parse([]byte(answers))
	require.NoError(t, err)
	cli, err := shippedDecide(t).Render(a.Normalized("1999-01-01"), decide.Options{Format: decide.FormatMADR})
	require.NoError(t, err)
	assert.Equal(t, cli, record, "web download and CLI output are byte-identical")
	assert.Equal(t, cli, decidePageText(t, ctx, "#decide-record"), "the review shows exactly the record")

	var parsed map[string]any
	require.NoError(t, json.Unmarshal([]byte(answers), &parsed))
	assert.Equal(t, "Checkout <b>communication</b>", parsed["title"])
	assert.Equal(t, "dedup-table", a.Journeys[0].Interactions[1].Idempotency)
	assert.Equal(t, 800, a.Journeys[0].Interactions[0].TimeoutMS)
	assert.True(t, a.Journeys[0].Interactions[1].DeadLetter)

	// Lifecycle: accept the decision.
	decideSubmit(t, ctx, `button[name="status"][value="accepted"]`)
	assert.Equal(t, "accepted", decidePageText(t, ctx, "#decide-status"))
	record = decideEval(t, ctx, `fetch("/decide/record.md?format=nygard").then(r => r.text())`)
	assert.Contains(t, record, "## Status\n\nAccepted\n")
}

func decideMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func decideLocation(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return loc
}

// The worked checkout example loads and goes through the five steps to a
// record without a single error; discarding it asks first.
func TestBrowserDecideExampleAndDiscard(t *testing.T) {
	_, base := newTestServer(t, Config{})
	ctx := browsertest.New(t, 60*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decide")))
	decideSubmit(t, ctx, "#decide-start-example")
	for n := 1; n <= 5; n++ {
		require.Equal(t, fmt.Sprintf("%s/decide/step/%d", base, n), decideLocation(t, ctx))
		decideSubmit(t, ctx, "#decide-next")
	}
	require.Equal(t, base+"/decide/review", decideLocation(t, ctx))
	assert.Equal(t, "0", decideEval(t, ctx, `String(document.querySelectorAll(".decide-errors").length)`), "the example is a valid decision")
	assert.Contains(t, decidePageText(t, ctx, ".decide-table"), "Reserve inventory")

	// Discard: the start page's button asks first; keeping changes nothing.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/decide")))
	decideSubmit(t, ctx, `form[action="/decide/reset"] button`)
	assert.Contains(t, decidePageText(t, ctx, "h1"), "Discard your answers?")
	decideSubmit(t, ctx, "#discard-no")
	assert.Contains(t, decidePageText(t, ctx, "#decide-resume"), "Checkout communication")
	decideSubmit(t, ctx, `form[action="/decide/reset"] button`)
	decideSubmit(t, ctx, "#discard-yes")
	require.Equal(t, base+"/decide", decideLocation(t, ctx))
	assert.Equal(t, "0", decideEval(t, ctx, `String(document.querySelectorAll("#decide-resume").length)`), "gone once confirmed")

	// On a phone the wizard's first step fits the screen.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	decideSubmit(t, ctx, "#decide-start-example")
	assert.Equal(t, "true", decideEval(t, ctx, `String(document.documentElement.scrollWidth <= 390)`), "no sideways scrolling at 390 px")
}
