package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
)

// labTestSettings keep lab tests quick: no latency, fast retries, few
// consumers, and enough deliveries that a short outage dead-letters nothing.
func labTestSettings() labs.Settings {
	s := labs.DefaultSettings()
	s.Timeout = 500 * time.Millisecond
	s.RetryAfter = 100 * time.Millisecond
	s.MaxDeliveries = 60
	s.EmailConsumers, s.AnalyticsConsumers = 2, 2
	return s
}

type labEnv struct {
	srv  *Server
	base string // server URL
	mgr  *labs.Manager
}

func newLabServer(t *testing.T, opt labs.ManagerOptions) *labEnv {
	t.Helper()
	db := redistest.Open(t)
	settings := labTestSettings()
	if opt.Sandbox.Settings == nil {
		opt.Sandbox.Settings = &settings
	}
	opt.Sandbox.Logger = quietLog()
	opt.Sandbox.Block = 50 * time.Millisecond
	opt.Sandbox.Breaker = labs.BreakerPolicy{Failures: 5, Cooldown: 200 * time.Millisecond}
	mgr, err := labs.NewManager(db.Client, opt)
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	srv, base := newTestServer(t, Config{Redis: db.Client, Labs: mgr, RedisLabel: db.Describe(), Ready: db.Ready})
	return &labEnv{srv: srv, base: base, mgr: mgr}
}

// learner is one browser: a cookie jar and its sandbox's address.
type learner struct {
	t      *testing.T
	c      *http.Client
	server string
	lab    string // /labs/s/<id>
}

var labBaseRe = regexp.MustCompile(`data-base="(/labs/s/lab-[0-9a-f]+)"`)

func (e *labEnv) learner(t *testing.T) *learner {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	l := &learner{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, server: e.base}
	res, body := l.get("/labs")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	m := labBaseRe.FindStringSubmatch(body)
	require.NotNil(t, m, "the lab page names its sandbox")
	l.lab = m[1]
	return l
}

func (l *learner) get(path string) (*http.Response, string) {
	l.t.Helper()
	res, err := l.c.Get(l.server + path)
	require.NoError(l.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(l.t, err)
	return res, string(b)
}

// post sends a form; fetch=true asks for JSON as lab.js does.
func (l *learner) post(path string, form url.Values, fetch bool) (*http.Response, string) {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodPost, l.server+path, strings.NewReader(form.Encode()))
	require.NoError(l.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if fetch {
		req.Header.Set("X-Requested-With", "fetch")
	}
	res, err := l.c.Do(req)
	require.NoError(l.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(l.t, err)
	return res, string(b)
}

func (l *learner) postJSON(path string, form url.Values) (int, map[string]any) {
	l.t.Helper()
	res, body := l.post(path, form, true)
	var out map[string]any
	require.NoError(l.t, json.Unmarshal([]byte(body), &out), body)
	return res.StatusCode, out
}

// settingsForm is the full settings form with the test defaults.
func settingsForm(change map[string]string) url.Values {
	f := url.Values{
		"mode": {"async"}, "email_latency": {"0"}, "email_error_rate": {"0"}, "analytics_latency": {"0"},
		"analytics_error_rate": {"0"}, "timeout": {"500"}, "crash_rate": {"0"}, "idempotency": {"on"},
		"email_consumers": {"2"}, "analytics_consumers": {"2"}, "max_deliveries": {"60"}, "retry_after": {"100"},
		"retry_max_backoff": {"30000"}, "max_retry_age": {"600"}, "lease": {"1000"}, "publish": {"outbox"}, "publish_error_rate": {"0"},
	}
	for k, v := range change {
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
	}
	return f
}

func (l *learner) waitIdle(timeout time.Duration) labEvent {
	l.t.Helper()
	var ev labEvent
	require.Eventually(l.t, func() bool {
		res, body := l.get(l.lab + "/snapshot")
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &ev) != nil {
			return false
		}
		return !ev.Status.Running
	}, timeout, 50*time.Millisecond)
	return ev
}

func TestLabPageCreatesOneSandboxPerLearner(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	res, body := a.get("/labs")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `data-base="`+a.lab+`"`, "the same browser keeps its sandbox")
	for _, label := range []string{"Mode", "Email service", "Analytics service", "Latency (ms)", "Failures (0–1)", "Down", "Hangs",
		"Timeout per call (ms)", "Circuit breaker", "Fallback", "Email consumers", "Crash rate", "Idempotency",
		`max="10000"`, "Concurrency", "Rate per second", "Reset sandbox", "Dead letters", "Trace one signup", "Guided scenarios"} {
		assert.Contains(t, body, label)
	}
	// Every input has a label pointing at it.
	for _, m := range regexp.MustCompile(`<input id="(f-[a-z_]+)"`).FindAllStringSubmatch(body, -1) {
		assert.Contains(t, body, `for="`+m[1]+`"`, m[1])
	}
	assert.NotRegexp(t, `\[[a-z_]+\]`, body, "every text key exists in content/labs/page/text.yaml")
	assert.Contains(t, body, "A real signup service", "the words come from content")
	b := e.learner(t)
	assert.NotEqual(t, a.lab, b.lab)
	assert.Equal(t, 2, e.mgr.Len())
}

