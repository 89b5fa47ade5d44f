package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
)

// decideStoredDraft returns the draft as stored in Redis for the browser c.
func decideStoredDraft(t *testing.T, s *Server, c *http.Client, base string) []byte {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == learnerCookieName {
			b, err := s.cfg.Redis.Get(t.Context(), "cr:{"+k.Value+"}:decide").Bytes()
			require.NoError(t, err)
			return b
		}
	}
	t.Fatal("no learner cookie")
	return nil
}

func decideDownloadedAnswers(t *testing.T, c *http.Client, base string) decide.Answers {
	t.Helper()
	res, body := decideDo(t, c, http.MethodGet, base+"/decide/answers.json", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	var a decide.Answers
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	return a
}

// The reproduction: a 1,000,000-character title was stored as typed.
// Now every answer is cut to its limit before the draft is saved, the page
// says which were cut, and every other answer is kept.
func TestDecideDraftKeepsOnlyWhatFitsTheLimits(t *testing.T) {
	s, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})

	form := stepOneForm(strings.Repeat("T", 1_000_000))
	form.Set("context", strings.Repeat("c", 20_000))
	form.Set("deciders", strings.Repeat("p, ", 100)+"p")
	form.Set("journeys[0].interactions[0].consistency", strings.Repeat("s", 5000))
	for _, action := range []string{"save", "next", "back", "goto:3"} {
		form.Set("action", action)
		res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
		require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, action)
		for _, want := range []string{
			"Decision title</a>: was longer than 200 characters; only the first 200 were kept",
			"Context</a>: was longer than 10000 characters; only the first 10000 were kept",
			"Decision makers</a>: listed more than 30 people; only the first 30 were kept",
			"Checkout → Reserve inventory: Consistency</a>: was longer than 120 characters; only the first 120 were kept",
		} {
			assert.Contains(t, body, want, action)
		}
		assert.Contains(t, body, `value="`+strings.Repeat("T", 200)+`"`, "the page shows what was kept")
		assert.Less(t, len(body), 200_000, action)

		a := decideDownloadedAnswers(t, c, base)
		assert.Equal(t, strings.Repeat("T", 200), a.Title, action)
		assert.Len(t, a.Context, 10_000)
		assert.Len(t, a.Deciders, decide.MaxPeople)
		assert.Equal(t, "Checkout", a.Journeys[0].Name, "the valid answers are kept")
		assert.Equal(t, "Reserve inventory", a.Journeys[0].Interactions[0].Name)
		assert.Equal(t, 200, a.Journeys[0].Interactions[0].PeakRPS)
		assert.Less(t, len(decideStoredDraft(t, s, c, base)), 20_000, action)
	}

	// Step 5's long answers too (its retry policy is asked once an
	// interaction is handed off: the choice overrides the rules here).
	handedOff := stepOneForm("Checkout communication")
	handedOff.Set("journeys[0].interactions[0].choice", "async")
	handedOff.Set("action", "save")
	res, _ := decideDo(t, c, http.MethodPost, base+"/decide/step/1", handedOff)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/5", url.Values{"action": {"save"},
		"fallback.runbook": {strings.Repeat("r", 50_000)}, "fallback.dead_letter_destination": {strings.Repeat("d", 500)}})
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "Reprocessing runbook</a>: was longer than 10000 characters")
	a := decideDownloadedAnswers(t, c, base)
	assert.Len(t, a.Fallback.Runbook, 10_000)
	assert.Len(t, a.Fallback.DeadLetterDestination, 120)

	// The live preview renders the cut answers, not a megabyte.
	form.Set("action", "save")
	res, preview := decideDo(t, c, http.MethodPost, base+"/decide/preview/1", form)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Less(t, len(preview), 50_000)

	// Within the limits nothing is reported and the step moves on.
	form = stepOneForm("Checkout communication")
	form.Set("action", "next")
	res, _ = decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
}

