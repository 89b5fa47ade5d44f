package server

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/labs"
)

func TestTheComparisonMarksTheBetterValue(t *testing.T) {
	a := labs.Result{SignupsSucceeded: 200, SignupsAttempted: 200, DeadLettered: 3, Latency: labs.Quantiles{P50: 2}}
	b := labs.Result{SignupsSucceeded: 0, SignupsAttempted: 200, DeadLettered: 3, Latency: labs.Quantiles{P50: 105}}
	rs := []labs.Result{a, b}
	assert.Equal(t, []bool{true, false}, bestOf(rs, "signups_succeeded", higher), "more signups succeeding is better")
	assert.Equal(t, []bool{true, false}, bestOf(rs, "latency_ms.p50", lower), "less waiting is better")
	assert.Equal(t, []bool{false, false}, bestOf(rs, "dead_lettered", lower), "a tie marks nothing")
	assert.Equal(t, []bool{false, false}, bestOf(rs, "signups_attempted", neither), "some figures are neither good nor bad")
	assert.Equal(t, []bool{false}, bestOf(rs[:1], "signups_succeeded", higher), "one run has nothing to beat")
}

func TestARunWithNoEmailHasNoEffectLatency(t *testing.T) {
	sent := labs.Result{EmailsSent: 200, EffectLatency: labs.Quantiles{P50: 2588.7}}
	none := labs.Result{EmailsSent: 0}
	rs := []labs.Result{sent, none}
	assert.Equal(t, "—", shortFigure(none, "effect_latency_ms.p50"), "not 0 ms: nothing took effect")
	assert.Equal(t, "2588.7", shortFigure(sent, "effect_latency_ms.p50"))
	assert.Equal(t, []bool{false, false}, bestOf(rs, "effect_latency_ms.p50", lower),
		"a run that sent nothing is not the faster one, and one measured run has nothing to beat")
	assert.Equal(t, "0", shortFigure(none, "emails_sent"))
	assert.Empty(t, figure(none, "effect_latency_ms.p99"), "the CSV leaves it empty")
}

func TestEveryFigureAScenarioShowsHasAName(t *testing.T) {
	sub, err := fs.Sub(content.FS, "labs")
	require.NoError(t, err)
	scenarios, err := labs.LoadScenarios(sub)
	require.NoError(t, err)
	for _, sc := range scenarios {
		for _, name := range sc.Show {
			assert.NotEqual(t, name, figureLabel(name), "scenario %s shows %s under its raw name", sc.ID, name)
		}
	}
}