func TestLabRefusesAnotherLearnersSandbox(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a, b := e.learner(t), e.learner(t)
	for _, path := range []string{"", "/events", "/snapshot", "/history", "/history.csv", "/dead-letters", "/scenarios/baseline"} {
		res, _ := b.get(a.lab + path)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, "GET "+path)
	}
	for _, path := range []string{"/settings", "/run", "/cancel", "/reset", "/poison", "/trace", "/dead-letters/replay", "/scenarios/baseline/predict", "/scenarios/baseline/run"} {
		res, _ := b.post(a.lab+path, settingsForm(map[string]string{"signups": "10", "concurrency": "1"}), true)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, "POST "+path)
	}
	// A made-up id and a browser without a lab get the same answer.
	res, _ := b.get("/labs/s/lab-00000000000000000000000000000000")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	anon := &learner{t: t, c: &http.Client{}, server: e.base}
	res, _ = anon.get(a.lab + "/events")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	// b's attempts changed nothing of a's.
	_, body := a.get(a.lab + "/history")
	assert.Contains(t, body, "No runs yet")
}

func TestLabRejectsBadValuesNamingTheField(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	for field, bad := range map[string]string{
		"email_error_rate": "2", "analytics_error_rate": "-0.1", "email_latency": "soon", "timeout": "0",
		"mode": "sideways", "crash_rate": "0.9", "email_consumers": "65", "max_deliveries": "-1", "retry_after": "x",
		"email_down": "perhaps", "retry_max_backoff": "50", "max_retry_age": "-3", "lease": "20", "publish": "twice",
		"publish_error_rate": "7",
	} {
		code, out := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{field: bad}))
		assert.Equal(t, http.StatusBadRequest, code, field)
		assert.Equal(t, field, out["field"], field)
		assert.Contains(t, out["error"], fieldLabel(field), field)
	}
	code, out := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"timeout": ""}))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "timeout", out["field"])

	for field, bad := range map[string]url.Values{
		"signups":       {"signups": {"0"}, "concurrency": {"4"}},
		"concurrency":   {"signups": {"10"}, "concurrency": {"many"}},
		"rate":          {"signups": {"10"}, "concurrency": {"4"}, "rate": {"-1"}},
		"recover_after": {"signups": {"10"}, "concurrency": {"4"}, "recover_after": {"-5"}},
	} {
		code, out := a.postJSON(a.lab+"/run", bad)
		assert.Equal(t, http.StatusBadRequest, code, field)
		assert.Equal(t, field, out["field"], field)
	}
	code, out = a.postJSON(a.lab+"/run", url.Values{"signups": {"20000"}, "concurrency": {"4"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, out["error"], "between 1 and 10000", "the web caps loads below the engine")
	code, out = a.postJSON(a.lab+"/run", url.Values{"signups": {"10"}, "concurrency": {"500"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "concurrency", out["field"])

	// A plain form post gets the page back with the message and the field marked.
	res, body := a.post(a.lab+"/settings", settingsForm(map[string]string{"email_error_rate": "1.5"}), false)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, body, "Email error rate: 1.5 is not between 0 and 1")
	assert.Regexp(t, `name="email_error_rate"[^>]*aria-invalid="true"`, body)
	// Nothing changed.
	_, out2 := a.postJSON(a.lab+"/settings", settingsForm(nil))
	assert.Equal(t, true, out2["ok"])

	res, _ = a.get(a.lab + "/history?run=7")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, _ = a.get(a.lab + "/dead-letters?limit=abc")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {"not-an-id"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "id", out["field"])
	code, _ = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {"1-1"}})
	assert.Equal(t, http.StatusNotFound, code)
	code, out = a.postJSON(a.lab+"/trace", url.Values{"email": {"not an address"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "email", out["field"])
	res, _ = a.get(a.lab + "/scenarios/no-such-thing")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestLabIsFullBeyondTheBound(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{Max: 1})
	e.learner(t)
	jar, _ := cookiejar.New(nil)
	other := &learner{t: t, c: &http.Client{Jar: jar}, server: e.base}
	res, body := other.get("/labs")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Contains(t, body, "The lab is full")
	assert.Contains(t, body, "Every one of this server&rsquo;s 1 lab sandboxes")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
}

func TestLabResetStartsAFreshSandbox(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	old := a.lab
	res, _ := a.post(a.lab+"/reset", nil, false)
	require.Equal(t, http.StatusOK, res.StatusCode) // redirected to /labs
	m := labBaseRe.FindStringSubmatch(func() string { _, b := a.get("/labs"); return b }())
	require.NotNil(t, m)
	assert.NotEqual(t, old, m[1])
	res, _ = a.get(old)
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "the old sandbox is gone")
}

func TestLabRunsSyncAndAsyncWithEmailDown(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, _ := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"mode": "sync", "email_down": "on"}))
	require.Equal(t, http.StatusOK, code)
	code, out := a.postJSON(a.lab+"/run", url.Values{"signups": {"60"}, "concurrency": {"8"}})
	require.Equal(t, http.StatusOK, code, out)
	code, _ = a.postJSON(a.lab+"/run", url.Values{"signups": {"60"}, "concurrency": {"8"}})
	assert.Contains(t, []int{http.StatusOK, http.StatusConflict}, code) // 409 while the first still runs
	a.waitIdle(20 * time.Second)

	code, _ = a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"mode": "async", "email_down": "on"}))
	require.Equal(t, http.StatusOK, code)
	code, _ = a.postJSON(a.lab+"/run", url.Values{"signups": {"60"}, "concurrency": {"8"}, "recover_after": {"300"}})
	require.Equal(t, http.StatusOK, code)
	a.waitIdle(30 * time.Second)

	res, body := a.get(a.lab + "/history.csv")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(rows), 3, body)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	syncRow, asyncRow := rows[1], rows[len(rows)-1]
	assert.Equal(t, "sync", syncRow[col["mode"]])
	assert.Equal(t, "0", syncRow[col["signups_succeeded"]], "sync: every signup fails with email down")
	assert.Equal(t, syncRow[col["signups_failed"]], syncRow[col["orphaned_users"]])
	assert.Equal(t, "async", asyncRow[col["mode"]])
	assert.Equal(t, "60", asyncRow[col["signups_succeeded"]], "async: every signup succeeds")
	assert.Equal(t, "60", asyncRow[col["emails_sent"]], "and every email is sent once email is back")
	assert.Equal(t, "0", asyncRow[col["lost"]])

	_, page := a.get(a.lab + "/history")
	assert.Contains(t, page, "Side by side")
	assert.Contains(t, page, "Orphaned users")
	_, page = a.get(a.lab)
	assert.Contains(t, page, "✓ goal reached", "the email-down scenario's goal is met by these runs")
}

