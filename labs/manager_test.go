package labs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func newManager(t *testing.T, opt ManagerOptions) (*Manager, struct{}) {
	t.Helper()
	db := redistest.Open(t)
	settings := fastSettings(ModeAsync)
	settings.EmailConsumers, settings.AnalyticsConsumers = 1, 1
	opt.Sandbox.Settings = &settings
	opt.Sandbox.Logger = quietLogger()
	opt.Sandbox.Block = 50 * time.Millisecond
	opt.Scope = testScope()
	m, err := NewManager(db.Client, opt)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m, struct{}{}
}

// testScope keeps one test's owners apart from every other's on a shared
// Redis.
func testScope() string { return "test-" + randomHex(8) + ":" }

func TestManagerGetOrCreateIsPerOwnerAndUnguessable(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{Max: 3})
	ctx := testCtx(t, 10*time.Second)
	a, err := m.Get(ctx, "alice")
	require.NoError(t, err)
	a2, err := m.Get(ctx, "alice")
	require.NoError(t, err)
	assert.Same(t, a, a2, "the same owner gets the same lab")
	b, err := m.Get(ctx, "bob")
	require.NoError(t, err)
	assert.NotEqual(t, a.ID(), b.ID())
	assert.Len(t, a.ID(), len("lab-")+32, "ids carry 128 random bits")
	assert.NotContains(t, a.ID(), "alice")
	assert.Same(t, a, m.Lookup("alice"))
	assert.Nil(t, m.Lookup("carol"))
	assert.Equal(t, 2, m.Len())
}

func TestManagerIsBounded(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{Max: 2})
	ctx := testCtx(t, 10*time.Second)
	for _, o := range []string{"a", "b"} {
		_, err := m.Get(ctx, o)
		require.NoError(t, err)
	}
	_, err := m.Get(ctx, "c")
	require.ErrorIs(t, err, ErrFull)
	require.NoError(t, m.Reset("a"))
	_, err = m.Get(ctx, "c")
	require.NoError(t, err, "a reset frees a place")
}

func TestManagerExpiresIdleLabsAndDeletesTheirKeys(t *testing.T) {
	db := redistest.Open(t)
	settings := fastSettings(ModeAsync)
	m, err := NewManager(db.Client, ManagerOptions{Scope: testScope(),
		IdleTimeout: 150 * time.Millisecond, JanitorEvery: 25 * time.Millisecond,
		Sandbox: Options{Settings: &settings, Logger: quietLogger(), Block: 20 * time.Millisecond},
	})
	require.NoError(t, err)
	defer m.Close()
	ctx := testCtx(t, 20*time.Second)
	l, err := m.Get(ctx, "idle")
	require.NoError(t, err)
	_, err = l.Run(ctx, LoadSpec{Signups: 20, Concurrency: 4, DrainTimeout: 5 * time.Second})
	require.NoError(t, err)
	require.NotEmpty(t, sandboxKeys(t, db.Client, l.ID()))

	require.Eventually(t, func() bool { return m.Len() == 0 }, 5*time.Second, 20*time.Millisecond, "the janitor closes the idle lab")
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("expired lab not closed")
	}
	assert.Empty(t, sandboxKeys(t, db.Client, l.ID()), "an expired lab leaves no keys")
	_, err = l.Snapshot(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	again, err := m.Get(ctx, "idle")
	require.NoError(t, err)
	assert.NotEqual(t, l.ID(), again.ID(), "a new visit gets a new sandbox")
}

func TestManagerKeepsLabsInUse(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{IdleTimeout: time.Hour})
	ctx := testCtx(t, 10*time.Second)
	_, err := m.Get(ctx, "busy")
	require.NoError(t, err)
	assert.Zero(t, m.Sweep())
	assert.Equal(t, 1, m.Len())
}

func TestManagerCloseStopsEverything(t *testing.T) {
	db := redistest.Open(t)
	m, err := NewManager(db.Client, ManagerOptions{Scope: testScope(), Sandbox: Options{Logger: quietLogger(), Block: 20 * time.Millisecond}})
	require.NoError(t, err)
	ctx := testCtx(t, 10*time.Second)
	l, err := m.Get(ctx, "x")
	require.NoError(t, err)
	require.NoError(t, m.Close())
	<-l.Done()
	_, err = m.Get(ctx, "y")
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, m.Close(), "closing twice is fine")
}

