package server

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/workshops"
)

// workshopEnv is the whole app with workshops, and the store behind it.
type workshopEnv struct {
	s     *Server
	base  string
	store *workshops.Store
	mgr   *labs.Manager
}

func newWorkshopServer(t *testing.T, opt workshops.Options) *workshopEnv {
	return newWorkshopEnvFor(t, opt)
}

func newWorkshopEnvFor(t testing.TB, opt workshops.Options) *workshopEnv {
	t.Helper()
	db := redistest.Open(t)
	opt.Index = "cr:test-workshops:" + t.Name()
	store := workshops.NewStore(db.Client, opt)
	t.Cleanup(func() { workshops.DeleteAll(store) })
	settings := labTestSettings()
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Settings: &settings, Logger: quietLog(), Block: 50 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	s, base := newTestServer(t, Config{Redis: db.Client, Lessons: realCatalog(t), Workshops: store, Labs: mgr})
	return &workshopEnv{s: s, base: base, store: store, mgr: mgr}
}

// labOf opens the lab in browser c, following redirects, and returns its
// address, /labs/s/<id>.
func (e *workshopEnv) labOf(t *testing.T, c *http.Client) string {
	t.Helper()
	res, page := fetch(t, c, e.base+"/labs")
	for i := 0; res.StatusCode == http.StatusSeeOther && i < 3; i++ {
		res, page = fetch(t, c, e.base+res.Header.Get("Location"))
	}
	require.Equal(t, http.StatusOK, res.StatusCode)
	m := labBaseRe.FindStringSubmatch(page)
	require.NotNil(t, m, "the lab page names its sandbox")
	return m[1]
}

var codeInBoard = regexp.MustCompile(`/workshops/([A-Z0-9]{6})/board`)

// create makes a workshop as a facilitator's browser does and returns its
// code and that browser.
func (e *workshopEnv) create(t testing.TB, form string) (string, *http.Client) {
	t.Helper()
	fac := browser(t)
	res, body := postForm(t, fac, e.base+"/workshops", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	m := codeInBoard.FindStringSubmatch(res.Header.Get("Location"))
	require.NotNil(t, m, res.Header.Get("Location"))
	return m[1], fac
}

// join makes a participant's browser and joins code as name.
func (e *workshopEnv) join(t *testing.T, code, name string) *http.Client {
	t.Helper()
	p := browser(t)
	fetch(t, p, e.base+"/") // the learner cookie
	res, body := postForm(t, p, e.base+"/join", url.Values{"code": {code}, "name": {name}}.Encode())
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	require.Equal(t, "/workshops/"+code, res.Header.Get("Location"))
	return p
}

const agendaForm = "title=Team+day&item=chapter:synchronous-reality&item=chapter:asynchronous-landscape&item=decide:"

func TestWorkshopCreateShowsTheBoardToItsFacilitatorOnly(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	res, page := fetch(t, browser(t), e.base+"/workshops/new")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, page, `value="chapter:synchronous-reality"`)
	assert.Contains(t, page, `value="decide:"`)
	// A scenario sits after the chapter it belongs to, not after the last.
	sync := strings.Index(page, `value="chapter:synchronous-reality"`)
	scenario := strings.Index(page, `value="scenario:email-down"`)
	next := strings.Index(page, `value="chapter:asynchronous-landscape"`)
	assert.True(t, sync < scenario && scenario < next, "email-down is listed under its chapter")

	code, fac := e.create(t, agendaForm)
	res, board := fetch(t, fac, e.base+"/workshops/"+code+"/board?created=1")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, board, code[:3]+"-"+code[3:], "the code as people read it")
	assert.Contains(t, board, e.base+"/join/"+code)
	assert.Contains(t, board, "/facilitate?key=", "the facilitator link, for the facilitator")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	// Anyone else is refused every facilitator address.
	p := e.join(t, code, "Ada")
	for _, path := range []string{"/board", "/board/events", "/report.md", "/report.csv"} {
		res, _ := fetch(t, p, e.base+"/workshops/"+code+path)
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
	}
	for _, path := range []string{"/move", "/lock", "/unlock", "/close", "/pause", "/resume", "/reset-labs", "/hands/x/on-my-way", "/hands/x/done"} {
		res, body := postForm(t, p, e.base+"/workshops/"+code+path, "item=1")
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
		assert.Contains(t, body, "facilitator", path)
	}
	// A wrong key is refused; the right one, in another browser, gives the board.
	res, _ = fetch(t, browser(t), e.base+"/workshops/"+code+"/facilitate?key=wrong")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	link := regexp.MustCompile(`value="(http[^"]+/facilitate\?key=[^"]+)"`).FindStringSubmatch(board)
	require.NotNil(t, link)
	other := browser(t)
	res, _ = fetch(t, other, strings.ReplaceAll(link[1], "&amp;", "&"))
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/workshops/"+code+"/board", res.Header.Get("Location"), "the token leaves the address bar")
	res, _ = fetch(t, other, e.base+"/workshops/"+code+"/board")
	assert.Equal(t, http.StatusOK, res.StatusCode)

	// The token never reaches a participant's pages.
	token := strings.TrimPrefix(link[1][strings.Index(link[1], "key=")+4:], "")
	for _, path := range []string{"/workshops/" + code, "/lessons/synchronous-reality", "/"} {
		_, page := fetch(t, p, e.base+path)
		assert.NotContains(t, page, token, path)
	}
	// A facilitator of another workshop is no facilitator of this one.
	code2, fac2 := e.create(t, agendaForm)
	require.NotEqual(t, code, code2)
	res, _ = fetch(t, fac2, e.base+"/workshops/"+code+"/board")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
}

