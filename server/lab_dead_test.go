package server

import (
	"context"
	"encoding/json"
	"github.com/crossroads-learn/crossroads/content"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
)

// deadList is the JSON of GET /dead-letters.
type deadList struct {
	Dead []struct {
		ID         string `json:"id"`
		Group      string `json:"group"`
		Code       string `json:"code"`
		Reason     string `json:"reason"`
		UserID     string `json:"user_id"`
		Deliveries int64  `json:"deliveries"`
		SignupURL  string `json:"signup_url"`
		Kind       string `json:"kind"`
	} `json:"dead_letters"`
	Next     string           `json:"next"`
	Counts   map[string]int64 `json:"counts"`
	Total    int64            `json:"total"`
	Matching int64            `json:"matching"`
	Kinds    []struct {
		Group, Code, Words string
		Count              int64
	} `json:"kinds"`
}

// getJSON asks for path as a script does; it returns the status and body.
func (l *learner) getJSON(path string) (int, string) {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.server+path, nil)
	require.NoError(l.t, err)
	req.Header.Set("Accept", "application/json")
	res, err := l.c.Do(req)
	require.NoError(l.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(l.t, err)
	return res.StatusCode, string(b)
}

func (l *learner) deadList(query string) deadList {
	l.t.Helper()
	code, body := l.getJSON(l.lab + "/dead-letters?" + query)
	require.Equal(l.t, http.StatusOK, code, body)
	var out deadList
	require.NoError(l.t, json.Unmarshal([]byte(body), &out), body)
	return out
}

// noFollow is the learner's browser that shows redirects instead of
// following them.
func (l *learner) noFollow() *http.Client {
	return &http.Client{Jar: l.c.Jar, Timeout: l.c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// postForm posts a plain form (no script) and returns where it redirects.
func (l *learner) postForm(path string, form url.Values) (int, string) {
	l.t.Helper()
	res, err := l.noFollow().PostForm(l.server+path, form)
	require.NoError(l.t, err)
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// labOf finds the learner's lab in the manager, by their cookie.
func (e *labEnv) labOf(t *testing.T, l *learner) *labs.Lab {
	t.Helper()
	u, err := url.Parse(l.server)
	require.NoError(t, err)
	for _, c := range l.c.Jar.Cookies(u) {
		if c.Name == learnerCookieName {
			lab := e.mgr.Lookup(c.Value)
			require.NotNil(t, lab)
			return lab
		}
	}
	t.Fatal("the learner has no cookie")
	return nil
}

// deadSection is the dead-letter panel of a lab page, as text with its
// tags removed and spaces squeezed.
func deadSection(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `id="dead-letters"`)
	require.GreaterOrEqual(t, i, 0, "the page has the dead-letter panel")
	j := strings.Index(page[i:], "</section>")
	require.Greater(t, j, 0)
	return squeeze(page[i : i+j])
}

var spaces = regexp.MustCompile(`\s+`)

func squeeze(h string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tagPattern.ReplaceAllString(h, "")), " "))
}

// makeDeadLetters gives a's sandbox gaveUp "gave up" letters for email (one
// per signup, email failing every time with 2 tries) and poison letters
// for both groups, and waits until all are counted.
func makeDeadLetters(t *testing.T, a *learner, gaveUp, poison int) {
	t.Helper()
	code, out := a.postJSON(a.lab+"/settings", url.Values{"partial": {"1"}, "email_error_rate": {"1"}, "max_deliveries": {"2"}})
	require.Equal(t, http.StatusOK, code, out)
	if gaveUp > 0 {
		code, out = a.postJSON(a.lab+"/run", url.Values{"signups": {strconv.Itoa(gaveUp)}, "concurrency": {"1"}})
		require.Equal(t, http.StatusOK, code, out)
	}
	for range poison {
		code, out = a.postJSON(a.lab+"/poison", nil)
		require.Equal(t, http.StatusOK, code, out)
	}
	want := int64(gaveUp + 2*poison)
	require.Eventually(t, func() bool {
		return a.deadList("limit=1").Total == want
	}, 30*time.Second, 100*time.Millisecond, "%d dead letters", want)
	a.waitIdle(30 * time.Second)
}

