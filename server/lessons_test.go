package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
)

// shippedFigures quotes the recorded runs shipped in content/labs/results,
// as serve.go does: a chapter quoting a figure never recorded fails here.
func shippedFigures(t testing.TB) lessons.Figures {
	t.Helper()
	recs, err := shippedRecordings(content.FS)
	require.NoError(t, err)
	return QuoteFigures(recs)
}

// realCatalog is the shipped course, loaded as serve.go loads it.
func realCatalog(t testing.TB) *lessons.Catalog {
	t.Helper()
	c, err := lessons.Load(content.FS, lessons.Options{Figures: shippedFigures(t)})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(c.Chapters), 2)
	return c
}

func newLessonServer(t testing.TB) (*lessons.Catalog, string) {
	c := realCatalog(t)
	_, base := newTestServer(t, Config{Lessons: c})
	return c, base
}

// browser returns an HTTP client that keeps cookies, like a learner's browser,
// and does not follow redirects so tests can see them.
func browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// answers builds a quiz form: right answers, or for wrong=true the first
// option that is not right.
func answers(ch *lessons.Chapter, wrong bool) string {
	v := url.Values{}
	for _, q := range ch.Quiz.Questions {
		for _, o := range q.Options {
			if o.Correct != wrong {
				v.Set(lessons.AnswerField+q.ID, o.Value)
				break
			}
		}
	}
	return v.Encode()
}

func TestLessonPageServesTheCachedChapter(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[1]
	res, body := get(t, base+"/lessons/"+ch.Slug)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "<h1 id=\"lesson-title\">"+htmlText(ch.Title)+"</h1>")
	assert.Contains(t, body, `<link rel="prev" href="/lessons/`+cat.Chapters[0].Slug+`">`)
	assert.Contains(t, body, `<link rel="next" href="/lessons/`+cat.Chapters[2].Slug+`">`)
	assert.Contains(t, body, string(ch.TOC), "table of contents")
	for _, h := range ch.Headings {
		assert.Contains(t, body, `<a class="heading-anchor" href="#`+h.ID+`">`, "every heading links to itself")
	}
	assert.Contains(t, body, `<form class="quiz-form" method="post" action="/lessons/`+ch.Slug+`/quiz#quiz"`)
	assertCSPClean(t, body)

	res, _ = get(t, base+"/lessons/no-such-chapter")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// assertCSPClean checks a page needs nothing the Content-Security-Policy
// forbids: no inline style attributes, no inline scripts, no handlers.
func assertCSPClean(t *testing.T, body string) {
	t.Helper()
	assert.NotRegexp(t, `\sstyle="`, body)
	assert.NotRegexp(t, `<script>|<script [^>]*>[^<]`, body)
	assert.NotRegexp(t, `\son[a-z]+="`, body)
}

func TestQuizGradingOnTheServer(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	client := browser(t)
	quizURL := base + "/lessons/" + ch.Slug + "/quiz"

	res, body := postForm(t, client, quizURL, answers(ch, true))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "You got <strong>0 of ")
	assert.Equal(t, len(ch.Quiz.Questions), strings.Count(body, `class="question is-wrong"`))
	quiz := quizSection(t, body)
	form, _ := url.ParseQuery(answers(ch, true))
	for _, q := range ch.Quiz.Questions {
		chosen := form.Get(lessons.AnswerField + q.ID)
		for _, o := range q.Options {
			if o.Value == chosen {
				assert.Contains(t, quiz, string(o.Why), "question %s: why the chosen option is wrong", q.ID)
			} else {
				assert.NotContains(t, quiz, string(o.Why), "question %s: no other option is explained", q.ID)
			}
		}
		assert.Contains(t, quiz, `name="reveal" value="`+q.ID+`"`, "question %s: its answers can be shown", q.ID)
	}
	assert.NotContains(t, quiz, "is-correct", "a wrong answer does not give the right one away")
	assert.Contains(t, body, "Mark this chapter as read", "a wrong check does not complete the chapter")

	res, body = postForm(t, client, quizURL, answers(ch, false))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Chapter complete.")
	for _, q := range ch.Quiz.Questions {
		for _, o := range q.Options {
			assert.Contains(t, body, string(o.Why), "question %s: a right answer explains every option", q.ID)
		}
	}
	assert.Equal(t, len(ch.Quiz.Questions), strings.Count(body, `class="option is-correct is-chosen"`))
	assert.Contains(t, body, "✓ You have completed this chapter.")
	assert.Contains(t, body, fmt.Sprintf("knowledge check best %d/%d", len(ch.Quiz.Questions), len(ch.Quiz.Questions)))

	// lessons.js asks for just the graded check.
	req, err := http.NewRequest(http.MethodPost, quizURL, strings.NewReader(answers(ch, true)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "fetch")
	res, err = client.Do(req)
	require.NoError(t, err)
	frag, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(string(frag), `<section class="quiz"`), "a fragment, not a page")
	assert.NotContains(t, string(frag), "<html")

	// The best score survives a worse attempt; the last one is shown too.
	_, index := fetch(t, client, base+"/lessons")
	n := len(ch.Quiz.Questions)
	assert.Contains(t, index, fmt.Sprintf("quiz best %d/%d, last 0/%d", n, n, n))
}