// Every field within its limit can still add up: 600 interactions of long
// names. Such a draft is refused whole, with a clear message, and the
// answers saved before are kept.
func TestDecideDraftTotalSizeIsBounded(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	seed, err := os.ReadFile("../decide/testdata/checkout.yaml")
	require.NoError(t, err)
	res, _ := decideUpload(t, c, base, "checkout.yaml", seed)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)

	long := func(r string) string { return strings.Repeat(r, 120) } // 4 bytes each
	var b strings.Builder
	b.WriteString("title: Big\njourneys:\n")
	for j := range decide.MaxJourneys {
		fmt.Fprintf(&b, "- name: J%d\n  interactions:\n", j)
		for i := range decide.MaxInteractions {
			if j == 0 && i == 0 { // the long names once, then aliases to them
				fmt.Fprintf(&b, "  - {name: &n %s, from: &f %s, to: &t %s, consistency: eventual, event: &e %s}\n", long("𝔸"), long("𝔹"), long("ℂ"), long("𝔻"))
				continue
			}
			b.WriteString("  - {name: *n, from: *f, to: *t, consistency: eventual, event: *e}\n")
		}
	}
	big := b.String()
	_, err = decide.Parse([]byte(big))
	require.NoError(t, err, "valid answers")

	res, body := decideUpload(t, c, base, "big.yaml", []byte(big))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Contains(t, body, "Together your answers are too large to keep: at most 512 KB can be saved.")
	assert.Equal(t, "Checkout communication", decideDownloadedAnswers(t, c, base).Title, "the draft saved before is kept")

	_, err = decide.EncodeDraft(decide.Draft{Answers: decide.Seed()})
	assert.NoError(t, err)
}

// hungRedis accepts connections and never answers, as a paused or wedged
// Redis does.
func hungRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go io.Copy(io.Discard, conn)
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String()}) // go-redis defaults: 3 s reads, 3 retries
	t.Cleanup(func() {
		client.Close()
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return client
}

func TestDecideHungRedisGivesAClearPageQuickly(t *testing.T) {
	_, base := newTestServer(t, Config{Redis: hungRedis(t), RedisLabel: "hung", DraftTimeout: 300 * time.Millisecond})
	c := decideClient(t)
	c.Timeout = 30 * time.Second

	for _, tc := range []struct {
		method, path string
		form         url.Values
		status       int
		want         string
	}{
		{http.MethodGet, "/decide", nil, http.StatusServiceUnavailable, "Your saved answers cannot be reached right now."},
		{http.MethodGet, "/decide/step/2", nil, http.StatusServiceUnavailable, "Your saved answers cannot be reached right now."},
		{http.MethodPost, "/decide/start", url.Values{"from": {"example"}}, http.StatusServiceUnavailable, "Your answers could not be saved right now."},
		{http.MethodPost, "/decide/step/1", stepOneForm("T"), http.StatusServiceUnavailable, "Your saved answers cannot be reached right now."},
		{http.MethodPost, "/decide/reset", url.Values{"confirm": {"yes"}}, http.StatusServiceUnavailable, "Your answers could not be removed right now."},
		{http.MethodGet, "/decide/answers.json", nil, http.StatusServiceUnavailable, "Your saved answers cannot be reached right now."},
	} {
		start := time.Now()
		res, body := decideDo(t, c, tc.method, base+tc.path, tc.form)
		took := time.Since(start)
		assert.Equal(t, tc.status, res.StatusCode, tc.path)
		assert.Contains(t, body, tc.want, tc.path)
		assert.Equal(t, "5", res.Header.Get("Retry-After"), tc.path)
		// The deadline is 300 ms; without it go-redis waits 3 s per try.
		assert.Less(t, took, 2*time.Second, tc.path)
	}

	// A bad upload still says what is wrong with the file, once.
	start := time.Now()
	res, body := decideUpload(t, c, base, "junk.json", []byte("{not json"))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "is not valid JSON")
	assert.Equal(t, 1, strings.Count(body, "<html"), "one page, not an error page followed by another")
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestDecideOversizedUploadIs413(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	for _, size := range []int{decide.MaxInputBytes + 1, 300 << 10, 2 << 20} {
		res, body := decideUpload(t, c, base, "big.yaml", bytes.Repeat([]byte("#"), size))
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, size)
		assert.NotContains(t, body, "choose an answers file", size)
		assert.Contains(t, body, "too large", size)
	}

	// Without a Content-Length the body is cut at the limit while it is read.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("answers", "big.yaml")
		fw.Write(bytes.Repeat([]byte("#"), 300<<10))
		mw.Close()
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, base+"/decide/upload", pr)
	require.NoError(t, err)
	req.ContentLength = -1 // unknown: sent chunked
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Contains(t, string(body), "answers</code>: the file is too large: an answers file may be at most 256 KB")

	// No file at all is still "choose a file".
	res, respBody := decideDo(t, c, http.MethodPost, base+"/decide/upload", url.Values{})
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, respBody, "choose an answers file")
}

