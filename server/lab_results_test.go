package server

import (
	"encoding/json"
	"github.com/crossroads-learn/crossroads/content"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
)

// testRecording is the shipped recordings with baseline's replaced by one
// whose figures no real run would give, so the page can only show them by
// reading it. (The other scenarios' texts quote their own recordings.)
func testRecording(t *testing.T) labs.Recordings {
	t.Helper()
	recs, err := shippedRecordings(content.FS)
	require.NoError(t, err)
	sync := labs.Result{Mode: labs.ModeSync, SignupsAttempted: 200, SignupsSucceeded: 200, Latency: labs.Quantiles{P50: 123.4},
		EmailsSent: 200, Settings: labs.Settings{Mode: labs.ModeSync}}
	async := labs.Result{Mode: labs.ModeAsync, SignupsAttempted: 200, SignupsSucceeded: 200, Latency: labs.Quantiles{P50: 4.5},
		EmailsSent: 200, Drained: true, DrainS: 7.25, Settings: labs.Settings{Mode: labs.ModeAsync}}
	recs["baseline"] = &labs.Recording{
		Scenario: "baseline", Title: "Baseline, recorded", Recorded: time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC),
		Redis: "Redis 7.0.15", Go: "go1.26.0", CPUs: 2,
		Runs: []labs.RecordedRun{
			{Label: "Sync run", Command: "crossroads lab run --mode sync --signups 200", Result: sync},
			{Label: "Async run", Command: "crossroads lab run --mode async --signups 200", Result: async},
		},
		Claims: []labs.ClaimCheck{
			{Says: "Async answers faster.", Check: "runs[1].latency_ms.p50 < runs[0].latency_ms.p50", Holds: true, Got: "4.5 < 123.4"},
			{Says: "Sync is slower than a second.", Check: "runs[0].latency_ms.p50 > 1000", Holds: false, Got: "123.4 > 1000"},
		},
	}
	return recs
}

func TestRecordedRunsArePublicPagesWithCommandsAndClaims(t *testing.T) {
	db := redistest.Open(t)
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Logger: quietLog()}})
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	_, base := newTestServer(t, Config{Redis: db.Client, Labs: mgr, Recordings: testRecording(t)})

	res, body := get(t, base+"/labs/results")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `<a href="/labs/results/baseline">Baseline, recorded</a>`)
	assert.Contains(t, body, "✗ 1 of 2", "the index says a claim fails")

	res, body = get(t, base+"/labs/results/baseline")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "<h1>Baseline, recorded</h1>")
	assert.Contains(t, body, `<li id="run-1"><h3>Run 1: Sync run</h3>`)
	assert.Contains(t, body, "<code>crossroads lab run --mode async --signups 200</code>")
	assert.Contains(t, body, "on Redis 7.0.15,\n    go1.26.0, 2 CPUs")
	assert.Contains(t, body, "1 of 2 hold")
	assert.Contains(t, body, "✓ holds</span>\n      Async answers faster.")
	assert.Contains(t, body, "✗ does not hold</span>\n      Sync is slower than a second.")
	assert.Contains(t, body, "<code>123.4 &gt; 1000</code>")
	assert.Contains(t, body, "<td>123.4</td>", "the figures table")
	assert.Contains(t, body, `href="/labs/scenarios/baseline"`, "the scenario can be tried")

	res, body = get(t, base+"/labs/results/baseline.json")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var rec labs.Recording
	require.NoError(t, json.Unmarshal([]byte(body), &rec))
	assert.Equal(t, "crossroads lab run --mode sync --signups 200", rec.Runs[0].Command)

	res, body = get(t, base+"/labs/results/nope")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Contains(t, body, `There is no recorded run of a scenario called &#34;nope&#34;.`)
}

func TestTheShippedRecordingsCoverEveryScenarioAndTheirClaimsHold(t *testing.T) {
	recs, err := shippedRecordings(content.FS)
	require.NoError(t, err)
	db := redistest.Open(t)
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Logger: quietLog()}})
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	lw, err := newLabWeb(content.FS, mgr, recs)
	require.NoError(t, err, "every figure the scenario texts quote was recorded")
	for _, sc := range lw.scenarios {
		rec := recs[sc.ID]
		if !assert.NotNil(t, rec, "scenario %s has no recording: run crossroads lab record --scenario %s", sc.ID, sc.ID) {
			continue
		}
		assert.Zero(t, rec.MaxSignups, "%s: a quick check (--max-signups) is not a recording to quote", sc.ID)
		// Recorded with the scenario as it is now: the same runs, the same claims.
		plan, err := sc.Plan(labs.DefaultSettings())
		require.NoError(t, err)
		var want, got, wantChecks, gotChecks []string
		for _, r := range plan {
			r.Load.DrainTimeout = labs.GuidedDrainTimeout
			want = append(want, labs.CommandLine(*r.Settings, r.Load))
		}
		for _, r := range rec.Runs {
			got = append(got, r.Command)
		}
		for _, c := range sc.Claims {
			wantChecks = append(wantChecks, c.Check)
		}
		for _, c := range rec.Claims {
			gotChecks = append(gotChecks, c.Check)
		}
		assert.Equal(t, want, got, "%s changed since it was recorded: run crossroads lab record --scenario %s", sc.ID, sc.ID)
		assert.Equal(t, wantChecks, gotChecks, "%s's claims changed since it was recorded: run crossroads lab record --scenario %s", sc.ID, sc.ID)
		for _, c := range rec.Claims {
			assert.True(t, c.Holds, "%s: the recorded run contradicts %q (%s)", sc.ID, c.Says, c.Got)
		}
	}
}