// quizSection cuts the knowledge check out of a page.
func quizSection(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `<section class="quiz"`)
	require.GreaterOrEqual(t, i, 0, "the page has a knowledge check")
	j := strings.Index(body[i:], "</section>")
	require.Positive(t, j)
	return body[i : i+j]
}

// learnerClient is a browser whose learner cookie is id.
func learnerClient(t *testing.T, base, id string) *http.Client {
	t.Helper()
	c := browser(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: learnerCookieName, Value: id, Path: "/"}})
	return c
}

// optionOrder lists the option values of every question in page order.
var optionValueRE = regexp.MustCompile(`name="answer-([a-z0-9-]+)" value="([a-z0-9]+)"`)

func optionOrder(body string) []string {
	var out []string
	for _, m := range optionValueRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+"="+m[2])
	}
	return out
}

func TestQuizOptionOrderIsTheLearnersOwn(t *testing.T) {
	cat, base := newLessonServer(t)
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	alice, bob := learnerClient(t, base, a), learnerClient(t, base, b)
	differ := 0
	for _, ch := range cat.Chapters {
		_, pa := fetch(t, alice, base+"/lessons/"+ch.Slug)
		_, pa2 := fetch(t, alice, base+"/lessons/"+ch.Slug)
		_, pb := fetch(t, bob, base+"/lessons/"+ch.Slug)
		oa, ob := optionOrder(quizSection(t, pa)), optionOrder(quizSection(t, pb))
		require.NotEmpty(t, oa)
		assert.Equal(t, oa, optionOrder(quizSection(t, pa2)), "%s: the same learner sees the same order on reload", ch.Slug)
		assert.ElementsMatch(t, oa, ob, "%s: the same options", ch.Slug)
		if !assert.ObjectsAreEqual(oa, ob) {
			differ++
		}
		want, err := lessons.RenderQuizFor(ch, a, nil)
		require.NoError(t, err)
		assert.Contains(t, pa, string(want), "%s: the page shows the learner's order", ch.Slug)
		for _, o := range oa {
			assert.Regexp(t, `=(sync|async|o[0-9a-f]{8})$`, o, "%s: option values tell nothing about where an option is written", ch.Slug)
		}
	}
	assert.Positive(t, differ, "two learners see a different order in some chapter")

	// Grading goes by value, not by position: the right values are right
	// whatever order this learner sees them in.
	ch := cat.Chapters[0]
	res, body := postForm(t, bob, base+"/lessons/"+ch.Slug+"/quiz", answers(ch, false))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, fmt.Sprintf("You got <strong>%d of %d</strong> right.", len(ch.Quiz.Questions), len(ch.Quiz.Questions)))
	want, err := lessons.RenderQuizFor(ch, b, nil)
	require.NoError(t, err)
	assert.Equal(t, optionOrder(string(want)), optionOrder(quizSection(t, body)), "the graded check keeps the learner's order")
}

