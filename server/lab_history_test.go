package server

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