// readEvents reads SSE frames from body until n arrived or timeout.
func readEvents(t *testing.T, body io.Reader, n int, timeout time.Duration) []labEvent {
	t.Helper()
	out := make(chan labEvent, 64)
	go func() {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "{}" {
				var ev labEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					out <- ev
				}
			}
		}
		close(out)
	}()
	var got []labEvent
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case ev, ok := <-out:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-deadline:
			return got
		}
	}
	return got
}

func TestLabEventsStreamFastWhileRunningAndAreBounded(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, _ := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"mode": "sync", "email_latency": "20"}))
	require.Equal(t, http.StatusOK, code)
	code, _ = a.postJSON(a.lab+"/run", url.Values{"signups": {"200"}, "concurrency": {"2"}})
	require.Equal(t, http.StatusOK, code)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.server+a.lab+"/events", nil)
	res, err := a.c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	start := time.Now()
	evs := readEvents(t, res.Body, 6, 3*time.Second)
	require.Len(t, evs, 6)
	assert.Less(t, time.Since(start), 2*time.Second, "at least 4 updates a second while a run is active")
	assert.True(t, evs[len(evs)-1].Status.Running)
	assert.Equal(t, "sync", string(evs[0].Picture.Mode))
	for _, ev := range evs {
		assert.NotNil(t, ev.Reached, "reached is a list in every update, never null")
	}

	// Two more streams are allowed, a fourth is not.
	var extra []*http.Response
	for range 2 {
		r, err := a.c.Do(req.Clone(ctx))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, r.StatusCode)
		extra = append(extra, r)
	}
	r, err := a.c.Get(a.server + a.lab + "/events")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	for _, r := range extra {
		r.Body.Close()
	}
	// Closed streams give their place back.
	require.Eventually(t, func() bool {
		r, err := a.c.Get(a.server + a.lab + "/snapshot")
		if err != nil {
			return false
		}
		r.Body.Close()
		e.srv.lab.mu.Lock()
		n := e.srv.lab.streams[mustLearner(t, a)]
		e.srv.lab.mu.Unlock()
		return n == 1
	}, 5*time.Second, 20*time.Millisecond)

	// Resetting the lab ends its stream.
	a.post(a.lab+"/reset", nil, true)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, res.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end when the lab closed")
	}
}