func TestQuizShowTheAnswers(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	client := browser(t)
	quizURL := base + "/lessons/" + ch.Slug + "/quiz"
	q, other := ch.Quiz.Questions[0], ch.Quiz.Questions[1]
	n := len(ch.Quiz.Questions)

	// The right answers, but the first question's answers are shown: it does
	// not count, and every one of its options is explained.
	res, body := postForm(t, client, quizURL, answers(ch, false)+"&"+lessons.RevealField+"="+q.ID)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, fmt.Sprintf("You got <strong>%d of %d</strong> right. Questions whose answers you showed count as not right this time.", n-1, n))
	assert.Contains(t, body, `<fieldset class="question is-revealed" id="q-`+q.ID+`">`)
	for _, o := range q.Options {
		assert.Contains(t, body, string(o.Why))
	}
	assert.Contains(t, body, "counts as not answered right in this check")
	assert.Contains(t, body, "Mark this chapter as read", "a revealed question keeps the chapter open")
	_, index := fetch(t, client, base+"/lessons")
	assert.Contains(t, index, fmt.Sprintf("quiz best %d/%d, last %d/%d", n-1, n, n-1, n), "the attempt is recorded without the revealed question")

	// Wrong answers, one revealed: the others still explain only the choice.
	res, body = postForm(t, client, quizURL, answers(ch, true)+"&"+lessons.RevealField+"="+q.ID)
	require.Equal(t, http.StatusOK, res.StatusCode)
	quiz := quizSection(t, body)
	assert.Contains(t, quiz, `class="option is-correct`, "the revealed question marks its right option")
	assert.Equal(t, 1, strings.Count(quiz, "is-correct"), "and only that question does")
	if c := other.Correct(); c != nil {
		assert.NotContains(t, quiz, string(c.Why), "another wrong question keeps its right answer back")
	}

	// The control works without a script: a submit button in the form that
	// needs no other answer and brings the learner back to the question.
	_, page := postForm(t, client, quizURL, answers(ch, true))
	assert.Regexp(t, `<button type="submit" class="button-small reveal" name="reveal" value="`+regexp.QuoteMeta(other.ID)+`" formaction="/lessons/`+ch.Slug+`/quiz#q-`+regexp.QuoteMeta(other.ID)+`" formnovalidate>Show the answers<span class="visually-hidden"> to question 2</span></button>`, page)

	// Revealing an unknown question is a bad request.
	res, _ = postForm(t, client, quizURL, lessons.RevealField+"=no-such-question")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)

	// The unanswered page explains nothing.
	_, fresh := fetch(t, client, base+"/lessons/"+ch.Slug)
	assert.NotContains(t, quizSection(t, fresh), `class="why"`)
	assert.NotContains(t, quizSection(t, fresh), `name="reveal"`)
}

func TestQuizRejectsTamperedAnswers(t *testing.T) {
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	q := ch.Quiz.Questions[0]
	quizURL := base + "/lessons/" + ch.Slug + "/quiz"
	cases := map[string]string{
		"unknown question":   lessons.AnswerField + "no-such-question=0",
		"value not offered":  lessons.AnswerField + q.ID + "=99",
		"written position":   lessons.AnswerField + q.ID + "=0",
		"script as a value":  lessons.AnswerField + q.ID + "=%3Cscript%3E",
		"answer given twice": lessons.AnswerField + q.ID + "=" + q.Options[0].Value + "&" + lessons.AnswerField + q.ID + "=" + q.Options[1].Value,
		"malformed body":     "%zz",
	}
	for name, form := range cases {
		t.Run(name, func(t *testing.T) {
			res, body := postForm(t, nil, quizURL, form)
			assert.Equal(t, http.StatusBadRequest, res.StatusCode)
			assert.NotContains(t, body, "<script>")
		})
	}
	t.Run("too large", func(t *testing.T) {
		res, body := postForm(t, nil, quizURL, "x="+strings.Repeat("a", 20<<10))
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		assert.Contains(t, body, "at most 16 KB")
	})
	t.Run("unknown chapter", func(t *testing.T) {
		res, _ := postForm(t, nil, base+"/lessons/nope/quiz", "")
		assert.Equal(t, http.StatusNotFound, res.StatusCode)
	})
	t.Run("message names the field", func(t *testing.T) {
		_, body := postForm(t, nil, quizURL, lessons.AnswerField+"no-such-question=0")
		assert.Contains(t, body, "answer-no-such-question")
	})
}

