package labs

import (
	"encoding/json"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func recordingFile(t *testing.T, rec Recording) *fstest.MapFile {
	t.Helper()
	raw, err := json.Marshal(rec)
	require.NoError(t, err)
	return &fstest.MapFile{Data: raw}
}

func TestRecordedFiguresAreFoundByRunNumberOrMode(t *testing.T) {
	sync := Result{Latency: Quantiles{P50: 812.44}, EmailsSent: 1204, Settings: Settings{Mode: ModeSync}}
	async := Result{Latency: Quantiles{P50: 3.21}, DrainS: 12.34, Settings: Settings{Mode: ModeAsync}}
	fsys := fstest.MapFS{
		"results/slow.json": recordingFile(t, Recording{Scenario: "slow", Redis: "embedded", Runs: []RecordedRun{
			{Label: "Sync", Command: "crossroads lab run --mode sync", Result: sync},
			{Label: "Async", Command: "crossroads lab run --mode async", Result: async},
		}}),
		"results/twice.json": recordingFile(t, Recording{Scenario: "twice", Runs: []RecordedRun{{Result: async}, {Result: async}}}),
	}
	recs, err := LoadRecordings(fsys, "results")
	require.NoError(t, err)
	assert.Equal(t, []string{"slow", "twice"}, recs.IDs())

	f, err := recs.Figure("slow", "sync", "latency_ms.p50")
	require.NoError(t, err)
	assert.Equal(t, "812 ms", f.Text)
	assert.Equal(t, "crossroads lab run --mode sync", f.Command)
	assert.Equal(t, 0, f.Run)

	f, err = recs.Figure("slow", "1", "latency_ms.p50")
	require.NoError(t, err)
	assert.Equal(t, "3.2 ms", f.Text)
	assert.Equal(t, "Async", f.Label)

	for _, bad := range [][3]string{
		{"nope", "0", "lost"},             // no such scenario
		{"slow", "2", "lost"},             // no such run
		{"slow", "-1", "lost"},            // no such run
		{"slow", "hybrid", "lost"},        // no run in that mode
		{"twice", "async", "lost"},        // two runs in that mode
		{"slow", "0", "latency_ms.p42"},   // no such figure
		{"slow", "0", "settings.timeout"}, // not a number a run measured
	} {
		_, err := recs.Figure(bad[0], bad[1], bad[2])
		assert.ErrorIs(t, err, ErrNoFigure, "%v", bad)
	}
}

func TestARecordingMustBeNamedForItsScenario(t *testing.T) {
	fsys := fstest.MapFS{"results/a.json": recordingFile(t, Recording{Scenario: "b"})}
	_, err := LoadRecordings(fsys, "results")
	assert.ErrorContains(t, err, `records scenario "b", not "a"`)

	fsys = fstest.MapFS{"results/a.json": {Data: []byte("{")}}
	_, err = LoadRecordings(fsys, "results")
	assert.ErrorContains(t, err, "results/a.json")

	recs, err := LoadRecordings(fstest.MapFS{}, "results")
	require.NoError(t, err)
	assert.Empty(t, recs)
}

func TestFiguresReadAsProseQuotesThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    float64
		want string
	}{
		{"latency_ms.p50", 812.44, "812 ms"},
		{"latency_ms.p99", 2605.2, "2.6 s"},
		{"effect_latency_ms.p50", 1.94, "1.9 ms"},
		{"effect_latency_ms.p95", 91750.4, "91.8 s"},
		{"throughput_per_s", 262.07, "262.1 per second"},
		{"throughput_per_s", 16, "16 per second"},
		{"drain_s", 120.93, "120.9 s"},
		{"paused_s.email", 0, "0 s"},
		{"emails_sent", 12345, "12,345"},
		{"lost", 0, "0"},
		{"drained", 1, "yes"},
		{"drained", 0, "no"},
	} {
		assert.Equal(t, tc.want, FormatFigure(tc.name, tc.v), tc.name)
	}
}
