package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/lessons"
)

// chapterWith returns the first chapter whose body contains marker.
func chapterWith(t *testing.T, cat *lessons.Catalog, marker string) *lessons.Chapter {
	t.Helper()
	for _, ch := range cat.Chapters {
		if strings.Contains(string(ch.Before+ch.After), marker) {
			return ch
		}
	}
	t.Fatalf("no chapter contains %q", marker)
	return nil
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return loc
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	require.NoError(t, err, expr)
	return n
}

// lessonsBrowser opens a tab that fails the test if the page logs a script
// error or a Content-Security-Policy refusal.
func lessonsBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx := browsertest.New(t, timeout)
	browsertest.FailOnConsoleErrors(t, ctx)
	return ctx
}

// screenshot saves the page when LESSONS_SCREENSHOTS names a folder, for a
// human to look at; the tests never depend on it.
func screenshot(t *testing.T, ctx context.Context, name, sel string) {
	dir := os.Getenv("LESSONS_SCREENSHOTS")
	if dir == "" {
		return
	}
	shot := chromedp.CaptureScreenshot() // the viewport
	if sel != "" {
		shot = chromedp.Screenshot(chromedp.CSS(sel))
	}
	png, err := chromedp.Run(ctx, shot)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dir+"/"+name+".png", png, 0o644))
}

// TestBrowserReadAChapterAndTurnThePage reads a chapter, uses a glossary
// term with the keyboard, and turns to the next chapter with PageDown.
func TestBrowserReadAChapterAndTurnThePage(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	ctx := lessonsBrowser(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons"),
		chromedp.Click(chromedp.CSS(`.chapter-link[href="/lessons/`+ch.Slug+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#lesson-title")),
	))
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#lesson-title")))
	require.NoError(t, err)
	assert.Equal(t, ch.Title, title)
	screenshot(t, ctx, "chapter", "")

	// The table of contents deep-links to a heading.
	h := ch.Headings[len(ch.Headings)-1]
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.toc a[href="#`+h.ID+`"]`))))
	assert.Equal(t, base+"/lessons/"+ch.Slug+"#"+h.ID, location(t, ctx))

	// A glossary term shows its definition on keyboard focus; Esc hides it.
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(".lesson-body .term-link"))))
	screenshot(t, ctx, "term", "")
	display := func() string {
		d, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement.nextElementSibling).display`))
		require.NoError(t, err)
		return d
	}
	assert.Equal(t, "block", display(), "the definition shows on focus")
	described, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById(document.activeElement.getAttribute("aria-describedby")).textContent`))
	require.NoError(t, err)
	assert.NotEmpty(t, strings.TrimSpace(described), "the link is described by its definition")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)))
	assert.Equal(t, "none", display(), "Esc dismisses the definition")

	// PageDown scrolls the chapter and, at its end, opens the next one.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`),
	))
	next := base + "/lessons/" + ch.Next.Slug
	for i := 0; i < 200 && location(t, ctx) != next; i++ {
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.PageDown), chromedp.Sleep(60*time.Millisecond)))
	}
	require.Equal(t, next, location(t, ctx), "PageDown at the end of a chapter opens the next")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#lesson-title"))))
	title, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#lesson-title")))
	require.NoError(t, err)
	assert.Equal(t, ch.Next.Title, title)

	// ← goes back.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowLeft)))
	prev := base + "/lessons/" + ch.Slug
	for i := 0; i < 100 && location(t, ctx) != prev; i++ {
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(50*time.Millisecond)))
	}
	assert.Equal(t, prev, location(t, ctx), "ArrowLeft opens the previous chapter")
}