func TestLabBackgroundSessionAndReplay(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{})
	ctx := testCtx(t, 30*time.Second)
	l, err := m.Get(ctx, "owner")
	require.NoError(t, err)
	s := m.Base()
	s.MaxDeliveries = 1
	require.NoError(t, l.Start("", []PlannedRun{{Label: "poison", Settings: &s,
		Load: LoadSpec{Signups: 10, Concurrency: 2, DrainTimeout: 5 * time.Second, Poison: 1}}}))
	assert.ErrorIs(t, l.Start("", []PlannedRun{{Load: LoadSpec{Signups: 1, Concurrency: 1}}}), ErrBusy)
	require.Eventually(t, func() bool { return !l.Status().Running }, 20*time.Second, 20*time.Millisecond)
	st := l.Status()
	require.Empty(t, st.Err)
	require.Len(t, st.Results, 1)
	assert.EqualValues(t, 10, st.Results[0].EmailsSent)
	assert.EqualValues(t, 2, st.Results[0].DeadLettered, "the run's poison message, once per group")

	require.Eventually(t, func() bool {
		dl, err := l.DeadLetters(ctx, 10)
		return err == nil && len(dl) == 2 // one per group
	}, 5*time.Second, 20*time.Millisecond)
	dl, err := l.DeadLetters(ctx, 10)
	require.NoError(t, err)
	assert.Contains(t, dl[0].Reason, "not a readable user.signedup event")
	assert.EqualValues(t, 1, dl[0].Deliveries, "a poison message is parked at its first delivery")
	_, err = l.Replay(ctx, dl[0].ID)
	require.NoError(t, err)
	_, err = l.Replay(ctx, dl[0].ID)
	assert.ErrorIs(t, err, ErrNotFound, "replaying twice does nothing the second time")
	assert.Equal(t, 1, l.Replays())

	err = l.Start("", []PlannedRun{{Load: LoadSpec{Signups: 0, Concurrency: 1}}})
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "signups", fe.Field)
}

func TestManagerClosesUnusedLabsSooner(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{IdleTimeout: time.Hour, UnusedTimeout: 100 * time.Millisecond, JanitorEvery: 20 * time.Millisecond})
	ctx := testCtx(t, 10*time.Second)
	_, err := m.Get(ctx, "drive-by")
	require.NoError(t, err)
	_, err = m.Get(ctx, "learner")
	require.NoError(t, err)
	m.Lookup("learner") // used again after creation
	require.Eventually(t, func() bool { return m.Len() == 1 }, 5*time.Second, 20*time.Millisecond)
	assert.Nil(t, m.Lookup("drive-by"), "a lab nobody came back to closes early")
	assert.NotNil(t, m.Lookup("learner"), "a lab in use stays")
}

// A guided scenario that finishes all its runs is reported to the
// manager's OnScenarioDone with its owner and results; a free run is not.
func TestManagerToldWhenAScenarioFinishes(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{})
	type done struct {
		owner, scenario string
		runs            int
	}
	got := make(chan done, 4)
	m.OnScenarioDone(func(owner, scenario string, results []Result) {
		got <- done{owner, scenario, len(results)}
	})
	ctx := testCtx(t, 30*time.Second)
	l, err := m.Get(ctx, "owner")
	require.NoError(t, err)
	require.NoError(t, l.Start("", []PlannedRun{{Load: LoadSpec{Signups: 2, Concurrency: 1}}}))
	require.Eventually(t, func() bool { return !l.Status().Running }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, l.Start("my-scenario", []PlannedRun{{Load: LoadSpec{Signups: 2, Concurrency: 1}}, {Load: LoadSpec{Signups: 3, Concurrency: 1}}}))
	select {
	case d := <-got:
		assert.Equal(t, done{"owner", "my-scenario", 2}, d, "the scenario, not the free run before it")
	case <-time.After(20 * time.Second):
		t.Fatal("not told that the scenario finished")
	}
}

// Closing labs hands their memory back soon: one release a moment after a
// burst, however many labs closed, and none once the manager is closed.
func TestClosedLabsMemoryIsReleasedOnce(t *testing.T) {
	var r releaser
	r.closed()
	r.closed()
	r.mu.Lock()
	first := r.pending
	r.mu.Unlock()
	require.NotNil(t, first, "a release is due")
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pending == nil && !r.last.IsZero()
	}, 5*time.Second, 10*time.Millisecond, "it ran")
	r.closed()
	r.mu.Lock()
	next := r.pending
	r.mu.Unlock()
	require.NotNil(t, next)
	r.stop()
	r.closed()
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Nil(t, r.pending, "none after stop")
}
