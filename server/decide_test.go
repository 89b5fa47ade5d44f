package server

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
)

// decideClient is one browser: it keeps the learner cookie and does not
// follow redirects, so tests can see each 303.
func decideClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func decideDo(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

func decideUpload(t *testing.T, c *http.Client, base, name string, data []byte) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("answers", name)
	require.NoError(t, err)
	_, err = fw.Write(data)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, base+"/decide/upload", &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// stepForm is the seed example's step-1 form as the page would post it.
func stepOneForm(title string) url.Values {
	return url.Values{
		"title": {title}, "deciders": {"alice, bob"}, "context": {"Checkout must not oversell."},
		"journeys[0].name":                           {"Checkout"},
		"journeys[0].interactions[0].name":           {"Reserve inventory"},
		"journeys[0].interactions[0].from":           {"checkout"},
		"journeys[0].interactions[0].to":             {"inventory"},
		"journeys[0].interactions[0].needs_response": {"yes"},
		"journeys[0].interactions[0].consistency":    {"strong"},
		"journeys[0].interactions[0].user_waiting":   {"yes"},
		"journeys[0].interactions[0].consumers":      {"1"},
		"journeys[0].interactions[0].peak_rps":       {"200"},
		"journeys[0].interactions[0].choice":         {""},
	}
}

func TestDecideStartAndSteps(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)

	res, body := decideDo(t, c, http.MethodGet, base+"/decide", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Map the journey, find the synchronous core")
	assert.NotContains(t, body, "decide-resume")

	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/decide/step/1", res.Header.Get("Location"))

	for n := 1; n <= 5; n++ {
		res, body = decideDo(t, c, http.MethodGet, base+"/decide/step/"+string(rune('0'+n)), nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "step %d", n)
		assert.Contains(t, body, `aria-current="step"`)
		assert.Contains(t, body, "decide.css")
	}
	for _, bad := range []string{"0", "6", "x"} {
		res, _ = decideDo(t, c, http.MethodGet, base+"/decide/step/"+bad, nil)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, bad)
	}

	// The draft survives: the start page now offers to resume.
	_, body = decideDo(t, c, http.MethodGet, base+"/decide", nil)
	assert.Contains(t, body, "decide-resume")

	// Another browser has its own, empty questionnaire.
	other := decideClient(t)
	res, _ = decideDo(t, other, http.MethodGet, base+"/decide/step/1", nil)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/decide", res.Header.Get("Location"))
}

func TestDecideInvalidStepShowsFieldInline(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})

	form := stepOneForm("Checkout communication")
	form.Set("journeys[0].interactions[0].consistency", "sometimes")
	form.Set("journeys[0].interactions[0].consumers", "lots")
	form.Set("action", "next")
	res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	// The error list names the question as the page asks it, with where.
	assert.Contains(t, body, `<a href="#f-journeys-0-interactions-0-consistency">Checkout → Reserve inventory: Consistency</a>: must be strong or eventual`)
	assert.Contains(t, body, `id="f-journeys-0-interactions-0-consistency-error"`)
	assert.Contains(t, body, "Checkout → Reserve inventory: Services that care</a>: must be a whole number")
	assert.NotContains(t, body, "journeys[0].interactions[0].consistency</code>", "no paths from the answers file")
	assert.Contains(t, body, `value="Checkout communication"`, "typed answers are kept")

	// Back is allowed with unfinished answers, and they are kept.
	form.Set("action", "back")
	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, body = decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.Contains(t, body, `value="Checkout communication"`)
}