// TestBrowserRestaurantWithTheKitchenClosed runs the restaurant animation:
// with the kitchen closed nobody is served, the queue grows and waiters
// time out; with it open, diners are served.
func TestBrowserRestaurantWithTheKitchenClosed(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := chapterWith(t, cat, `data-widget="restaurant"`)
	ctx := lessonsBrowser(t, 90*time.Second)
	w := `figure.widget-restaurant`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons/"+ch.Slug),
		chromedp.WaitVisible(chromedp.CSS(w+".is-live .widget-controls")),
	))
	counter := func(name string) int {
		return evalInt(t, ctx, `parseInt(document.querySelector('`+w+` [data-counter="`+name+`"]').textContent, 10)`)
	}
	pressed, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(w+` [data-action="play"]`), "aria-pressed"))
	require.NoError(t, err)
	assert.Equal(t, "true", pressed.Value, "it plays when motion is welcome")

	// Pause, start afresh, close the kitchen and step through 20 seconds.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(w+` [data-action="play"]`)),
		chromedp.Click(chromedp.CSS(w+` [data-action="reset"]`)),
		chromedp.Click(chromedp.CSS(w+` [data-control="kitchen-closed"]`)),
	))
	assert.Equal(t, 0, counter("timedout"))
	waitingBefore := counter("waiting")
	for range 20 {
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(w+` [data-action="step"]`))))
	}
	screenshot(t, ctx, "restaurant-closed", w)
	assert.Equal(t, 0, counter("served"), "a closed kitchen serves nobody")
	assert.GreaterOrEqual(t, counter("timedout"), 3, "every waiter gave up after their timeout")
	assert.Greater(t, counter("waiting"), waitingBefore, "the queue grows")
	assert.Equal(t, 1, evalInt(t, ctx, `document.querySelectorAll('`+w+` .closed-sign').length`), "the kitchen shows it is closed")
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(w+" .widget-status")))
	require.NoError(t, err)
	assert.Contains(t, status, "timed out", "steps are announced to screen readers")

	// Open the kitchen again and let it play fast: diners get served.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(w+` [data-control="kitchen-closed"]`)),
		chromedp.SetValue(chromedp.CSS(w+` [data-control="speed"]`), "4"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+w+` [data-control="speed"]').dispatchEvent(new Event("change"))`),
		chromedp.Click(chromedp.CSS(w+` [data-action="play"]`)),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](
		`parseInt(document.querySelector('`+w+` [data-counter="served"]').textContent, 10) >= 2`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "an open kitchen serves diners while the animation plays")
}

// TestBrowserAnalogyStaysStillWithReducedMotion checks the animation does
// not start by itself when the learner asks for reduced motion, and that
// the described still version is there.
func TestBrowserAnalogyStaysStillWithReducedMotion(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := chapterWith(t, cat, `data-widget="postal"`)
	ctx := lessonsBrowser(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
			})
			return err
		}),
		chromedp.Navigate(base+"/lessons/"+ch.Slug),
		chromedp.WaitVisible(chromedp.CSS("figure.widget-postal.is-live .widget-controls")),
	))
	w := "figure.widget-postal"
	pressed, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(w+` [data-action="play"]`), "aria-pressed"))
	require.NoError(t, err)
	assert.Equal(t, "false", pressed.Value)
	require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(1500*time.Millisecond)))
	assert.Equal(t, 0, evalInt(t, ctx, `parseInt(document.querySelector('`+w+` [data-counter="posted"]').textContent, 10)`), "nothing moves by itself")
	desc, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(w+" .widget-description")))
	require.NoError(t, err)
	assert.NotEmpty(t, strings.TrimSpace(desc))

	// Stepping is still possible: the recipient is away, parcels pile up
	// and come back for redelivery, and the sender never waits.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(w+` [data-control="recipient-away"]`))))
	for range 15 {
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(w+` [data-action="step"]`))))
	}
	counter := func(name string) int {
		return evalInt(t, ctx, `parseInt(document.querySelector('`+w+` [data-counter="`+name+`"]').textContent, 10)`)
	}
	assert.GreaterOrEqual(t, counter("posted"), 4)
	assert.Equal(t, 0, counter("delivered"))
	assert.GreaterOrEqual(t, counter("redelivered"), 1)
	assert.GreaterOrEqual(t, counter("queued"), 1)
	assert.Equal(t, 0, counter("senderwait"))
	screenshot(t, ctx, "postal-away", w)
}

