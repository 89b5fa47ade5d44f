package labs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A synchronous chain behind the email service: every hop's latency adds to
// the signup's, and every hop's chance of failing multiplies into the
// signup's.
func TestAChainAddsLatenciesAndMultipliesFailures(t *testing.T) {
	s := fastSettings(ModeSync)
	s.ChainDepth = 3
	s.Chain.Latency = 40 * time.Millisecond
	s.Timeout = 2 * time.Second
	sb := newSandbox(t, s)
	ctx := testCtx(t, 60*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 30, Concurrency: 5})
	require.NoError(t, err)
	assert.EqualValues(t, 30, res.SignupsSucceeded)
	assert.GreaterOrEqual(t, res.Latency.P50, 120.0, "three hops of 40 ms wait one after the other")

	_, err = sb.Update(func(s *Settings) { s.Chain.Latency, s.Chain.ErrorRate = 0, 0.1 })
	require.NoError(t, err)
	res, err = sb.Run(ctx, LoadSpec{Signups: 600, Concurrency: 16})
	require.NoError(t, err)
	ok := float64(res.SignupsSucceeded) / float64(res.SignupsAttempted)
	t.Logf("chain of 3 at 90 %% each: %.3f of signups succeeded (0.9³ = 0.729)", ok)
	assert.InDelta(t, 0.729, ok, 0.08, "availability multiplies along the chain")
	assert.EqualValues(t, res.SignupsSucceeded, res.EmailsSent, "an email is sent only when the whole chain answered")
}

// Without lease renewal, work slower than the lease is taken over by a
// second consumer while the first is still doing it: without idempotency,
// that is a duplicate email. (With renewal, see
// TestSlowWorkIsNeverTakenOverWhileItRuns.)
func TestWithoutLeaseRenewalSlowWorkIsDoneTwice(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.NoLeaseRenewal = true
	s.Lease = 200 * time.Millisecond
	s.Timeout = 3 * time.Second
	s.Email.Latency = 700 * time.Millisecond
	s.Idempotency = false
	s.EmailConsumers = 3
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 60*time.Second), LoadSpec{Signups: 6, Concurrency: 3, DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	assert.Positive(t, res.Redeliveries, "messages were taken over while being worked on")
	assert.Positive(t, res.EmailDuplicates, "and their email went out twice")
	assert.Zero(t, res.Retries, "no call failed: only the lease ran out")
}