func TestLabDeadPanelGroupsPagesAndFilters(t *testing.T) {
	t.Parallel() // mostly waiting on the consumers; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	makeDeadLetters(t, a, 3, 12)

	// The JSON list: counts by kind, pages, filters.
	all := a.deadList("limit=50")
	assert.EqualValues(t, 27, all.Total)
	assert.EqualValues(t, 3, all.Counts["email:gave_up"])
	assert.EqualValues(t, 12, all.Counts["email:poison"])
	assert.EqualValues(t, 12, all.Counts["analytics:poison"])
	assert.Len(t, all.Dead, 27)
	assert.Empty(t, all.Next)
	for i := 1; i < len(all.Dead); i++ {
		assert.Positive(t, compareIDs(all.Dead[i-1].ID, all.Dead[i].ID), "newest first")
	}
	first := a.deadList("limit=5&code=poison&group=email")
	require.Len(t, first.Dead, 5)
	assert.NotEmpty(t, first.Next)
	assert.EqualValues(t, 12, first.Matching)
	second := a.deadList("limit=5&code=poison&group=email&before=" + first.Next)
	require.Len(t, second.Dead, 5)
	assert.Negative(t, compareIDs(second.Dead[0].ID, first.Dead[4].ID), "the next page goes on where the first ended")
	for _, d := range append(first.Dead, second.Dead...) {
		assert.Equal(t, "email", d.Group)
		assert.Equal(t, "poison", d.Code)
		assert.Empty(t, d.SignupURL, "poison names no signup")
		assert.Equal(t, "unreadable (poison)", d.Kind)
	}
	gave := a.deadList("code=gave_up")
	require.Len(t, gave.Dead, 3)
	for _, d := range gave.Dead {
		assert.Equal(t, "email", d.Group)
		assert.Contains(t, d.Reason, "gave up after 2 tries")
		assert.EqualValues(t, 2, d.Deliveries)
		assert.Equal(t, a.lab+"/signups/"+d.UserID, d.SignupURL)
	}
	// Bad parameters name their field.
	for field, q := range map[string]string{"limit": "limit=0", "code": "code=lost", "group": "group=billing", "before": "before=yesterday"} {
		code, body := a.getJSON(a.lab + "/dead-letters?" + q)
		assert.Equal(t, http.StatusBadRequest, code, q)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		assert.Equal(t, field, out["field"], q)
	}
	// A browser asking for the list is sent to the panel showing it.
	res, err := a.noFollow().Get(a.server + a.lab + "/dead-letters?code=poison&group=email")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, a.lab+"?dead_code=poison&dead_group=email#dead-letters", res.Header.Get("Location"))

	// The panel: kinds with counts, the first 20, paging that needs no script.
	_, page := a.get(a.lab)
	panel := deadSection(t, page)
	assert.Contains(t, panel, "email · gave up after its tries — 3")
	assert.Contains(t, panel, "email · unreadable (poison) — 12")
	assert.Contains(t, panel, "analytics · unreadable (poison) — 12")
	assert.Contains(t, panel, "All — 27")
	assert.Contains(t, panel, "20 of 27 · newest first")
	assert.Contains(t, panel, "Replay all 27")
	assert.Equal(t, 20, strings.Count(page, `class="btn btn-small replay-one"`))
	assert.Equal(t, 3, strings.Count(page, `class="signup-link"`), "each gave-up letter links to its signup")
	assert.Contains(t, panel, "no signup (the message is unreadable)")
	assert.Contains(t, page, "<details class=\"dead-detail\">", "the raw error is behind a disclosure")
	assert.Contains(t, page, `href="`+a.lab+`?dead_code=gave_up&amp;dead_group=email#dead-letters"`, "each kind is a filter")
	assert.NotContains(t, page, `id="dead-newer"`)
	assert.NotRegexp(t, `\[[a-z_]+\]`, page, "every text key exists in content/labs/page/text.yaml")

	older := regexp.MustCompile(`id="dead-older"`).FindStringIndex(page)
	require.NotNil(t, older, "an older page")
	m := regexp.MustCompile(`href="([^"]+)" class="btn btn-small btn-quiet" id="dead-older"`).FindStringSubmatch(page)
	require.NotNil(t, m)
	_, page2 := a.get(html.UnescapeString(m[1]))
	panel2 := deadSection(t, page2)
	assert.Contains(t, panel2, "7 of 27 · numbers 21–27 from the newest")
	assert.Contains(t, page2, `id="dead-newer"`)
	assert.NotContains(t, page2, `id="dead-older"`)
	assert.Equal(t, 7, strings.Count(page2, `class="btn btn-small replay-one"`))

	// One kind, and the same kind's second page.
	_, page = a.get(a.lab + "?dead_code=poison")
	panel = deadSection(t, page)
	assert.Contains(t, panel, "20 of 24 (unreadable (poison)) · newest first")
	assert.Contains(t, panel, "Showing only unreadable (poison).")
	assert.Contains(t, panel, "no consumer can ever handle it")
	m = regexp.MustCompile(`href="([^"]+)" class="btn btn-small btn-quiet" id="dead-older"`).FindStringSubmatch(page)
	require.NotNil(t, m)
	assert.Contains(t, m[1], "dead_code=poison")
	_, page2 = a.get(html.UnescapeString(m[1]))
	assert.Contains(t, deadSection(t, page2), "4 of 24 (unreadable (poison)) · numbers 21–24 from the newest")
	_, page = a.get(a.lab + "?dead_code=gave_up&dead_group=email")
	panel = deadSection(t, page)
	assert.Contains(t, panel, "3 of 3 (email · gave up after its tries)")
	assert.Regexp(t, `<li class="dead-kind-row is-current" data-kind="email:gave_up">\s*<a href="[^"]+" class="dead-kind" aria-current="true">`, page)

	// Bad parameters on the page: the newest page and a word, never a 500.
	for _, q := range []string{"dead_code=lost", "dead_group=billing", "dead_before=yesterday", "dead_code=%00"} {
		res, page := a.get(a.lab + "?" + q)
		assert.Equal(t, http.StatusOK, res.StatusCode, q)
		panel := deadSection(t, page)
		assert.Contains(t, panel, "20 of 27 · newest first", q)
		assert.Contains(t, page, `id="dead-error"`, q)
	}
}