func mustLearner(t *testing.T, l *learner) string {
	u, _ := url.Parse(l.server)
	for _, c := range l.c.Jar.Cookies(u) {
		if c.Name == learnerCookieName {
			return c.Value
		}
	}
	t.Fatal("no learner cookie")
	return ""
}

func TestLabEventsEndWhenTheServerShutsDown(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	res, err := a.c.Get(a.server + a.lab + "/events")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Len(t, readEvents(t, res.Body, 1, 3*time.Second), 1)
	close(e.srv.closing)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, res.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived shutdown")
	}
}

func TestLabDeadLettersReplayOnceAndPoison(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, _ := a.postJSON(a.lab+"/poison", nil)
	require.Equal(t, http.StatusOK, code)
	var letters []map[string]any
	require.Eventually(t, func() bool {
		_, body := a.get(a.lab + "/dead-letters?limit=10")
		var out struct {
			Dead []map[string]any `json:"dead_letters"`
		}
		req, _ := http.NewRequest(http.MethodGet, a.server+a.lab+"/dead-letters", nil)
		req.Header.Set("Accept", "application/json")
		res, err := a.c.Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		_ = body
		if json.NewDecoder(res.Body).Decode(&out) != nil {
			return false
		}
		letters = out.Dead
		return len(letters) == 2 // one per group
	}, 10*time.Second, 50*time.Millisecond)
	assert.Contains(t, letters[0]["reason"], "not a readable user.signedup event")
	assert.EqualValues(t, 1, letters[0]["deliveries"])
	id := letters[0]["id"].(string)
	code, out := a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {id}})
	require.Equal(t, http.StatusOK, code, out)
	code, _ = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {id}})
	assert.Equal(t, http.StatusNotFound, code, "a second replay of the same letter does nothing")
	code, out = a.postJSON(a.lab+"/dead-letters/replay", url.Values{"all": {"1"}})
	require.Equal(t, http.StatusOK, code)
	assert.GreaterOrEqual(t, out["replayed"], float64(1))

	_, page := a.get(a.lab)
	assert.Contains(t, page, "Replay all")
}

func TestLabTraceShowsTheTimeline(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, _ := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"mode": "sync", "email_latency": "15"}))
	require.Equal(t, http.StatusOK, code)
	res, body := a.post(a.lab+"/trace", url.Values{"email": {"ada@example.com"}, "name": {"Ada"}}, false)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "One signup, step by step")
	assert.Contains(t, body, "email")
	assert.Contains(t, body, "analytics")
	assert.Contains(t, body, "sync mode")

	code, _ = a.postJSON(a.lab+"/settings", settingsForm(nil))
	require.Equal(t, http.StatusOK, code)
	code, out := a.postJSON(a.lab+"/trace", url.Values{})
	require.Equal(t, http.StatusOK, code)
	steps := out["Steps"].([]any)
	require.NotEmpty(t, steps)
	text := ""
	for _, s := range steps {
		m := s.(map[string]any)
		text += m["where"].(string) + ": " + m["what"].(string) + "\n"
	}
	assert.Contains(t, text, "email consumer", text)
	assert.Contains(t, text, "analytics consumer", text)
}