func TestDecideUploadRefusesHostileFilesBriefly(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)

	// The file: 256 KB of unknown keys gave a 1.36 MB error page.
	var junk strings.Builder
	for i := 0; junk.Len() < decide.MaxInputBytes-16; i++ {
		fmt.Fprintf(&junk, "k%05d: 1\n", i)
	}
	res, body := decideUpload(t, c, base, "junk.yaml", []byte(junk.String()))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "(file)</code>: has more than 32 fields; an object in an answers file has at most 14")
	assert.Less(t, len(body), 64<<10)

	// Many mistakes: the first 20, then how many more.
	var many strings.Builder
	many.WriteString("title: T\njourneys:\n- name: J\n  interactions:\n")
	for range 30 {
		many.WriteString("  - {consistency: maybe}\n")
	}
	res, body = decideUpload(t, c, base, "many.yaml", []byte(many.String()))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Equal(t, decide.MaxErrors+1, strings.Count(body, "<li><code>"), body)
	assert.Contains(t, body, "… and 100 more problems; fix the ones above first")

	// JSON with a key given twice.
	res, body = decideUpload(t, c, base, "dup.json", []byte(`{"title": "T",
 "journeys": [{"name": "J", "interactions": [{"name": "A", "from": "a", "to": "b", "consistency": "strong"}]}],
 "title": "Something else"}`))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "title</code>: is given twice (lines 1 and 3); keep one")

	// A direction override in a name.
	res, body = decideUpload(t, c, base, "bidi.json", []byte(`{"title": "T",
 "journeys": [{"name": "J", "interactions": [{"name": "A", "from": "pay\u202Ekcehc", "to": "b", "consistency": "strong"}]}]}`))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "journeys[0].interactions[0].from</code>: must not contain U&#43;202E (RIGHT-TO-LEFT OVERRIDE)") // html/template writes + as &#43;
}

func TestDecideReviewListsTheFirstProblems(t *testing.T) {
	s, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	u, err := url.Parse(base)
	require.NoError(t, err)
	var learner string
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == learnerCookieName {
			learner = k.Value
		}
	}
	a := decide.Answers{Title: "T", Journeys: []decide.Journey{{Name: "J", Interactions: make([]decide.Interaction, 30)}}}
	require.NoError(t, s.drafts.Save(t.Context(), learner, decide.Draft{Answers: a, Reached: 6}))
	res, body := decideDo(t, c, http.MethodGet, base+"/decide/review", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	// 30 interactions without name, from, to or consistency: 120 problems.
	assert.Equal(t, decide.MaxErrors+1, strings.Count(body, "<li><a href=\"/decide/"), body)
	assert.Contains(t, body, "… and 100 more problems; fix the ones above first")
}

func TestDecideStepRefusesDirectionControls(t *testing.T) {
	_, base := newTestServer(t, Config{})
	c := decideClient(t)
	decideDo(t, c, http.MethodPost, base+"/decide/start", url.Values{"from": {"blank"}})
	form := stepOneForm("Checkout \u2067communication\u2069")
	form.Set("journeys[0].interactions[0].to", "inv\u202Dentory")
	form.Set("action", "next")
	res, body := decideDo(t, c, http.MethodPost, base+"/decide/step/1", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "Decision title</a>: must not contain U&#43;2067 (RIGHT-TO-LEFT ISOLATE)")
	assert.Contains(t, body, "Reserve inventory: To service</a>: must not contain U&#43;202D (LEFT-TO-RIGHT OVERRIDE)")

	// Kept in the draft to be fixed, but never in a record.
	res, _ = decideDo(t, c, http.MethodGet, base+"/decide/record.md", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
}