func TestLabDeadReplayByKindOneAndAll(t *testing.T) {
	t.Parallel() // mostly waiting on the consumers; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	makeDeadLetters(t, a, 2, 3)
	// Email works again, so replayed letters stay handled.
	code, out := a.postJSON(a.lab+"/settings", url.Values{"partial": {"1"}, "email_error_rate": {"0"}, "max_deliveries": {"60"}})
	require.Equal(t, http.StatusOK, code, out)

	// A kind, from the form: back to the list the learner was on, with a
	// note inside the panel.
	status, to := a.postForm(a.lab+"/dead-letters/replay", url.Values{"code": {"poison"}, "group": {"analytics"}, "dead_code": {"poison"}})
	require.Equal(t, http.StatusSeeOther, status)
	assert.Contains(t, to, "dead_code=poison")
	assert.Contains(t, to, "dead_note=replayed")
	assert.True(t, strings.HasSuffix(to, "#dead-letters"), to)
	_, page := a.get(to)
	panel := deadSection(t, page)
	assert.Contains(t, panel, "Replayed 3 dead letters of analytics · unreadable (poison).")
	assert.Regexp(t, `id="dead-status" role="status"><p class="notice notice-ok" id="dead-note"`, page, "the note is in the panel, as a status")
	assert.NotRegexp(t, `id="lab-notices"[^>]*>\s*<p`, page, "and not at the top of the page")

	// A kind, from a script: JSON says how many.
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"code": {"gave_up"}, "group": {"email"}})
	require.Equal(t, http.StatusOK, code, out)
	assert.EqualValues(t, 2, out["replayed"])
	assert.Equal(t, "Replayed 2 dead letters of email · gave up after its tries. Each is back on the stream for its own group only; one that fails again comes back here.", out["notice"])
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"code": {"gave_up"}, "group": {"email"}})
	require.Equal(t, http.StatusOK, code, out)
	assert.EqualValues(t, 0, out["replayed"])
	assert.Contains(t, out["notice"], "Nothing was replayed")
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"code": {"lost"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "code", out["field"])
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"group": {"billing"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "group", out["field"])
	code, out = a.postJSON(a.lab+"/dead-letters/replay", nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "id", out["field"])

	// One, twice: the second press says it changed nothing.
	list := a.deadList("group=email")
	require.NotEmpty(t, list.Dead)
	id := list.Dead[0].ID
	status, to = a.postForm(a.lab+"/dead-letters/replay", url.Values{"id": {id}})
	require.Equal(t, http.StatusSeeOther, status)
	_, page = a.get(to)
	assert.Contains(t, deadSection(t, page), "Replayed 1 dead letter: the unreadable message is back on the stream for email.")
	status, to = a.postForm(a.lab+"/dead-letters/replay", url.Values{"id": {id}})
	require.Equal(t, http.StatusSeeOther, status)
	_, page = a.get(to)
	assert.Contains(t, deadSection(t, page), "That dead letter was already replayed, so nothing changed.")
	code, _ = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {id}})
	assert.Equal(t, http.StatusNotFound, code, "a script still learns it is gone")

	// All.
	// The replayed poison comes back; wait until it has.
	require.Eventually(t, func() bool { return a.deadList("limit=1").Total == 6 }, 10*time.Second, 50*time.Millisecond)
	remaining := a.deadList("limit=100").Total
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"all": {"1"}})
	require.Equal(t, http.StatusOK, code, out)
	assert.EqualValues(t, remaining, out["replayed"])
	assert.Contains(t, out["notice"], "Replayed ")
	assert.NotContains(t, out["notice"], "The message is back")

	// A poison message from the form: the note is in the panel too.
	status, to = a.postForm(a.lab+"/poison", url.Values{"dead_group": {"email"}})
	require.Equal(t, http.StatusSeeOther, status)
	assert.Contains(t, to, "dead_group=email")
	_, page = a.get(to)
	assert.Contains(t, deadSection(t, page), "A poison message was added to the stream.")
}