func TestLabScenarioPredictRunCompareAndHints(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	path := a.lab + "/scenarios/circuit-breaker"
	res, body := a.get(path)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Predict")
	assert.Contains(t, body, `name="prediction"`)

	code, out := a.postJSON(path+"/run", nil)
	assert.Equal(t, http.StatusConflict, code, "a prediction comes first")
	assert.Equal(t, "prediction", out["field"])
	code, out = a.postJSON(path+"/predict", url.Values{"prediction": {"9"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "prediction", out["field"])
	res, body = a.post(path+"/predict", url.Values{}, false)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, body, "Prediction: choose one of the answers")

	// Hints escalate, then "show me" sets the controls to the first run.
	for i := 1; i <= 2; i++ {
		code, out = a.postJSON(path+"/hint", nil)
		require.Equal(t, http.StatusOK, code)
		assert.EqualValues(t, i, out["hints"])
	}
	_, body = a.get(path)
	assert.Contains(t, body, "Show me")
	code, out = a.postJSON(path+"/show-me", nil)
	require.Equal(t, http.StatusOK, code)
	st := out["settings"].(map[string]any)
	assert.Equal(t, "sync", st["mode"])
	assert.Equal(t, true, st["email"].(map[string]any)["hang"])
}

func TestLabScenarioEmailDownEndToEnd(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	if testing.Short() {
		t.Skip("runs two loads")
	}
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	path := a.lab + "/scenarios/email-down"
	code, _ := a.postJSON(path+"/predict", url.Values{"prediction": {"1"}})
	require.Equal(t, http.StatusOK, code)
	code, out := a.postJSON(path+"/run", nil)
	require.Equal(t, http.StatusOK, code, out)
	a.waitIdle(60 * time.Second)
	_, body := a.get(path)
	assert.Contains(t, body, "Your prediction held")
	assert.Contains(t, body, "Measured")
	assert.Contains(t, body, "Sync, email down")
	assert.Contains(t, body, "/lessons/synchronous-reality")
	assert.Contains(t, body, "✓ reached")
	assert.Contains(t, body, "What the lesson claims, checked on your runs")
	assert.Equal(t, 4, strings.Count(body, "✓ holds</span>"), "each of the scenario's four claims holds on the learner's own runs")
	assert.NotContains(t, body, "did not hold this time")
	assert.Contains(t, body, "Sync fails every signup. <span", "a claim is shown with what it says")
	assert.Regexp(t, `measured <code>200 == 200</code>`, body, "and the figures it was checked on")
	h := e.mgr.Lookup(mustLearner(t, a)).History()
	require.Len(t, h, 2)
	assert.EqualValues(t, 0, h[0].SignupsSucceeded)
	assert.EqualValues(t, 200, h[1].SignupsSucceeded)
	assert.EqualValues(t, 200, h[1].EmailsSent)
	assert.Zero(t, h[1].Lost)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLabEventsEndAfterTheirLifetime(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	e.srv.lab.streamLife = 700 * time.Millisecond
	a := e.learner(t)
	res, err := a.c.Get(a.server + a.lab + "/events")
	require.NoError(t, err)
	defer res.Body.Close()
	start := time.Now()
	io.Copy(io.Discard, res.Body)
	assert.Less(t, time.Since(start), 5*time.Second, "the stream ends by itself; the browser reconnects")
}

func TestLabSandboxExpiresWhenIdle(t *testing.T) {
	t.Parallel() // mostly waiting on loads; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{IdleTimeout: 300 * time.Millisecond, JanitorEvery: 50 * time.Millisecond})
	a := e.learner(t)
	require.Eventually(t, func() bool { return e.mgr.Len() == 0 }, 5*time.Second, 50*time.Millisecond)
	res, _ := a.get(a.lab)
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "an expired sandbox is gone")
	_, body := a.get("/labs")
	m := labBaseRe.FindStringSubmatch(body)
	require.NotNil(t, m)
	assert.NotEqual(t, a.lab, m[1], "the next visit gets a fresh sandbox")
}

func TestLabPictureNamesServiceAndBreakerStates(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, _ := a.postJSON(a.lab+"/settings", settingsForm(map[string]string{"mode": "sync", "breaker": "on", "email_hang": "on", "analytics_latency": "300"}))
	require.Equal(t, http.StatusOK, code)
	_, body := a.get(a.lab)
	assert.Regexp(t, `data-svc="email" data-state="hang"`, body)
	assert.Contains(t, body, ">hangs<")
	assert.Regexp(t, `data-svc="analytics" data-state="slow"`, body)
	assert.Contains(t, body, ">slow 300ms<")
	assert.Contains(t, body, "breaker closed")
	var ev labEvent
	_, raw := a.get(a.lab + "/snapshot")
	require.NoError(t, json.Unmarshal([]byte(raw), &ev))
	assert.True(t, ev.Picture.Breaker)
	assert.Equal(t, "hang", ev.Picture.Email.State)
}

func TestLabNeedsACookieBeforeMakingASandbox(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 3 {
		res, err := noRedirect.Get(e.base + "/labs")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusSeeOther, res.StatusCode)
		assert.NotEmpty(t, res.Header.Get("Set-Cookie"))
	}
	assert.Zero(t, e.mgr.Len(), "cookie-less requests make no sandbox")
	e.learner(t) // a browser follows the redirect with its cookie
	assert.Equal(t, 1, e.mgr.Len())
}