func TestWorkshopBadInputIsAClearFourHundred(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	for form, field := range map[string]string{
		"title=&item=decide:":                  "title",
		"title=T":                              "agenda",
		"title=T&item=chapter:no-such-chapter": "item",
		"title=" + strings.Repeat("x", 81) + "&item=decide:": "title",
	} {
		res, body := postForm(t, nil, e.base+"/workshops", form)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, form)
		assert.Contains(t, body, field+":", form)
	}
	code, _ := e.create(t, agendaForm)
	p := browser(t)
	for form, want := range map[string]struct {
		status int
		field  string
	}{
		"code=&name=Ada":                                    {http.StatusBadRequest, "code"},
		"code=ABC&name=Ada":                                 {http.StatusBadRequest, "code"},
		"code=ACDEFG&name=Ada":                              {http.StatusNotFound, "code"},
		"code=" + code + "&name=":                           {http.StatusBadRequest, "name"},
		"code=" + code + "&name=%E2%80%8B":                  {http.StatusBadRequest, "name"},
		"code=" + code + "&name=" + strings.Repeat("n", 41): {http.StatusBadRequest, "name"},
	} {
		res, body := postForm(t, p, e.base+"/join", form)
		assert.Equal(t, want.status, res.StatusCode, form)
		assert.Contains(t, body, want.field+":", form)
		assert.Contains(t, body, `aria-invalid="true"`, "%s: the field is marked", form)
	}
	res, _ := fetch(t, p, e.base+"/workshops/ZZZZZZ")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = fetch(t, p, e.base+"/workshops/"+strings.ToLower(code))
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "a code in lower case has its own address")
	res, _ = fetch(t, p, e.base+"/workshops/"+code)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "not joined: to the join form")
	assert.Equal(t, "/join/"+code, res.Header.Get("Location"))
}

