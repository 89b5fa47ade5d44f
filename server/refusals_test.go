package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
)

func TestLabWithoutCookiesSaysSoInsteadOfLooping(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	var hops []string
	noJar := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.RequestURI())
		return nil
	}}
	res, body := do(t, noJar, http.MethodGet, e.base+"/labs?scenario=baseline")
	assert.Equal(t, []string{"/labs?cookie=1&scenario=baseline"}, hops, "one redirect, then an answer")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "The lab needs a cookie")
	assert.Contains(t, body, "did not send it back")
	assert.Contains(t, body, `href="/labs?scenario=baseline"`, "try again keeps the scenario")
	assert.NotRegexp(t, `\[[a-z_]+\]`, body, "every text key exists in content/labs/page/text.yaml")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Zero(t, e.mgr.Len(), "no sandbox for a client without cookies")

	// A browser that keeps cookies never sees the page, marker or not.
	a := e.learner(t)
	res, body = a.get("/labs?cookie=1")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, a.lab)
}

func TestDeadLetterIDsOutOfRangeAre400(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	huge := "99999999999999999999-0" // matches the pattern, past 2^64-1
	code, out := a.postJSON(a.lab+"/dead-letters/replay", url.Values{"id": {huge}})
	assert.Equal(t, http.StatusBadRequest, code, "before: 503 and an ERROR log")
	assert.Equal(t, "id", out["field"])
	assert.Contains(t, out["error"], "is not a dead letter id")

	res, body := a.get(a.lab + "/dead-letters?before=1-99999999999999999999")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, body, "Before")
	req, _ := http.NewRequest(http.MethodGet, e.base+a.lab+"/dead-letters?before=1-99999999999999999999", nil)
	req.Header.Set("Accept", "application/json")
	r2, err := a.c.Do(req)
	require.NoError(t, err)
	defer r2.Body.Close()
	var j map[string]string
	require.NoError(t, json.NewDecoder(r2.Body).Decode(&j))
	assert.Equal(t, "before", j["field"])

	assert.True(t, validDeadID("18446744073709551615-18446744073709551615"))
	assert.False(t, validDeadID("18446744073709551616-0"))
	assert.False(t, validDeadID("1-2-3"))
}

func TestTraceWithALongEmailNamesTheField(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	code, out := a.postJSON(a.lab+"/trace", url.Values{"email": {strings.Repeat("a", 5000) + "@example.com"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "email", out["field"])
	msg, _ := out["error"].(string)
	assert.Equal(t, "Email: must be at most 254 characters, got 5012", msg)
	assert.NotContains(t, msg, "body")

	code, out = a.postJSON(a.lab+"/trace", url.Values{"name": {strings.Repeat("n", 101)}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "name", out["field"])
}

func TestProgressImportBoundsEveryNumber(t *testing.T) {
	t.Parallel()
	cat, base := newLessonServer(t)
	slug := cat.Chapters[0].Slug
	bob := browser(t)
	for file, want := range map[string]string{
		`{"version":1,"chapters":{"` + slug + `":{"attempts":9223372036854775807}}}`: "chapters." + slug + ".attempts: 9223372036854775807 is more than 100000",
		`{"version":1,"chapters":{"` + slug + `":{"attempts":1,"total":-5}}}`:        "chapters." + slug + ".total: -5 is outside 0..1000",
	} {
		res, body := upload(t, bob, base+"/lessons/progress/import", file)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, file)
		assert.Contains(t, body, want)
	}
	res, _ := upload(t, bob, base+"/lessons/progress/import", `{"version":1,"chapters":{"`+slug+`":{"attempts":100000}}}`)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "the bound itself is fine")
	// The next attempt still saves.
	res, body := postForm(t, bob, base+"/lessons/"+slug+"/quiz", answers(cat.Chapters[0], false))
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.NotContains(t, body, "could not be saved")
}