func TestDecideAddRemoveWithoutJavaScript(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	form := stepOneForm("T")

	form.Set("action", "add-interaction:0")
	res, _ := decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, body := decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.Contains(t, body, `name="journeys[0].interactions[1].name"`)
	assert.Contains(t, body, `value="Reserve inventory"`, "the first interaction's answers were saved with the click")

	form.Set("action", "add-journey")
	decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	_, body = decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.Contains(t, body, `name="journeys[1].name"`)

	form.Set("action", "remove-journey:1")
	decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	form.Set("action", "remove-interaction:0:1")
	decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	_, body = decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.NotContains(t, body, `name="journeys[1].name"`)
	assert.NotContains(t, body, `name="journeys[0].interactions[1].name"`)

	// Out-of-range structural actions are not actions: treated as Next.
	form.Set("action", "remove-journey:9")
	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/decide/step/2", res.Header.Get("Location"))
}

func TestDecideWalkDownloadMatchesRenderer(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"example"}})
	// Next through every step without changes: the example is valid.
	loc := "/decide/step/1"
	for n := 1; n <= 5; n++ {
		_, page := decideDo(t, c, http.MethodGet, base+loc, nil)
		require.Contains(t, page, "decide-form")
		form := url.Values{"action": {"next"}}
		if n == 3 { // step 3 is all checkboxes: post what the page shows
			form.Set("observability.tracing", "on")
		}
		if n == 1 {
			form = stepOneForm("Checkout communication")
			form.Set("action", "next")
		}
		res, body := decideDo(t, c, http.MethodPost, base+loc, form)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, "step %d: %s", n, body)
		loc = res.Header.Get("Location")
	}
	assert.Equal(t, "/decide/review", loc)
	res, review := decideDo(t, c, http.MethodGet, base+"/decide/review", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, review, "has no timeout")

	res, answersJSON := decideDo(t, c, http.MethodGet, base+"/decide/answers.json", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Disposition"), `attachment; filename="checkout-communication-answers.json"`)
	a, err := decide.Parse([]byte(answersJSON))
	require.NoError(t, err)

	for _, f := range []string{"madr", "nygard", "minimal"} {
		res, md := decideDo(t, c, http.MethodGet, base+"/decide/record.md?format="+f, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, `attachment; filename="checkout-communication.md"`, res.Header.Get("Content-Disposition"))
		want, err := shippedDecide(t).Render(a.Normalized("never used"), decide.Options{Format: f})
		require.NoError(t, err)
		assert.Equal(t, want, md, f)
	}
	res, _ = decideDo(t, c, http.MethodGet, base+"/decide/record.md?format=docx", nil)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)

	// YAML answers round-trip to the same answers.
	res, answersYAML := decideDo(t, c, http.MethodGet, base+"/decide/answers.yaml", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	b, err := decide.Parse([]byte(answersYAML))
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestDecideUpload(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	seed, err := os.ReadFile("../decide/testdata/checkout.yaml")
	require.NoError(t, err)

	res, _ := decideUpload(t, c, base, "checkout.yaml", seed)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/decide/review", res.Header.Get("Location"))
	_, md := decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	a, err := decide.Parse(seed)
	require.NoError(t, err)
	want, _ := shippedDecide(t).Render(a, decide.Options{})
	assert.Equal(t, want, md, "the worked checkout example renders the same on the web as in the CLI")

	bad := bytes.Replace(seed, []byte("consistency: strong"), []byte("consistency: maybe"), 1)
	res, body := decideUpload(t, c, base, "bad.yaml", bad)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "journeys[0].interactions[0].consistency</code>: must be strong or eventual")

	res, body = decideUpload(t, c, base, "junk.json", []byte("{not json"))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "is not valid JSON")

	res, body = decideUpload(t, c, base, "huge.yaml", bytes.Repeat([]byte("#"), decide.MaxInputBytes+10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Contains(t, body, "answers</code>: the file is too large: an answers file may be at most 256 KB")
}

func TestDecideStatusLifecycle(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	seed, _ := os.ReadFile("../decide/testdata/checkout.yaml")
	decideUpload(t, c, base, "checkout.yaml", seed)

	res, body := decideDo(t, c, http.MethodPost, base+"/decide/status", url.Values{"status": {"deprecated"}})
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "a proposed record can become accepted or rejected, not deprecated")

	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/status", url.Values{"status": {"accepted"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, md := decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	assert.True(t, strings.HasPrefix(md, "---\nstatus: accepted\n"))
	_, body = decideDo(t, c, http.MethodGet, base+"/decide/review", nil)
	assert.Contains(t, body, `<span class="status-pill" id="decide-status">accepted</span>`)
	assert.Contains(t, body, `value="deprecated"`)
}