func TestWorkshopParticipantBarHandAndMove(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm)
	p := e.join(t, code, " Ada  Lovelace ")

	res, page := fetch(t, p, e.base+"/workshops/"+code)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, page, "Ada Lovelace")
	assert.Contains(t, page, `id="ws-bar"`, "the bar on the participant's pages")
	_, lesson := fetch(t, p, e.base+"/lessons/asynchronous-landscape")
	assert.Contains(t, lesson, `id="ws-bar"`)
	assert.Contains(t, lesson, `href="/lessons/asynchronous-landscape" aria-current="step"`, "the bar marks where they are")
	_, other := fetch(t, browser(t), e.base+"/lessons/asynchronous-landscape")
	assert.NotContains(t, other, `id="ws-bar"`, "nobody else gets a bar (nor this one's cached page)")

	// The board shows where they are.
	_, board := fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, "Ada Lovelace")
	assert.Contains(t, board, "2. The asynchronous landscape")

	// A raised hand reaches the queue; the facilitator answers it.
	res, _ = postForm(t, p, e.base+"/workshops/"+code+"/hand", "up=1&back=/lessons/asynchronous-landscape")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/lessons/asynchronous-landscape", res.Header.Get("Location"))
	_, board = fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, `id="ws-queue"`)
	ps, err := e.store.Participants(t.Context(), code)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/hands/"+ps[0].Learner+"/on-my-way", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page = fetch(t, p, e.base+"/workshops/"+code)
	assert.Contains(t, page, "The facilitator is on the way.")
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/hands/"+ps[0].Learner+"/done", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, board = fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, `id="ws-queue-empty"`)
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/hands/"+ps[0].Learner+"/done", "")
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "lowering a lowered hand does no harm")
	res, _ = postForm(t, p, e.base+"/workshops/"+code+"/hand", "up=1&back=//evil.example/")
	assert.Equal(t, "/workshops/"+code, res.Header.Get("Location"), "back goes only to our own pages")

	// Moving everyone prompts, and does not move anyone.
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/move", "item=3")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, lesson = fetch(t, p, e.base+"/lessons/asynchronous-landscape")
	assert.Contains(t, lesson, `id="ws-prompt"`)
	assert.Contains(t, lesson, `href="/decide">3.`)
	for _, bad := range []string{"item=0", "item=4", "item=x"} {
		res, body := postForm(t, fac, e.base+"/workshops/"+code+"/move", bad)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, bad)
		assert.Contains(t, body, "item", bad)
	}

	// Leaving takes the bar away.
	res, _ = postForm(t, p, e.base+"/workshops/"+code+"/leave", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, lesson = fetch(t, p, e.base+"/lessons/asynchronous-landscape")
	assert.NotContains(t, lesson, `id="ws-bar"`)
}

func TestWorkshopLockCloseAndCapacity(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{MaxParticipants: 2})
	code, fac := e.create(t, agendaForm)
	e.join(t, code, "A")
	first := e.join(t, code, "B")
	res, body := postForm(t, browser(t), e.base+"/join", "code="+code+"&name=C")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Contains(t, body, "full")

	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/lock", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body = postForm(t, browser(t), e.base+"/join", "code="+code+"&name=D")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Contains(t, body, "locked")
	res, _ = postForm(t, first, e.base+"/join", "code="+code+"&name=B2")
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "one already in may come back while locked")

	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/close", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body = postForm(t, browser(t), e.base+"/join", "code="+code+"&name=E")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Contains(t, body, "closed")
	_, page := fetch(t, first, e.base+"/workshops/"+code)
	assert.Contains(t, page, "This workshop is over")
}

func TestWorkshopReports(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm)
	p := e.join(t, code, "=HYPERLINK(\"http://evil\")")
	e.join(t, code, "Grace | <b>Hopper</b>")
	postForm(t, p, e.base+"/lessons/synchronous-reality/complete", "")
	fetch(t, p, e.base+"/lessons/synchronous-reality")

	res, csv := fetch(t, fac, e.base+"/workshops/"+code+"/report.csv")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Disposition"), "attachment")
	assert.Contains(t, csv, `"'=HYPERLINK(""http://evil"")"`, "a formula is written as text")
	assert.Contains(t, csv, "1. Synchronous reality")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	assert.Len(t, lines, 3, "a header and one line per participant")
	assert.Contains(t, lines[1], ",true,", "the chapter the first participant read")

	res, md := fetch(t, fac, e.base+"/workshops/"+code+"/report.md")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, md, "# Workshop report: Team day")
	assert.Contains(t, md, `Grace \| &lt;b&gt;Hopper&lt;/b&gt;`, "a name cannot break the table or inject markup")
	assert.Contains(t, md, "| read |")
}