func TestLabDeadRefusesAnotherLearnersSandbox(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a, b := e.learner(t), e.learner(t)
	for _, path := range []string{"/dead-letters", "/dead-letters?code=poison", "/signups/u_0123456789abcdef"} {
		code, _ := b.getJSON(a.lab + path)
		assert.Equal(t, http.StatusNotFound, code, path)
		res, _ := b.get(a.lab + path)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, path)
	}
	for _, form := range []url.Values{{"all": {"1"}}, {"code": {"poison"}}, {"id": {"1-1"}}} {
		res, _ := b.post(a.lab+"/dead-letters/replay", form, false)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, form.Encode())
	}
}

func TestLabSignupRecordPage(t *testing.T) {
	t.Parallel() // mostly waiting on the consumers; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	lab := e.labOf(t, a)

	// A healthy async signup: published, both groups done, one email.
	tr, err := lab.Trace(context.Background(), "ok@example.com", "Ok Learner", 5*time.Second)
	require.NoError(t, err)
	require.True(t, tr.Complete)
	// The trace is complete once both effects happened; each group's ack
	// follows its effect by a moment, and the page shows the moment it was
	// loaded, so look again until both groups are done.
	var page, text string
	require.Eventually(t, func() bool {
		var res *http.Response
		res, page = a.get(a.lab + "/signups/" + tr.Reply.UserID)
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		text = squeeze(page)
		return strings.Contains(text, "email done") && strings.Contains(text, "analytics done")
	}, 5*time.Second, 50*time.Millisecond, "both groups finish the signup")
	assert.Contains(t, text, "The signup of Ok Learner")
	assert.Contains(t, text, "ok@example.com")
	assert.Contains(t, text, "Published to the event stream as entry")
	assert.Contains(t, text, "email: 1 welcome email sent")
	assert.Contains(t, text, "analytics: counted once")
	assert.Contains(t, text, "email done Handled the event")
	assert.Contains(t, text, "analytics done Handled the event")
	assert.Contains(t, page, `href="`+a.lab+`">← Back to the lab</a>`)
	assert.NotRegexp(t, `\[[a-z_]+\]`, page, "every text key exists")
	code, body := a.getJSON(a.lab + "/signups/" + tr.Reply.UserID)
	require.Equal(t, http.StatusOK, code)
	var rec labs.SignupRecord
	require.NoError(t, json.Unmarshal([]byte(body), &rec))
	assert.Equal(t, tr.Reply.UserID, rec.User.ID)
	assert.NotEmpty(t, rec.EntryID)

	// A dead-lettered one: the reason, the tries and a replay button.
	makeDeadLetters(t, a, 1, 0)
	dl := a.deadList("code=gave_up").Dead
	require.Len(t, dl, 1)
	_, page = a.get(dl[0].SignupURL)
	text = squeeze(page)
	assert.Contains(t, text, "email: no email")
	assert.Contains(t, text, "analytics: counted once")
	assert.Contains(t, text, "email dead-lettered Parked in the dead letters after 2 tries. Why: gave up after 2 tries")
	assert.Contains(t, text, "analytics done")
	assert.Contains(t, page, `<input type="hidden" name="id" value="`+dl[0].ID+`">`)
	// Replaying from the record comes back to the record.
	code, out := a.postJSON(a.lab+"/settings", url.Values{"partial": {"1"}, "email_error_rate": {"0"}, "max_deliveries": {"60"}})
	require.Equal(t, http.StatusOK, code, out)
	status, to := a.postForm(a.lab+"/dead-letters/replay", url.Values{"id": {dl[0].ID}, "from_signup": {dl[0].UserID}})
	require.Equal(t, http.StatusSeeOther, status)
	assert.True(t, strings.HasPrefix(to, a.lab+"/signups/"+dl[0].UserID+"?"), to)
	_, page = a.get(to)
	assert.Contains(t, squeeze(page), "Replayed 1 dead letter: email’s copy of signup "+dl[0].UserID+" is back on the stream for email only.")
	require.Eventually(t, func() bool {
		_, page := a.get(a.lab + "/signups/" + dl[0].UserID)
		return strings.Contains(squeeze(page), "email: 1 welcome email sent")
	}, 10*time.Second, 100*time.Millisecond, "the replay sent the email")

	// A sync signup publishes nothing.
	code, out = a.postJSON(a.lab+"/settings", url.Values{"partial": {"1"}, "mode": {"sync"}})
	require.Equal(t, http.StatusOK, code, out)
	tr, err = lab.Trace(context.Background(), "sync@example.com", "Sync Learner", 5*time.Second)
	require.NoError(t, err)
	_, page = a.get(a.lab + "/signups/" + tr.Reply.UserID)
	text = squeeze(page)
	assert.Contains(t, text, "Sync mode publishes nothing")
	assert.Contains(t, text, "email: 1 welcome email sent")
	assert.Contains(t, text, "no consumer group was involved")

	// Malformed and unknown ids.
	code, body = a.getJSON(a.lab + "/signups/bob")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `"field":"user"`)
	res, _ := a.get(a.lab + "/signups/bob")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	code, _ = a.getJSON(a.lab + "/signups/u_0000000000000000")
	assert.Equal(t, http.StatusNotFound, code)
	res, page = a.get(a.lab + "/signups/u_0000000000000000")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Contains(t, page, "There is no signup")
}