func TestDecideEscapesUserText(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	form := stepOneForm(`<script>alert(1)</script> ](javascript:alert(1))`)
	form.Set("action", "save")
	decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	_, page := decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.NotContains(t, page, "<script>alert(1)")
	assert.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
	_, md := decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	assert.Contains(t, md, `# \<script\>alert(1)\</script\> \](javascript:alert(1))`)
	res, preview := decideDo(t, c, http.MethodPost, base+"/decide/preview/1", form)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, preview, `\<script\>`)
}

func TestDecideRecordNeedsValidAnswers(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	res, _ := decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	res, body := decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "Decision title</a>: is required")
	assert.Contains(t, body, `href="/decide/step/1#f-title"`)

	// Discarding asks first, and deletes nothing until confirmed.
	res, body = decideDo(t, c, http.MethodPost, base+"/decide/reset", url.Values{})
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Discard your answers?")
	assert.Contains(t, body, `name="confirm" value="yes"`)
	res, _ = decideDo(t, c, http.MethodGet, base+"/decide/answers.json", nil)
	assert.Equal(t, http.StatusOK, res.StatusCode, "still there")
	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/reset", url.Values{"confirm": {"yes"}})
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, _ = decideDo(t, c, http.MethodGet, base+"/decide/answers.json", nil)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestDecideStepShowsAdviceNextToTheAnswer(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	signup, err := os.ReadFile("../decide/testdata/signup.yaml")
	require.NoError(t, err)
	res, _ := decideUpload(t, c, base, "signup.yaml", signup)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)

	_, step2 := decideDo(t, c, http.MethodGet, base+"/decide/step/2", nil)
	assert.Contains(t, step2, `class="field-hint" role="note"`)
	assert.Contains(t, step2, "Event SendWelcomeEmail of Welcome email reads as a command; try WelcomeEmailSent.")
	_, step1 := decideDo(t, c, http.MethodGet, base+"/decide/step/1", nil)
	assert.Contains(t, step1, `<span class="badge badge-sync"`)
	assert.Contains(t, step1, `<span class="badge badge-async"`)
	_, step5 := decideDo(t, c, http.MethodGet, base+"/decide/step/5", nil)
	assert.Contains(t, step5, "Synchronous call Fraud check has no timeout.")
}

// TestDecideHostilePostsNeverFail posts malformed, oversized and
// out-of-range forms to every wizard endpoint: each gets a 3xx or 4xx
// answer, never a 500.
func TestDecideHostilePostsNeverFail(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"example"}})
	long := strings.Repeat("x", 5000)
	forms := []url.Values{
		{"action": {"remove-interaction:0:99"}},
		{"action": {"remove-interaction:-1:0"}},
		{"action": {"add-interaction:x"}},
		{"action": {"goto:42"}},
		{"action": {"goto:abc"}},
		{"action": {"next"}, "journeys[0].interactions[0].consumers": {"1e9"}, "journeys[0].interactions[0].peak_rps": {"-5"}},
		{"action": {"next"}, "journeys[0].interactions[0].timeout_ms": {"99999999999999999999"}},
		{"action": {"next"}, "title": {long}, "journeys[0].name": {"\x00\x01"}, "deciders": {strings.Repeat("a,", 100)}},
		{"action": {"next"}, "journeys[7].interactions[3].name": {"ghost"}, "fallback.on_exhausted": {"drop"}},
		{"action": {"next"}, "journeys[0].interactions[0].consistency": {"<script>"}},
		{},
	}
	for _, path := range []string{"/decide/step/1", "/decide/step/2", "/decide/step/3", "/decide/step/4", "/decide/step/5", "/decide/preview/1", "/decide/preview/5", "/decide/status"} {
		for _, f := range forms {
			res, body := decideDo(t, c, http.MethodPost, base+path, f)
			assert.Less(t, res.StatusCode, 500, "%s %v: %s", path, f, body)
			assert.NotContains(t, body, "<script>\"", path)
		}
	}
	for _, f := range []string{"docx", "", "json"} {
		res, _ := decideDo(t, c, http.MethodGet, base+"/decide/record.md?format="+f, nil)
		assert.Less(t, res.StatusCode, 500, f)
	}
	res, _ := decideDo(t, c, http.MethodPost, base+"/decide/status", url.Values{"status": {"superseded"}})
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)

	// The on_exhausted "drop" answer is refused by name.
	res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/5", url.Values{"action": {"next"}, "fallback.on_exhausted": {"drop"}})
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "silently dropping messages is never accepted")

	// An oversized form is refused before it is parsed.
	big := url.Values{"title": {strings.Repeat("y", maxDecideForm+1)}}
	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/step/1", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
}