// The board follows the room: a join reaches an open board's stream.
func TestWorkshopBoardIsLive(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm)
	board := openStream(t, fac, e.base+"/workshops/"+code+"/board/events")
	board.next("event: board")
	start := time.Now()
	e.join(t, code, "Late Larry")
	board.next("Late Larry")
	assert.Less(t, time.Since(start), 2*time.Second, "the board shows a join within moments")
}

func TestWorkshopsUnavailableWithoutAStore(t *testing.T) {
	_, base := newTestServer(t, Config{})
	for _, path := range []string{"/join", "/workshops/new", "/workshops/ACDE34"} {
		res, body := get(t, base+path)
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode, path)
		assert.Contains(t, body, "not available", path)
	}
}

// Pausing the labs stops a participant's runs until resumed; resetting them
// gives every participant a fresh sandbox.
func TestWorkshopPauseAndResetLabs(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm)
	p := e.join(t, code, "Ada")
	lab := e.labOf(t, p)
	run := func() (*http.Response, string) {
		return postForm(t, p, e.base+lab+"/run", "signups=3&concurrency=1&rate=0")
	}

	res, _ := postForm(t, fac, e.base+"/workshops/"+code+"/pause", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body := run()
	assert.Equal(t, http.StatusConflict, res.StatusCode)
	assert.Contains(t, body, "paused the labs")
	_, page := fetch(t, p, e.base+"/lessons/synchronous-reality")
	assert.Contains(t, page, "The facilitator has paused the labs for a moment.", "the bar says so")
	_, board := fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, "labs paused")

	// Someone outside the workshop is not held by its pause.
	other := browser(t)
	res, body = postForm(t, other, e.base+e.labOf(t, other)+"/run", "signups=3&concurrency=1&rate=0")
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, body)

	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/resume", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body = run()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, body)

	ps, err := e.store.Participants(t.Context(), code)
	require.NoError(t, err)
	before := e.mgr.Lookup(ps[0].Learner)
	require.NotNil(t, before)
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/reset-labs", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Nil(t, e.mgr.Lookup(ps[0].Learner), "the participant's sandbox was closed")
	u, err := url.Parse(e.base)
	require.NoError(t, err)
	var outsider string
	for _, ck := range other.Jar.Cookies(u) {
		if ck.Name == learnerCookieName {
			outsider = ck.Value
		}
	}
	assert.NotNil(t, e.mgr.Lookup(outsider), "a sandbox outside the workshop stays")
}