func TestProgressExportImportAndReset(t *testing.T) {
	cat, base := newLessonServer(t)
	alice := browser(t)
	a, b := cat.Chapters[0], cat.Chapters[1]
	postForm(t, alice, base+"/lessons/"+a.Slug+"/quiz", answers(a, false))
	res, _ := postForm(t, alice, base+"/lessons/"+b.Slug+"/complete", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)

	res, exported := fetch(t, alice, base+"/lessons/progress/export")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Disposition"), `attachment; filename="crossroads-progress.json"`)
	var e lessons.Export
	require.NoError(t, json.Unmarshal([]byte(exported), &e))
	assert.Equal(t, 1, e.Version)
	assert.True(t, e.Chapters[a.Slug].Completed)
	assert.Equal(t, len(a.Quiz.Questions), e.Chapters[a.Slug].BestScore)
	assert.True(t, e.Chapters[b.Slug].Completed)

	// Bob imports Alice's file through the page's upload form.
	bob := browser(t)
	_, before := fetch(t, bob, base+"/lessons")
	assert.Contains(t, before, "<strong>0 of ")
	res, _ = upload(t, bob, base+"/lessons/progress/import", exported)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/lessons?done=imported", res.Header.Get("Location"))
	_, after := fetch(t, bob, base+"/lessons?done=imported")
	assert.Contains(t, after, "Progress imported.")
	assert.Contains(t, after, "<strong>2 of ")
	_, reexported := fetch(t, bob, base+"/lessons/progress/export")
	var e2 lessons.Export
	require.NoError(t, json.Unmarshal([]byte(reexported), &e2))
	assert.Equal(t, e.Chapters, e2.Chapters, "the round trip keeps every field")

	// Bad files are refused with the field named, and change nothing.
	for file, want := range map[string]string{
		`{"version":1,"chapters":{"nope":{}}}`: "chapters.nope: no chapter has this slug",
		`{"version":7,"chapters":{}}`:          "version: 7 is not supported",
		`not json`:                             "not a Crossroads progress file",
		`{"version":1,"chapters":{"` + a.Slug + `":{"best_score":99,"last_score":0,"attempts":1}}}`: "best_score: 99 is outside",
	} {
		res, body := upload(t, bob, base+"/lessons/progress/import", file)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, file)
		assert.Contains(t, body, want)
	}
	res, body := postForm(t, bob, base+"/lessons/progress/import", "file=x")
	assert.Equal(t, http.StatusUnsupportedMediaType, res.StatusCode)
	assert.Contains(t, body, "application/json")
	_, still := fetch(t, bob, base+"/lessons")
	assert.Contains(t, still, "<strong>2 of ")

	res, _ = postForm(t, bob, base+"/lessons/progress/reset", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, reset := fetch(t, bob, base+"/lessons?done=reset")
	assert.Contains(t, reset, "<strong>0 of ")
	_, aliceIndex := fetch(t, alice, base+"/lessons")
	assert.Contains(t, aliceIndex, "<strong>2 of ", "one learner's reset leaves others alone")
}

func upload(t *testing.T, c *http.Client, u, file string) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("file", "crossroads-progress.json")
	require.NoError(t, err)
	_, _ = fw.Write([]byte(file))
	require.NoError(t, w.Close())
	req, err := http.NewRequest(http.MethodPost, u, &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestSearchGlossaryAndPrintPages(t *testing.T) {
	cat, base := newLessonServer(t)
	term := cat.Glossary[0]
	res, body := get(t, base+"/lessons/search?q="+url.QueryEscape(term.Term))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `href="/glossary#`+term.ID+`"`)
	assert.Regexp(t, `\d+ results? for`, body)

	res, body = get(t, base+"/lessons/search?q=zzzxqv")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "0 results for")
	res, body = get(t, base+"/lessons/search?q="+strings.Repeat("a", 300))
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, body, "q: the search text is longer than 200 characters")

	res, body = get(t, base+"/glossary")
	require.Equal(t, http.StatusOK, res.StatusCode)
	for _, g := range cat.Glossary {
		assert.Contains(t, body, `id="`+g.ID+`"`)
	}
	assertCSPClean(t, body)

	res, body = get(t, base+"/lessons/print")
	require.Equal(t, http.StatusOK, res.StatusCode)
	for _, ch := range cat.Chapters {
		assert.Contains(t, body, `id="chapter-`+ch.Slug+`"`)
	}
	assertCSPClean(t, body)
	assertUniqueIDs(t, body)
}