// quizPage drives a chapter's knowledge check in the browser.
type quizPage struct {
	t   *testing.T
	ctx context.Context
	ch  *lessons.Chapter
}

// choose clicks, for every question, its right option or its first wrong
// one (by value: each learner sees the options in an order of their own).
func (p quizPage) choose(right bool, qs ...*lessons.Question) {
	p.t.Helper()
	if len(qs) == 0 {
		qs = p.ch.Quiz.Questions
	}
	for _, q := range qs {
		for _, o := range q.Options {
			if o.Correct == right {
				require.NoError(p.t, chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(
					fmt.Sprintf(`input[name="%s%s"][value="%s"]`, lessons.AnswerField, q.ID, o.Value)))))
				break
			}
		}
	}
}

func (p quizPage) check() {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(`form.quiz-form .quiz-actions button[type="submit"]`))))
}

func (p quizPage) waitFor(expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(p.t, err, expr)
}

func (p quizPage) score(want string) {
	p.t.Helper()
	p.waitFor(`(document.querySelector(".quiz .score") || {textContent: ""}).textContent.includes(` + fmt.Sprintf("%q", want) + `)`)
}

func (p quizPage) count(sel string) int {
	p.t.Helper()
	return evalInt(p.t, p.ctx, `document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`).length`)
}

func (p quizPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(document.querySelector(`+fmt.Sprintf("%q", sel)+`) || {textContent: ""}).textContent`))
	require.NoError(p.t, err)
	return s
}

// plain is what an explanation reads like on the page.
func (p quizPage) plain(h string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(function () { var d = document.createElement("div"); d.innerHTML = `+fmt.Sprintf("%q", h)+`; return d.textContent; })()`))
	require.NoError(p.t, err)
	return s
}

// onlyTheChoiceExplained checks a wrongly answered question explains why
// the chosen option is wrong, and nothing else.
func (p quizPage) onlyTheChoiceExplained(q *lessons.Question) {
	p.t.Helper()
	var wrong *lessons.Option
	for _, o := range q.Options {
		if !o.Correct {
			wrong = o
			break
		}
	}
	fs := "#q-" + q.ID
	assert.Equal(p.t, 1, p.count(fs+" .why"), "%s: one explanation", q.ID)
	assert.Equal(p.t, 1, p.count(fs+" .option.is-chosen .why"), "%s: the chosen option's", q.ID)
	assert.Contains(p.t, p.text(fs+" .why"), p.plain(string(wrong.Why)), q.ID)
	assert.NotContains(p.t, p.text(fs), p.plain(string(q.Correct().Why)), "%s: the right answer's explanation is kept back", q.ID)
	assert.Equal(p.t, 0, p.count(fs+" .is-correct"), "%s: nothing marks the right option", q.ID)
}

// quizShots saves the check at a desktop and a phone width, light and dark.
func quizShots(t *testing.T, ctx context.Context, name string) {
	if os.Getenv("LESSONS_SCREENSHOTS") == "" {
		return
	}
	for _, w := range []int64{1280, 390} {
		for _, theme := range []string{"light", "dark"} {
			require.NoError(t, chromedp.Do(ctx,
				chromedp.EmulateViewport(w, 900),
				chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.theme = "`+theme+`"`),
			))
			screenshot(t, ctx, fmt.Sprintf("%s-%d-%s", name, w, theme), ".quiz")
		}
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Evaluate[chromedp.Void](`delete document.documentElement.dataset.theme`),
	))
}