// Two app instances on one Redis: a participant joins through one, the
// board open on the other sees it live, and resetting the labs from the
// board reaches the sandbox the participant holds on the first.
func TestWorkshopTwoInstancesOneRedis(t *testing.T) {
	db := redistest.Open(t)
	store := workshops.NewStore(db.Client, workshops.Options{Index: "cr:test-workshops:" + t.Name()})
	t.Cleanup(func() { workshops.DeleteAll(store) })
	instance := func() (string, *labs.Manager) {
		settings := labTestSettings()
		mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Settings: &settings, Logger: quietLog(), Block: 50 * time.Millisecond}})
		require.NoError(t, err)
		t.Cleanup(func() { mgr.Close() })
		_, base := newTestServer(t, Config{Redis: db.Client, Lessons: realCatalog(t), Workshops: store, Labs: mgr})
		return base, mgr
	}
	a, _ := instance()
	b, mgrB := instance()
	ea := &workshopEnv{base: a, store: store}
	eb := &workshopEnv{base: b, store: store}

	code, fac := ea.create(t, agendaForm)
	board := openStream(t, fac, a+"/workshops/"+code+"/board/events")
	board.next("event: board")
	p := eb.join(t, code, "Across")
	board.next("Across")

	// The participant's bar, live on instance b, keeps b listening.
	bar := openStream(t, p, b+"/workshops/"+code+"/events?back=/labs")
	bar.next("event: bar")
	res, lab := fetch(t, p, b+"/labs")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotNil(t, labBaseRe.FindStringSubmatch(lab))
	ps, err := store.Participants(t.Context(), code)
	require.NoError(t, err)
	require.NotNil(t, mgrB.Lookup(ps[0].Learner))

	res, _ = postForm(t, fac, a+"/workshops/"+code+"/reset-labs", "")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Eventually(t, func() bool { return mgrB.Lookup(ps[0].Learner) == nil }, 5*time.Second, 20*time.Millisecond,
		"the reset announced on a reached the sandbox on b")
	res, _ = postForm(t, fac, a+"/workshops/"+code+"/move", "item=2")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	bar.next(`id="ws-prompt"`)
}

// sseStream reads a server-sent event stream in the background.
type sseStream struct {
	t      *testing.T
	events chan string
	ctx    context.Context
}

func openStream(t *testing.T, c *http.Client, url string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	res, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &sseStream{t: t, events: make(chan string, 64), ctx: ctx}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var b strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				s.events <- b.String()
				b.Reset()
				continue
			}
			b.WriteString(sc.Text() + "\n")
		}
	}()
	return s
}

// next waits for an event that contains want.
func (s *sseStream) next(want string) {
	s.t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			require.True(s.t, ok, "the stream ended before %q", want)
			if strings.Contains(ev, want) {
				return
			}
		case <-s.ctx.Done():
			s.t.Fatalf("no event with %q", want)
		}
	}
}

// The board sets what the room predicted for each agenda scenario beside
// what their runs showed; the report carries both.
func TestWorkshopPredictionsAgainstOutcomes(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm+"&item=scenario:email-down")
	sc := e.s.lab.byID["email-down"]
	require.NotNil(t, sc)
	right := sc.Predict.Correct()
	wrong := (right + 1) % len(sc.Predict.Options)

	predict := func(p *http.Client, option int) {
		base := e.labOf(t, p)
		res, body := postForm(t, p, e.base+base+"/scenarios/email-down/predict", "prediction="+strconv.Itoa(option))
		require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	}
	a, b := e.join(t, code, "Ada"), e.join(t, code, "Bob")
	predict(a, right)
	predict(b, wrong)
	predict(browser(t), wrong) // someone outside the workshop is not counted

	_, board := fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, `id="ws-room-email-down"`)
	assert.Contains(t, board, "2 predicted · 0 ran it")
	assert.Equal(t, 2, strings.Count(board, "50 % <span class=\"muted\">(1)</span>"), "one each for the right and a wrong answer")

	// Ada's runs are the recorded ones, which bear the claims out; in Bob's
	// the emails never went out.
	ps, err := e.store.Participants(t.Context(), code)
	require.NoError(t, err)
	rec := e.s.lab.recs["email-down"]
	require.NotNil(t, rec)
	var results []labs.Result
	for _, r := range rec.Runs {
		results = append(results, r.Result)
	}
	e.s.recordOutcome(ps[0].Learner, "email-down", results)
	bobs := append([]labs.Result(nil), results...)
	bobs[1].EmailsSent = 0
	e.s.recordOutcome(ps[1].Learner, "email-down", bobs)
	_, board = fetch(t, fac, e.base+"/workshops/"+code+"/board")
	assert.Contains(t, board, "2 predicted · 2 ran it · their runs bore every claim out in 1 of 2")

	_, csv := fetch(t, fac, e.base+"/workshops/"+code+"/report.csv")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], "(predicted right)")
	assert.True(t, strings.HasSuffix(lines[1], ",true,true"), "Ada predicted right and her runs bore it out: %s", lines[1])
	assert.True(t, strings.HasSuffix(lines[2], ",false,false"), "Bob did neither: %s", lines[2])
	_, md := fetch(t, fac, e.base+"/workshops/"+code+"/report.md")
	assert.Contains(t, md, "## Predictions and outcomes")
	assert.Contains(t, md, "2 of 2 participants predicted; 2 ran the scenario, and 1 of those runs bore out every claim.")
}