func TestLabDeadWordsAndNotes(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0 ms", 850 * time.Millisecond: "850 ms", 1500 * time.Millisecond: "1.5 s", 12 * time.Second: "12 s",
		2*time.Minute + 10*time.Second: "2 min 10 s", 3 * time.Minute: "3 min", 65 * time.Minute: "1 h 5 min", 2 * time.Hour: "2 h",
	} {
		assert.Equal(t, want, spanWords(d), d.String())
	}
	assert.Equal(t, 1, compareIDs("10-0", "9-5"))
	assert.Equal(t, -1, compareIDs("10-2", "10-10"))
	assert.Equal(t, 0, compareIDs("7-1", "7-1"))
	assert.Equal(t, "12,000", thousands(12000))
	assert.Equal(t, "999", thousands(999))

	text, err := loadLabText(content.FS, 10)
	require.NoError(t, err)
	note := func(q string) string {
		v, err := url.ParseQuery(q)
		require.NoError(t, err)
		return plainText(deadNote(text, v))
	}
	assert.Equal(t, "Replayed 1,000 dead letters, the most one press replays. 500 are still here: press Replay all again for the rest.",
		note("dead_note=replayed&dead_n=1000&dead_of=all&dead_left=500"))
	assert.Equal(t, "Replayed 2 dead letters of email · any reason. Each is back on the stream for its own group only; one that fails again comes back here.",
		note("dead_note=replayed&dead_n=2&dead_of=email:"))
	assert.Contains(t, note("dead_note=replayed&dead_n=0&dead_of=all"), "Nothing was replayed")
	// Malformed notes show nothing rather than something wrong.
	for _, q := range []string{"dead_note=replayed", "dead_note=replayed&dead_n=x", "dead_note=replayed&dead_n=5&dead_of=billing:poison",
		"dead_note=replayed&dead_n=5&dead_of=email:lost", "dead_note=replayed&dead_n=1&dead_of=one:billing:poison", "dead_note=hello", "dead_note=replayed&dead_n=99999&dead_of=all"} {
		assert.Empty(t, note(q), q)
	}
	// A user id that is not one is not repeated.
	assert.Equal(t, "Replayed 1 dead letter: the unreadable message is back on the stream for email. It will fail again and come back here.",
		note("dead_note=replayed&dead_n=1&dead_of=one:email:gave_up&dead_user=<script>"))
}