// TestBrowserQuizWrongThenRightAndProgress answers a knowledge check wrongly
// (each question explains only why the choice is wrong), shows one
// question's answers with the keyboard, answers rightly (every option is
// explained) and finds the chapter completed on the index after a reload.
func TestBrowserQuizWrongThenRightAndProgress(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	qs := ch.Quiz.Questions
	n := len(qs)
	ctx := lessonsBrowser(t, 120*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons/"+ch.Slug+"#quiz"),
		chromedp.WaitVisible(chromedp.CSS("form.quiz-form")),
	))
	p := quizPage{t, ctx, ch}
	assert.Equal(t, 0, p.count(".quiz .why, .quiz .reveal"), "nothing is explained before answering")

	p.choose(false)
	p.check()
	p.score(fmt.Sprintf("0 of %d", n))
	assert.Equal(t, n, p.count(".question.is-wrong"))
	assert.Equal(t, location(t, ctx), base+"/lessons/"+ch.Slug+"#quiz", "graded in place, no page load")
	for _, q := range qs {
		p.onlyTheChoiceExplained(q)
	}
	assert.Equal(t, n, p.count(".quiz .reveal"), "every wrong question offers its answers")
	quizShots(t, ctx, "quiz-wrong")

	// Answer the second question rightly, then show the first one's answers
	// with the keyboard.
	first, second := qs[0], qs[1]
	p.choose(true, second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS("#q-"+first.ID+" .reveal")),
		chromedp.KeyEvent(kb.Enter),
	))
	p.waitFor(`!!document.querySelector("#q-` + first.ID + `.is-revealed")`)
	assert.Equal(t, len(first.Options), p.count("#q-"+first.ID+" .why"), "every option of the revealed question is explained")
	assert.Equal(t, 1, p.count("#q-"+first.ID+" .option.is-correct"), "its right option is marked")
	assert.Contains(t, p.text("#q-"+first.ID+" .option.is-correct"), p.plain(string(first.Correct().Why)))
	assert.Equal(t, 0, p.count("#q-"+first.ID+" .reveal"))
	assert.Equal(t, len(second.Options), p.count("#q-"+second.ID+".is-right .why"), "a right answer explains every option")
	for _, q := range qs[2:] {
		p.onlyTheChoiceExplained(q)
	}
	p.score(fmt.Sprintf("1 of %d", n))
	assert.Contains(t, p.text(".quiz .score"), "Questions whose answers you showed count as not right this time.")
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.activeElement.closest("fieldset") || {id: ""}).id`))
	require.NoError(t, err)
	assert.Equal(t, "q-"+first.ID, focused, "focus moves to the revealed question")
	quizShots(t, ctx, "quiz-revealed")

	p.choose(true)
	p.check()
	p.score(fmt.Sprintf("%d of %d", n, n))
	assert.Equal(t, n, p.count(".question.is-right"))
	opts := 0
	for _, q := range qs {
		opts += len(q.Options)
	}
	assert.Equal(t, opts, p.count(".quiz .option .why"), "every option is explained")
	assert.Equal(t, n, p.count(".quiz .option.is-correct.is-chosen"))
	quizShots(t, ctx, "quiz-right")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons"),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(".chapter-list")),
	))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.chapter-card[data-slug="`+ch.Slug+`"] [data-status]`)))
	require.NoError(t, err)
	assert.Contains(t, status, "Completed")
	assert.Contains(t, status, fmt.Sprintf("quiz best %d/%d", n, n))
	summary, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#progress-summary")))
	require.NoError(t, err)
	assert.Contains(t, summary, fmt.Sprintf("1 of %d", len(cat.Chapters)))
	screenshot(t, ctx, "index", "main")
}