// A room run starts the scenario in every participant's sandbox; their
// figures appear side by side on the board.
func TestWorkshopRoomRun(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	code, fac := e.create(t, agendaForm+"&item=scenario:baseline")
	a, b := e.join(t, code, "Ada"), e.join(t, code, "Bob")
	e.labOf(t, a)
	e.labOf(t, b)
	e.join(t, code, "Cy") // never opened the lab: nothing to run

	res, body := postForm(t, fac, e.base+"/workshops/"+code+"/room-run", "scenario=email-down")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, "not on this agenda")
	assert.Contains(t, body, "scenario:")
	res, _ = postForm(t, fac, e.base+"/workshops/"+code+"/room-run", "scenario=baseline")
	require.Equal(t, http.StatusSeeOther, res.StatusCode)

	var board string
	require.Eventually(t, func() bool {
		_, board = fetch(t, fac, e.base+"/workshops/"+code+"/board")
		return strings.Contains(board, "The room&rsquo;s runs side by side (2)") || strings.Contains(board, "The room's runs side by side (2)")
	}, 60*time.Second, 200*time.Millisecond, "both participants' runs reach the board")
	assert.Contains(t, board, "run for the room")
	assert.Contains(t, board, "<th scope=\"row\">Ada</th><td>200/200</td>")
	assert.Contains(t, board, "<th scope=\"row\">Bob</th><td>200/200</td>")
	assert.Contains(t, board, "0 predicted · 2 ran it · their runs bore every claim out in 2 of 2")
}

// Nothing of a workshop lives only in the app: after a restart (a new
// server on the same Redis) the board, the participant's bar, their hand
// and the room's predictions are all there.
func TestWorkshopSurvivesARestart(t *testing.T) {
	db := redistest.Open(t)
	store := workshops.NewStore(db.Client, workshops.Options{Index: "cr:test-workshops:" + t.Name()})
	t.Cleanup(func() { workshops.DeleteAll(store) })
	start := func() *workshopEnv {
		settings := labTestSettings()
		mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Settings: &settings, Logger: quietLog(), Block: 50 * time.Millisecond}})
		require.NoError(t, err)
		t.Cleanup(func() { mgr.Close() })
		s, base := newTestServer(t, Config{Redis: db.Client, Lessons: realCatalog(t), Workshops: store, Labs: mgr})
		return &workshopEnv{s: s, base: base, store: store, mgr: mgr}
	}
	before := start()
	code, fac := before.create(t, agendaForm+"&item=scenario:email-down")
	p := before.join(t, code, "Ada")
	res, body := postForm(t, p, before.base+before.labOf(t, p)+"/scenarios/email-down/predict", "prediction=1")
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	postForm(t, p, before.base+"/workshops/"+code+"/hand", "up=1")
	postForm(t, fac, before.base+"/workshops/"+code+"/move", "item=2")

	// A new process on the same Redis; the browsers keep their cookies
	// (a cookie belongs to the host, whatever the port).
	after := start()
	res, board := fetch(t, fac, after.base+"/workshops/"+code+"/board")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, board, "Ada")
	assert.Contains(t, board, `id="ws-queue"`, "the hand is still up")
	assert.Contains(t, board, "1 predicted")
	_, page := fetch(t, p, after.base+"/lessons/synchronous-reality")
	assert.Contains(t, page, `id="ws-bar"`)
	assert.Contains(t, page, `id="ws-prompt"`, "the move is remembered")
}
