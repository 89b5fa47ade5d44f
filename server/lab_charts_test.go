package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
)

// getTimeline asks for the charts' timeline as lab-charts.js does (JSON).
func (l *learner) getTimeline(query string) (int, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.server+l.lab+"/timeline"+query, nil)
	require.NoError(l.t, err)
	req.Header.Set("Accept", "application/json")
	res, err := l.c.Do(req)
	require.NoError(l.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(l.t, err)
	return res.StatusCode, b
}

func markLabels(ms []labs.Mark) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Label)
	}
	return out
}

// TestLabChartsTimelineOfARun reads the charts' data before and after a run:
// empty at first, then one point a second whose accepted signups add up to
// the run's, with its start and end marked, and only the later part on ask.
func TestLabChartsTimelineOfARun(t *testing.T) {
	t.Parallel() // mostly waiting on a load; overlaps with the other lab tests
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)

	// Before any run: an empty timeline the page can draw, not an error.
	code, body := a.getTimeline("")
	require.Equal(t, http.StatusOK, code, string(body))
	var empty map[string]any
	require.NoError(t, json.Unmarshal(body, &empty))
	assert.Equal(t, "", empty["run"])
	assert.Equal(t, true, empty["done"])
	assert.Equal(t, []any{}, empty["points"], "an empty list, not null")
	assert.Equal(t, []any{}, empty["marks"])

	// A run of about two and a half seconds: 50 signups at 20 a second.
	code, out := a.postJSON(a.lab+"/run", url.Values{"signups": {"50"}, "concurrency": {"4"}, "rate": {"20"}})
	require.Equal(t, http.StatusOK, code, out)
	a.waitIdle(30 * time.Second)
	hist := e.mgr.Lookup(mustLearner(t, a)).History()
	require.Len(t, hist, 1)
	run := hist[0]

	code, body = a.getTimeline("")
	require.Equal(t, http.StatusOK, code, string(body))
	var tl labs.Timeline
	require.NoError(t, json.Unmarshal(body, &tl))
	assert.Equal(t, run.Run, tl.Run, "the timeline is the last run's")
	assert.True(t, tl.Done)
	assert.False(t, tl.Started.IsZero())
	require.GreaterOrEqual(t, len(tl.Points), 2, "one point a second: %s", body)
	var accepted, failed int64
	for i, p := range tl.Points {
		if i > 0 {
			assert.Greater(t, p.T, tl.Points[i-1].T, "seconds go forward")
		}
		accepted += p.Accepted
		failed += p.Failed
		if p.Accepted+p.Failed == 0 {
			assert.Zero(t, p.P50, "a second without answers has no latency")
		} else {
			assert.Positive(t, p.P50, "second %v", p.T)
			assert.LessOrEqual(t, p.P50, p.P99)
		}
	}
	assert.Equal(t, run.SignupsSucceeded, accepted, "accepted per second adds up to the run's signups_succeeded")
	assert.Equal(t, run.SignupsFailed, failed)
	assert.EqualValues(t, 50, accepted)
	labels := markLabels(tl.Marks)
	assert.Equal(t, []string{"run started", "load ended", "run ended"}, labels)
	for i := 1; i < len(tl.Marks); i++ {
		assert.GreaterOrEqual(t, tl.Marks[i].T, tl.Marks[i-1].T)
	}
	assert.GreaterOrEqual(t, tl.Marks[2].T, tl.Points[len(tl.Points)-1].T, "the run ends after its last second")

	// ?after=T: only what came later, as a page that has the start asks.
	mid := tl.Points[0].T
	code, body = a.getTimeline("?after=" + url.QueryEscape(formatSeconds(mid)))
	require.Equal(t, http.StatusOK, code, string(body))
	var later labs.Timeline
	require.NoError(t, json.Unmarshal(body, &later))
	assert.Equal(t, tl.Run, later.Run)
	assert.Equal(t, tl.Points[1:], later.Points, "the points after the first one")
	for _, m := range later.Marks {
		assert.Greater(t, m.T, mid)
	}
	assert.NotContains(t, markLabels(later.Marks), "run started")
	assert.Contains(t, markLabels(later.Marks), "run ended")

	code, body = a.getTimeline("?after=-1")
	require.Equal(t, http.StatusOK, code)
	var all labs.Timeline
	require.NoError(t, json.Unmarshal(body, &all))
	assert.Equal(t, tl.Points, all.Points, "after=-1 is everything")
	assert.Equal(t, tl.Marks, all.Marks)

	code, body = a.getTimeline("?after=" + formatSeconds(tl.Marks[2].T))
	require.Equal(t, http.StatusOK, code)
	var none labs.Timeline
	require.NoError(t, json.Unmarshal(body, &none))
	assert.Empty(t, none.Points, "nothing after the end")
	assert.Empty(t, none.Marks)
	assert.Equal(t, tl.Run, none.Run, "but it still names the run")

	// A bad ?after is refused, naming the field.
	for _, bad := range []string{"x", "-5", "1e", "NaNs"} {
		code, body = a.getTimeline("?after=" + url.QueryEscape(bad))
		assert.Equal(t, http.StatusBadRequest, code, bad)
		var refusal map[string]any
		require.NoError(t, json.Unmarshal(body, &refusal), bad)
		assert.Equal(t, "after", refusal["field"], bad)
		assert.Contains(t, refusal["error"], "not a number of seconds", bad)
	}
}

// TestLabChartsTimelineBelongsToItsLearner keeps one learner's run away
// from another's charts.
func TestLabChartsTimelineBelongsToItsLearner(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a, b := e.learner(t), e.learner(t)
	res, _ := b.get(a.lab + "/timeline")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func formatSeconds(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