// TestBrowserQuizShowTheAnswersWithoutJavaScript: with scripts off the
// check is a plain form, and "Show the answers" is one of its buttons: it
// posts the page and comes back to the question, every option explained.
func TestBrowserQuizShowTheAnswersWithoutJavaScript(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[1]
	q := ch.Quiz.Questions[0]
	ctx := lessonsBrowser(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.Navigate(base+"/lessons/"+ch.Slug),
		chromedp.WaitVisible(chromedp.CSS("form.quiz-form")),
	))
	p := quizPage{t, ctx, ch}
	p.choose(false)
	p.check()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".quiz .score"))))
	assert.Equal(t, base+"/lessons/"+ch.Slug+"/quiz#quiz", location(t, ctx), "a plain form post")
	p.onlyTheChoiceExplained(q)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS("#q-"+q.ID+" .reveal")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#q-"+q.ID+".is-revealed")),
	))
	assert.Equal(t, base+"/lessons/"+ch.Slug+"/quiz#q-"+q.ID, location(t, ctx), "back at the question")
	assert.Equal(t, len(q.Options), p.count("#q-"+q.ID+" .why"))
	assert.Equal(t, 1, p.count("#q-"+q.ID+" .option.is-correct"))
	for _, other := range ch.Quiz.Questions[1:] {
		p.onlyTheChoiceExplained(other)
	}
}

// TestBrowserSearchAndGlossary searches from the index and follows a hit to
// the glossary entry.
func TestBrowserSearchAndGlossary(t *testing.T) {
	cat, base := newLessonServer(t)
	term := cat.Glossary[0]
	ctx := lessonsBrowser(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons"),
		chromedp.SendKeys(chromedp.CSS("#lesson-q"), term.Term+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#search-status")),
		chromedp.Click(chromedp.CSS(`.search-results a[href="/glossary#`+term.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".glossary")),
	))
	assert.Equal(t, base+"/glossary#"+term.ID, location(t, ctx))
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById(`+fmt.Sprintf("%q", term.ID)+`)).outlineStyle`))
	require.NoError(t, err)
	assert.Equal(t, "solid", bg, "the linked entry is highlighted")
}

// TestBrowserImportAndResetProgress imports a progress file through the
// index page's form, then resets it.
func TestBrowserImportAndResetProgress(t *testing.T) {
	cat, base := newLessonServer(t)
	a, b := cat.Chapters[0], cat.Chapters[1]
	n := len(a.Quiz.Questions)
	file := filepath.Join(t.TempDir(), "crossroads-progress.json")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(
		`{"version":1,"exported_at":"2026-11-25T12:00:00Z","chapters":{"%s":{"completed":true,"best_score":%d,"last_score":%d,"attempts":2},"%s":{"completed":true}}}`,
		a.Slug, n, n-1, b.Slug)), 0o600))
	ctx := lessonsBrowser(t, 60*time.Second)
	total := len(cat.Chapters)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/lessons"),
		chromedp.WaitVisible(chromedp.CSS("#progress-file")),
		chromedp.SetUploadFiles(chromedp.CSS("#progress-file"), []string{file}),
		chromedp.Click(chromedp.CSS(".import-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	))
	summary, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#progress-summary")))
	require.NoError(t, err)
	assert.Contains(t, summary, fmt.Sprintf("2 of %d", total))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.chapter-card[data-slug="`+a.Slug+`"] [data-status]`)))
	require.NoError(t, err)
	assert.Contains(t, status, fmt.Sprintf("quiz best %d/%d, last %d/%d", n, n, n-1, n))

	// Reset asks first (the dialog is the browser's; accept it here).
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.confirm = function () { return true; }`),
		chromedp.Click(chromedp.CSS(".reset-form button[type=submit]")),
	))
	for i := 0; i < 100 && location(t, ctx) != base+"/lessons?done=reset"; i++ {
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(50*time.Millisecond)))
	}
	require.Equal(t, base+"/lessons?done=reset", location(t, ctx))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#progress-summary"))))
	summary, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#progress-summary")))
	require.NoError(t, err)
	assert.Contains(t, summary, fmt.Sprintf("0 of %d", total))
}