func TestDecideReviewDrawsJourneys(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	signup, err := os.ReadFile("../decide/testdata/signup.yaml")
	require.NoError(t, err)
	decideUpload(t, c, base, "signup.yaml", signup)
	_, page := decideDo(t, c, http.MethodGet, base+"/decide/review", nil)
	assert.Equal(t, 2, strings.Count(page, `<figure class="journey-diagram">`))
	assert.Contains(t, page, `<desc id="journey-diagram-0-d">gateway calls users and waits (Create user). users publishes SendWelcomeEmail for email. users publishes user.signedup for analytics.</desc>`)
	assert.Equal(t, 4, strings.Count(page, `class="edge edge-sync"`), "create user, place order, charge card, fraud check")
	assert.Equal(t, 3, strings.Count(page, `class="edge edge-async"`))
	assert.Contains(t, page, ">SendWelcomeEmail</text>")
	assert.NotContains(t, page, `style=`, "CSP forbids inline styles")
}

// Every question the schema asks round-trips through the web form: from a
// blank draft, the journeys and interactions are added with the form's
// buttons, each step is posted with every item's answer as the page's
// fields name it, and the answers downloaded afterwards are the same.
func TestDecideFormRoundTripsEveryQuestion(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	txt := shippedDecide(t)
	b, err := os.ReadFile("../decide/testdata/every-question.yaml")
	require.NoError(t, err)
	want, err := decide.Parse(b)
	require.NoError(t, err)

	post := func(n int, form url.Values) string {
		t.Helper()
		res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/"+strconv.Itoa(n), form)
		require.Equal(t, http.StatusSeeOther, res.StatusCode, "step %d: %s", n, body)
		return res.Header.Get("Location")
	}
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	// The blank draft has one journey with one interaction.
	for j, jr := range want.Journeys {
		if j > 0 {
			post(1, url.Values{"action": {"add-journey"}})
		}
		for range jr.Interactions[1:] {
			post(1, url.Values{"action": {"add-interaction:" + strconv.Itoa(j)}})
		}
	}
	fields := 0
	for n := 1; n <= 5; n++ {
		form := url.Values{"action": {"next"}}
		for _, it := range txt.Items(want, n) {
			if v := it.Value(&want); v != "" || it.Kind != decide.KindCheck {
				form.Set(it.Path(), v) // a box not ticked is not sent
			}
			fields++
		}
		next := post(n, form)
		assert.Equal(t, map[bool]string{true: "/decide/review", false: "/decide/step/" + strconv.Itoa(n+1)}[n == 5], next,
			"step %d is accepted as it is", n)
	}
	got := decideDownloadedAnswers(t, c, base)
	got.Date = want.Date // the wizard dates a record the day it is made
	assert.Equal(t, want, got)
	assert.Greater(t, fields, 40, "every question of every interaction was posted")
}
