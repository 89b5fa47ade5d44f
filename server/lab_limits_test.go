package server

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
)

// The lab's bounds as a visitor meets them (issue 12): sandboxes per address
// and the room's budget of signups in flight.

func TestLabSandboxesPerAddressAreCapped(t *testing.T) {
	env := newLabServer(t, labs.ManagerOptions{Max: 20, PerAddress: 2})
	// Every test client comes from 127.0.0.1: new cookie jars are new
	// learners at one address, as one visitor collecting cookies is.
	a := env.learner(t)
	b := env.learner(t)
	require.NotEqual(t, a.lab, b.lab)
	require.Equal(t, 2, env.mgr.Len())

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	third := &learner{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, server: env.base}
	res, body := third.get("/labs")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "600", res.Header.Get("Retry-After"))
	assert.Contains(t, body, "already has 2 lab sandboxes open")
	assert.Equal(t, 2, env.mgr.Len(), "no sandbox was made for the third cookie")

	// The same refusal as JSON for a script asking for it.
	req, err := http.NewRequest(http.MethodGet, env.base+"/labs", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	res, err = third.c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)

	// The learners who have a lab keep using it.
	res, _ = a.get(a.lab)
	assert.Equal(t, http.StatusOK, res.StatusCode)

	// A reset frees the place it held, and the next visit takes it.
	res, _ = a.post(a.lab+"/reset", url.Values{}, false)
	require.Equal(t, http.StatusOK, res.StatusCode) // followed to the new lab
	res, _ = third.get("/labs")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "a's new lab took the place a's old one freed")
	require.NoError(t, env.mgr.Reset(learnerIDFor(t, b)))
	res, _ = third.get("/labs")
	assert.Equal(t, http.StatusOK, res.StatusCode, "b's closed lab freed a place")
	assert.Equal(t, 2, env.mgr.Len())
}

// learnerIDFor finds the learner's owner id: the lab whose page they see.
func learnerIDFor(t *testing.T, l *learner) string {
	t.Helper()
	u, err := url.Parse(l.server)
	require.NoError(t, err)
	for _, c := range l.c.Jar.Cookies(u) {
		if c.Name == learnerCookieName {
			return c.Value
		}
	}
	t.Fatal("the learner has no cookie")
	return ""
}

func TestCookielessVisitsMakeNoSandbox(t *testing.T) {
	env := newLabServer(t, labs.ManagerOptions{Max: 20, PerAddress: 2})
	noJar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 20 {
		res, err := noJar.Get(env.base + "/labs")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		res, err = noJar.Get(env.base + "/labs?cookie=1")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "the page saying the lab needs cookies")
	}
	assert.Zero(t, env.mgr.Len(), "clients that keep no cookies never get a sandbox")
	env.learner(t) // and take no place from the address
	env.learner(t)
	assert.Equal(t, 2, env.mgr.Len())
}

func TestARunIsRefusedWhenTheRoomIsBusy(t *testing.T) {
	room := labs.NewRoom(20)
	env := newLabServer(t, labs.ManagerOptions{Sandbox: labs.Options{Room: room}})
	l := env.learner(t)
	_, page := l.get(l.lab)
	assert.Regexp(t, `id="f-concurrency"[^>]* max="20"`, page, "the form offers no more than the room can ever run")

	code, out := l.postJSON(l.lab+"/run", url.Values{"signups": {"10"}, "concurrency": {"21"}})
	assert.Equal(t, http.StatusBadRequest, code, "more than the whole room's budget can never run")
	assert.Equal(t, "concurrency", out["field"])

	// Another learner's load holds the room.
	other := env.learner(t)
	otherLab := env.mgr.Lookup(learnerIDFor(t, other))
	slow := labTestSettings()
	slow.Mode = labs.ModeSync
	slow.Email.Latency = 2 * time.Second
	slow.Timeout = 5 * time.Second
	require.NoError(t, otherLab.Apply(slow))
	require.NoError(t, otherLab.Start("", []labs.PlannedRun{{Label: "theirs", Load: labs.LoadSpec{Signups: 15, Concurrency: 15, DrainTimeout: 10 * time.Second}}}))
	require.Eventually(t, func() bool { return room.InUse() == 15 }, 5*time.Second, 5*time.Millisecond)

	res, body := l.post(l.lab+"/run", url.Values{"signups": {"10"}, "concurrency": {"10"}}, true)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, secs)
	assert.Contains(t, body, "The room is busy")
	assert.Contains(t, body, "15 of the 20 signups")
	assert.False(t, env.mgr.Lookup(learnerIDFor(t, l)).Status().Running)

	// A plain form post shows the same words on a page.
	res, body = l.post(l.lab+"/run", url.Values{"signups": {"10"}, "concurrency": {"10"}}, false)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Contains(t, body, "The room is busy")

	// Once the other load stops sending, the room has space again.
	require.Eventually(t, func() bool { return room.InUse() == 0 }, 15*time.Second, 20*time.Millisecond)
	code, out = l.postJSON(l.lab+"/run", url.Values{"signups": {"10"}, "concurrency": {"10"}})
	assert.Equal(t, http.StatusOK, code, out)
	l.waitIdle(20 * time.Second)
}
