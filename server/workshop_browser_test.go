package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/workshops"
)

// wsPoll waits until expr is true in ctx's page, failing with what.
func wsPoll(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err, what)
}

// TestBrowserWorkshop runs a workshop in two browsers: the facilitator
// creates it and keeps the board open; a participant joins with the code,
// reads a chapter, raises a hand. The board follows without a reload, the
// facilitator answers and moves everyone, and the participant's bar
// follows without a reload too.
func TestBrowserWorkshop(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	fac := browsertest.New(t, 120*time.Second)
	browsertest.FailOnConsoleErrors(t, fac)
	part := browsertest.New(t, 120*time.Second)
	browsertest.FailOnConsoleErrors(t, part)

	// The facilitator creates a workshop with the whole course.
	require.NoError(t, chromedp.Do(fac, chromedp.Navigate(e.base+"/workshops/new")))
	require.NoError(t, chromedp.Do(fac, chromedp.SendKeys(chromedp.CSS("#ws-title"), "Friday workshop")))
	decideSubmit(t, fac, "#ws-create")
	assert.Contains(t, decideLocation(t, fac), "/board?created=1")
	shown := strings.TrimSpace(decidePageText(t, fac, "#ws-code"))
	require.Regexp(t, `^[A-Z0-9]{3}-[A-Z0-9]{3}$`, shown)
	code := strings.ReplaceAll(shown, "-", "")
	assert.Contains(t, decidePageText(t, fac, "#ws-created"), "Keep it to yourself")
	wsPoll(t, fac, `!!document.getElementById("ws-people-empty")`, "an empty board says so")

	// The participant joins, typing the code as read aloud.
	require.NoError(t, chromedp.Do(part, chromedp.Navigate(e.base+"/join")))
	require.NoError(t, chromedp.Do(part,
		chromedp.SendKeys(chromedp.CSS("#ws-code"), strings.ToLower(shown)),
		chromedp.SendKeys(chromedp.CSS("#ws-name"), "Ada"),
	))
	decideSubmit(t, part, "#ws-join-button")
	assert.Equal(t, e.base+"/workshops/"+code, decideLocation(t, part))
	assert.Equal(t, "Ada", decidePageText(t, part, "#ws-me"))

	// The board shows them without a reload, then where they are.
	wsPoll(t, fac, `(document.getElementById("ws-table")||{textContent:""}).textContent.includes("Ada")`, "the join reaches the open board")
	require.NoError(t, chromedp.Do(part, chromedp.Navigate(e.base+"/lessons/synchronous-reality")))
	moved := time.Now()
	wsPoll(t, part, `!!document.querySelector("#ws-bar a[aria-current=step][href='/lessons/synchronous-reality']")`, "the bar marks the chapter")
	wsPoll(t, fac, `document.getElementById("ws-table").textContent.includes("Synchronous reality")`, "the board shows where they are")
	took := time.Since(moved)
	t.Logf("the board showed where the participant is %v after they opened the chapter", took.Round(time.Millisecond))
	assert.Less(t, took, 2*time.Second, "the board follows within moments")

	// A raised hand reaches the queue; the facilitator is on the way, and
	// the participant's bar says so without a reload.
	decideSubmit(t, part, "#ws-hand")
	assert.Equal(t, e.base+"/lessons/synchronous-reality", decideLocation(t, part), "back to the page they were reading")
	assert.Equal(t, "true", decideEval(t, part, `document.getElementById("ws-hand").getAttribute("aria-pressed")`))
	wsPoll(t, fac, `!!document.querySelector("#ws-queue button")`, "the hand reaches the queue")
	require.NoError(t, chromedp.Do(fac, chromedp.Click(chromedp.CSS("#ws-queue button"))))
	wsPoll(t, part, `document.getElementById("ws-bar").textContent.includes("The facilitator is on the way.")`, "the answer reaches the bar live")

	// Moving everyone prompts the participant, live, and moves nobody.
	require.NoError(t, chromedp.Do(fac, chromedp.SetValue(chromedp.CSS("#ws-move-item"), "3")))
	decideSubmit(t, fac, "#ws-move")
	wsPoll(t, part, `!!document.getElementById("ws-prompt")`, "the move reaches the bar as a prompt")
	assert.Equal(t, e.base+"/lessons/synchronous-reality", decideLocation(t, part), "nobody is moved")

	// A room run: the scenario runs in the participant's sandbox and their
	// figures appear on the board.
	require.NoError(t, chromedp.Do(part, chromedp.Navigate(e.base+"/labs")))
	wsPoll(t, part, `!!document.querySelector("[data-base]")`, "the participant's lab is open")
	require.NoError(t, chromedp.Do(fac, chromedp.SetValue(chromedp.CSS("#ws-room-run-scenario"), "baseline")))
	decideSubmit(t, fac, "#ws-room-run")
	_, err := chromedp.Run(fac, chromedp.Poll[bool](`!!document.querySelector("#ws-room-baseline details.ws-figures")`, chromedp.WithPollingTimeout(60*time.Second)))
	require.NoError(t, err, "the room run's figures reach the board")
	assert.Contains(t, decidePageText(t, fac, "#ws-room-baseline"), "run for the room")
	assert.Contains(t, decidePageText(t, fac, "#ws-room-baseline .ws-figures"), "200/200")

	// The report downloads with the participant in it.
	md := decideEval(t, fac, `fetch("/workshops/`+code+`/report.md").then(r => r.text())`)
	assert.Contains(t, md, "| Ada |")
	csv := decideEval(t, fac, `fetch("/workshops/`+code+`/report.csv").then(r => r.text())`)
	assert.Contains(t, csv, "Ada,")

	// Keyboard: the hand button takes the focus.
	assert.Equal(t, "ws-hand", decideEval(t, part, `(() => { document.getElementById("ws-hand").focus(); return document.activeElement.id; })()`))

	// On a phone, neither the board nor a page with the bar is wider than
	// the screen.
	for _, tc := range []struct {
		ctx  context.Context
		path string
	}{{fac, "/workshops/" + code + "/board"}, {part, "/lessons/synchronous-reality"}, {part, "/workshops/" + code}} {
		require.NoError(t, chromedp.Do(tc.ctx, chromedp.EmulateViewport(390, 800), chromedp.Navigate(e.base+tc.path)))
		assert.Equal(t, "390", decideEval(t, tc.ctx, `String(document.documentElement.scrollWidth)`), "%s at 390 px: %s", tc.path,
			decideEval(t, tc.ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right)).join(" | ")`))
	}
}