func assertUniqueIDs(t *testing.T, body string) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		seen[m[1]]++
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "id %q is used %d times", id, n)
	}
}

func TestEveryLessonPageHasUniqueIDs(t *testing.T) {
	cat, base := newLessonServer(t)
	for _, ch := range cat.Chapters {
		_, body := get(t, base+"/lessons/"+ch.Slug)
		assertUniqueIDs(t, body)
		assertCSPClean(t, body)
	}
}

func TestChromaStylesheetIsUpToDate(t *testing.T) {
	want, err := lessons.ChromaCSS()
	require.NoError(t, err)
	got, err := os.ReadFile("static/chroma.css")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go generate ./server")
}

func TestLessonsPlaceholderWithoutCatalog(t *testing.T) {
	_, base := newTestServer(t, Config{})
	res, body := get(t, base+"/lessons")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Being built")
}

// TestLessonsQuoteTheRealLabSource loads the course with the lab's source,
// as serve.go does, so every source block must name a function that exists.
func TestLessonsQuoteTheRealLabSource(t *testing.T) {
	c, err := lessons.Load(content.FS, lessons.Options{Source: labs.Source, Figures: shippedFigures(t)})
	require.NoError(t, err)
	quoted := 0
	for _, ch := range c.Chapters {
		body := string(ch.Before + ch.After)
		assert.NotContains(t, body, "not connected to this build", ch.Slug)
		quoted += strings.Count(body, `<figure class="source-block">`)
	}
	assert.GreaterOrEqual(t, quoted, 2, "the hybrid chapter shows signupSync and signupAsync")
	src, err := labs.Source.ReadFile("signup.go")
	require.NoError(t, err)
	assert.Contains(t, string(src), "func (a *signupAPI) signupSync(", "the quoted function is the one that runs")
}

// TestLabScenariosAndLessonsLinkBothWays checks the scenario ids lessons may
// link to are the lab's real scenarios, and every scenario's lesson link
// points at an existing chapter section.
func TestLabScenariosAndLessonsLinkBothWays(t *testing.T) {
	c := realCatalog(t)
	sub, err := fs.Sub(content.FS, "labs")
	require.NoError(t, err)
	scenarios, err := labs.LoadScenarios(sub)
	require.NoError(t, err)
	var ids []string
	for _, sc := range scenarios {
		ids = append(ids, sc.ID)
		if sc.Lesson.Href != "" {
			assert.NoError(t, c.CheckLink(sc.Lesson.Href), "scenario %s links to %s", sc.ID, sc.Lesson.Href)
		}
	}
	assert.ElementsMatch(t, ids, lessons.LabScenarios)
}

// TestLessonsWorkWhileRedisIsDown: reading and answering never depend on
// the progress store; the learner is told progress is not being saved.
func TestLessonsWorkWhileRedisIsDown(t *testing.T) {
	cat := realCatalog(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	_, base := newTestServer(t, Config{Lessons: cat, Redis: dead, Ready: func(context.Context) error { return nil }})
	ch := cat.Chapters[0]

	res, body := get(t, base+"/lessons")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "progress is unavailable just now")
	res, _ = get(t, base+"/lessons/"+ch.Slug)
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, body = postForm(t, nil, base+"/lessons/"+ch.Slug+"/quiz", answers(ch, false))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Chapter complete.", "still graded")
	assert.Contains(t, body, "your progress could not be saved just now")
	res, _ = get(t, base+"/lessons/progress/export")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}

// TestAnalogyWithoutJavaScript: the page itself carries the still picture,
// its description and the legend; controls appear only when the script runs.
func TestAnalogyWithoutJavaScript(t *testing.T) {
	cat, base := newLessonServer(t)
	for _, w := range []string{"restaurant", "postal"} {
		ch := chapterWith(t, cat, `data-widget="`+w+`"`)
		_, body := get(t, base+"/lessons/"+ch.Slug)
		assert.Contains(t, body, `<g class="still">`, w)
		assert.Contains(t, body, `<div class="widget-controls" hidden>`, w)
		assert.Contains(t, body, `<dl class="widget-counters" hidden>`, w)
		assert.Contains(t, body, `<div class="widget-description"><p>`, w)
		assert.Contains(t, body, `<table class="widget-legend">`, w)
	}
}
