package labs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// instances are two app processes' managers on one Redis, with one scope.
func instances(t *testing.T, db *redisdb.DB, opt ManagerOptions) (*Manager, *Manager) {
	t.Helper()
	settings := fastSettings(ModeAsync)
	settings.EmailConsumers, settings.AnalyticsConsumers = 1, 1
	opt.Scope = testScope()
	opt.Sandbox.Settings = &settings
	opt.Sandbox.Logger = quietLogger()
	opt.Sandbox.Block = 20 * time.Millisecond
	var ms [2]*Manager
	for i := range ms {
		m, err := NewManager(db.Client, opt)
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		ms[i] = m
	}
	return ms[0], ms[1]
}

// A lab runs in one instance at a time; another instance is told where,
// and takes the lab up — same sandbox, settings, runs and answers — once
// the first is gone.
func TestALabMovesToAnotherInstanceWhenItsOwnStops(t *testing.T) {
	db := redistest.Open(t)
	a, b := instances(t, db, ManagerOptions{KeepOnClose: true, Advertise: "http://a.example:8080"})
	ctx := testCtx(t, time.Minute)
	la, err := a.Open(ctx, "learner", "192.0.2.1")
	require.NoError(t, err)
	_, err = la.Update(func(s *Settings) { s.Email.Latency = 7 * time.Millisecond })
	require.NoError(t, err)
	res, err := la.Run(ctx, LoadSpec{Signups: 30, Concurrency: 4, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	require.EqualValues(t, 30, res.EmailsSent)
	la.Predict("email-down", 2)
	la.RevealHint("email-down", 3)

	// The lease is renewed every few seconds, so it is held while a lives.
	_, err = b.Open(ctx, "learner", "192.0.2.1")
	e, ok := IsElsewhere(err)
	require.True(t, ok, "b is told the lab runs elsewhere: %v", err)
	assert.Equal(t, a.instance, e.Instance)
	assert.Equal(t, "http://a.example:8080", e.Addr, "a's address, to pass requests on to")
	assert.Positive(t, e.RetryAfter)
	assert.LessOrEqual(t, e.RetryAfter, leaseTTL)

	require.NoError(t, a.Close())
	assert.NotEmpty(t, sandboxKeys(t, db.Client, la.ID()), "a hand-over keeps the lab's keys")
	lb, err := b.Open(ctx, "learner", "192.0.2.1")
	require.NoError(t, err)
	assert.Equal(t, la.ID(), lb.ID(), "the same sandbox")
	assert.Equal(t, 7*time.Millisecond, lb.Settings().Email.Latency, "with its settings")
	require.Len(t, lb.History(), 1, "and its runs")
	assert.EqualValues(t, 30, lb.History()[0].EmailsSent)
	st := lb.Scenario("email-down")
	assert.Equal(t, 2, st.Prediction, "and the learner's answers")
	assert.Equal(t, 1, st.Hints)
	res, err = lb.Run(ctx, LoadSpec{Signups: 20, Concurrency: 4, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 20, res.EmailsSent)
	assert.Zero(t, res.EmailDuplicates)
	tot, err := lb.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 50, tot.Users, "one sandbox holds both instances' signups")
	assert.Zero(t, tot.Unfinished)

	// A reset deletes the lab for good: the next visit starts afresh.
	require.NoError(t, b.Reset("learner"))
	assert.Empty(t, sandboxKeys(t, db.Client, la.ID()))
	fresh, err := b.Open(ctx, "learner", "")
	require.NoError(t, err)
	assert.NotEqual(t, la.ID(), fresh.ID())
}

// An instance that stalled past its lease, while another took the lab,
// lets go of it at its next renewal and leaves the keys to the new keeper.
func TestAnInstanceLetsGoOfALabAnotherTookOver(t *testing.T) {
	db := redistest.Open(t)
	a, b := instances(t, db, ManagerOptions{})
	ctx := testCtx(t, time.Minute)
	la, err := a.Open(ctx, "learner", "")
	require.NoError(t, err)
	_, err = la.Run(ctx, LoadSpec{Signups: 10, Concurrency: 2, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	// As if a stalled past leaseTTL and b took the lease meanwhile.
	require.NoError(t, db.Client.Set(ctx, stream.LeaseKey(la.ID()), b.instance, leaseTTL).Err())
	lb, err := b.Open(ctx, "learner", "")
	require.NoError(t, err)
	require.Equal(t, la.ID(), lb.ID())
	select {
	case <-la.Done():
	case <-time.After(2 * leaseEvery):
		t.Fatal("a kept running a lab b had taken over")
	}
	assert.Nil(t, a.Lookup("learner"))
	assert.NotEmpty(t, sandboxKeys(t, db.Client, la.ID()), "letting go deletes nothing")
	res, err := lb.Run(ctx, LoadSpec{Signups: 10, Concurrency: 2, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 10, res.EmailsSent)
	assert.Len(t, lb.History(), 2)
}

// A lab whose instance stopped with work left is taken up by another
// instance without anyone asking for it, so its backlog is delivered; a lab
// with nothing left, or one of another scope, is left where it is.
func TestAnInstanceTakesUpALabWithWorkLeftThatNobodyAsksFor(t *testing.T) {
	db := redistest.Open(t)
	a, b := instances(t, db, ManagerOptions{KeepOnClose: true})
	ctx := testCtx(t, time.Minute)

	busy, err := a.Open(ctx, "left-work", "")
	require.NoError(t, err)
	_, err = busy.Update(func(s *Settings) { s.EmailConsumers = 0 }) // the emails wait on the stream
	require.NoError(t, err)
	res, err := busy.Run(ctx, LoadSpec{Signups: 20, Concurrency: 4, DrainTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.Zero(t, res.EmailsSent)
	done, err := a.Open(ctx, "all-done", "")
	require.NoError(t, err)
	_, err = done.Run(ctx, LoadSpec{Signups: 5, Concurrency: 1, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	other, _ := instances(t, db, ManagerOptions{KeepOnClose: true}) // another scope
	elsewhere, err := other.Open(ctx, "left-work", "")
	require.NoError(t, err)
	_, err = elsewhere.Update(func(s *Settings) { s.EmailConsumers = 0 })
	require.NoError(t, err)
	_, err = elsewhere.Run(ctx, LoadSpec{Signups: 3, Concurrency: 1, DrainTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, other.Close())

	b.adopt()
	lb := b.Lookup("left-work")
	require.NotNil(t, lb, "the lab with emails still to send was taken up")
	assert.Equal(t, busy.ID(), lb.ID())
	assert.Nil(t, b.Lookup("all-done"), "a lab with nothing left waits for its learner")
	assert.Equal(t, 1, b.Len(), "and another scope's lab is not this manager's")
	held, err := db.Client.Get(ctx, stream.LeaseKey(lb.ID())).Result()
	require.NoError(t, err)
	assert.Equal(t, b.instance, held)

	_, err = lb.Update(func(s *Settings) { s.EmailConsumers = 1 })
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		tot, err := lb.Totals(ctx)
		return err == nil && tot.Unfinished == 0 && tot.EmailsSent == 20
	}, 20*time.Second, 100*time.Millisecond, "the backlog is delivered")
	tot, err := lb.Totals(ctx)
	require.NoError(t, err)
	assert.Zero(t, tot.EmailDuplicates)

	b.adopt()
	assert.Equal(t, 1, b.Len(), "taking up again changes nothing")
}
