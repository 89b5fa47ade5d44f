package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

const group = "email"

// newStore opens a store on the test's Redis (real when REDIS_URL is set)
// with the group created.
func newStore(t *testing.T) *Store {
	t.Helper()
	db := redistest.Open(t)
	s := New(db.Client, redistest.Sandbox(t, db.Client))
	require.NoError(t, s.EnsureGroups(t.Context(), group, "analytics"))
	require.NoError(t, s.EnsureGroups(t.Context(), group), "creating a group twice is fine")
	return s
}

func signup(t *testing.T, s *Store, n int, run string) User {
	t.Helper()
	u := User{ID: fmt.Sprintf("u%d", n), Email: fmt.Sprintf("u%d@example.com", n), Name: "U", Mode: "async",
		EventID: fmt.Sprintf("evt%d", n), Run: run, CreatedAt: time.Now()}
	ev := SignedUp(u, time.Now(), "")
	_, created, err := s.CreateUser(t.Context(), u, "", &ev)
	require.NoError(t, err)
	require.True(t, created)
	return u
}

func pendingCount(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	p, err := s.c.XPendingExt(t.Context(), &redis.XPendingExtArgs{Stream: EventsKey(s.sb), Group: group, Start: id, End: id, Count: 1}).Result()
	require.NoError(t, err)
	require.Len(t, p, 1, "entry %s is pending", id)
	return p[0].RetryCount
}

func claim(t *testing.T, s *Store, a ClaimArgs) []Delivery {
	t.Helper()
	c, err := s.Claim(t.Context(), a)
	require.NoError(t, err)
	return c.Deliveries
}

func TestOutboxWritesUserAndEventTogetherOnce(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	u := User{ID: "u1", Email: "Ada@Example.com", Name: "Ada", Mode: "async", EventID: "e1", Run: "r1"}
	ev := SignedUp(u, time.Now(), "")
	got, created, err := s.CreateUser(ctx, u, "key-1", &ev)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, u.ID, got.ID)

	again, created, err := s.CreateUser(ctx, User{ID: "u2", Email: "other@example.com", Mode: "async", EventID: "e2", Run: "r1"}, "key-1", &ev)
	require.NoError(t, err)
	assert.False(t, created, "a repeated idempotency key returns the first user")
	assert.Equal(t, "u1", again.ID)

	_, _, err = s.CreateUser(ctx, User{ID: "u3", Email: "ada@example.com", Mode: "async", EventID: "e3"}, "", nil)
	assert.ErrorIs(t, err, ErrEmailTaken, "addresses are unique whatever their case")

	n, err := s.c.XLen(ctx, EventsKey(s.sb)).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "one event for one user")
	members, err := s.c.SMembers(ctx, RunPublishedKey(s.sb, "r1")).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"e1"}, members)
	ttl, err := s.c.TTL(ctx, RunUsersKey(s.sb, "r1")).Result()
	require.NoError(t, err)
	assert.Positive(t, ttl, "a run's keys expire")
}

func TestRetryBackoffAndBudget(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	signup(t, s, 1, "r")
	got, err := s.Read(ctx, group, "c1", 10, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	d := got[0]
	assert.Equal(t, KindNew, d.Kind)
	assert.EqualValues(t, 1, d.Deliveries)

	// A failed attempt waits out its backoff: nobody may take it before.
	failed := time.Now()
	require.NoError(t, s.Retry(ctx, group, "c1", d, time.Now().Add(time.Hour), failed))
	claimed := claim(t, s, ClaimArgs{Group: group, Consumer: "c2", Lease: time.Millisecond, Count: 10, MaxDeliveries: 3, Abandoned: true})
	assert.Empty(t, claimed, "an entry waiting out its backoff is neither due nor abandoned")

	// A probe takes it whatever its backoff, and its count goes up by one.
	claimed = claim(t, s, ClaimArgs{Group: group, Consumer: "c2", Lease: time.Hour, Count: 1, MaxDeliveries: 3, Probe: true})
	require.Len(t, claimed, 1)
	assert.Equal(t, KindDue, claimed[0].Kind)
	assert.EqualValues(t, 2, claimed[0].Deliveries)
	assert.Equal(t, failed.UnixMilli(), claimed[0].FirstFailure.UnixMilli(), "the first failure is remembered")
	ev, err := Decode(claimed[0].Values)
	require.NoError(t, err)
	assert.Equal(t, "evt1", ev.ID)

	// Handed back untried (a paused group's probe), the delivery is given back.
	require.NoError(t, s.Retry(ctx, group, "c2", claimed[0], time.Now(), time.Time{}))
	assert.EqualValues(t, 1, pendingCount(t, s, d.ID))
	claimed = claim(t, s, ClaimArgs{Group: group, Consumer: "c3", Lease: time.Hour, Count: 1, MaxDeliveries: 3})
	require.Len(t, claimed, 1)
	assert.EqualValues(t, 2, claimed[0].Deliveries)

	// Two more failures spend the budget of three: the next claim says "over".
	require.NoError(t, s.Retry(ctx, group, "c3", claimed[0], time.Now(), time.Now()))
	claimed = claim(t, s, ClaimArgs{Group: group, Consumer: "c3", Lease: time.Hour, Count: 1, MaxDeliveries: 3})
	require.Len(t, claimed, 1)
	assert.EqualValues(t, 3, claimed[0].Deliveries)
	require.NoError(t, s.Retry(ctx, group, "c3", claimed[0], time.Now(), time.Now()))
	claimed = claim(t, s, ClaimArgs{Group: group, Consumer: "c3", Lease: time.Hour, Count: 1, MaxDeliveries: 3})
	require.Len(t, claimed, 1)
	assert.True(t, claimed[0].Over)
	assert.Equal(t, KindDue, claimed[0].Kind)
	assert.EqualValues(t, 3, claimed[0].Deliveries, "an entry never passes its budget")
	assert.EqualValues(t, 3, pendingCount(t, s, d.ID))

	require.NoError(t, s.DeadLetter(ctx, group, "c3", claimed[0], "evt1", Verdict{Code: CodeGaveUp, Reason: "gave up"}))
	dead, _, err := s.DeadLetters(ctx, DeadQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, "r", dead[0].Run, "the dead letter keeps its run")
	assert.Equal(t, "u1", dead[0].UserID, "and says whose signup it was")
	assert.Equal(t, CodeGaveUp, dead[0].Code)
	assert.Equal(t, "c3", dead[0].Consumer)
	assert.EqualValues(t, 3, dead[0].Deliveries)
	for _, key := range []string{DueKey(s.sb, group), FailingKey(s.sb, group)} {
		n, err := s.c.Exists(ctx, key).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "%s is cleaned up", key)
	}
}

func TestCrashedAndAbandonedEntriesAreTakenOverFairly(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		signup(t, s, i, "")
	}
	got, err := s.Read(ctx, group, "dead-consumer", 10, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	// The consumer began calling the service with the first entry, then died.
	require.NoError(t, s.Begin(ctx, group, "dead-consumer", got[0].ID, nil))

	var claimed []Delivery
	require.Eventually(t, func() bool {
		claimed = claim(t, s, ClaimArgs{Group: group, Consumer: "heir", Lease: 50 * time.Millisecond, Count: 10, MaxDeliveries: 5, Abandoned: true})
		return len(claimed) == 3
	}, 5*time.Second, 20*time.Millisecond)
	byID := map[string]Delivery{}
	for _, d := range claimed {
		byID[d.ID] = d
	}
	assert.Equal(t, KindCrashed, byID[got[0].ID].Kind)
	assert.EqualValues(t, 2, byID[got[0].ID].Deliveries, "a crash on the entry spends a delivery")
	assert.EqualValues(t, 1, byID[got[0].ID].Crashes)
	for _, d := range got[1:] {
		assert.Equal(t, KindAbandoned, byID[d.ID].Kind)
		assert.EqualValues(t, 1, byID[d.ID].Deliveries, "an entry its consumer never tried costs nothing")
	}
}

func TestRenewKeepsSlowWorkFromBeingTakenOver(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	signup(t, s, 1, "")
	got, err := s.Read(ctx, group, "slow", 1, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		lost, err := s.Renew(ctx, group, "slow", []string{got[0].ID})
		require.NoError(t, err)
		require.Empty(t, lost)
		claimed := claim(t, s, ClaimArgs{Group: group, Consumer: "thief", Lease: 150 * time.Millisecond, Count: 1, Abandoned: true})
		require.Empty(t, claimed, "a renewed lease is never abandoned")
		time.Sleep(30 * time.Millisecond)
	}
	assert.EqualValues(t, 1, pendingCount(t, s, got[0].ID), "renewing does not spend deliveries")
	require.NoError(t, s.Ack(ctx, group, Finished{got[0].ID, "evt1"}))
	lost, err := s.Renew(ctx, group, "slow", []string{got[0].ID})
	require.NoError(t, err)
	assert.Equal(t, []string{got[0].ID}, lost, "an acked entry is no longer ours")
}

func TestAbandonedScanGoesOnPastWaitingRetries(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 60 {
		signup(t, s, i, "")
	}
	got, err := s.Read(ctx, group, "c1", 60, 0)
	require.NoError(t, err)
	require.Len(t, got, 60)
	for _, d := range got[:59] { // all but the newest wait a long backoff
		require.NoError(t, s.Retry(ctx, group, "c1", d, time.Now().Add(time.Hour), time.Now()))
	}
	time.Sleep(20 * time.Millisecond)
	cursor := ""
	var found []Delivery
	for range 5 {
		c, err := s.Claim(ctx, ClaimArgs{Group: group, Consumer: "c2", Lease: 10 * time.Millisecond, Count: 1, Cursor: cursor, Abandoned: true})
		require.NoError(t, err)
		found = append(found, c.Deliveries...)
		cursor = c.Cursor
		if len(found) > 0 {
			break
		}
	}
	require.Len(t, found, 1, "the scan pages past the waiting entries")
	assert.Equal(t, got[59].ID, found[0].ID)
}

func TestResumeMakesEveryWaitingRetryDue(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		signup(t, s, i, "")
	}
	got, err := s.Read(ctx, group, "c1", 3, 0)
	require.NoError(t, err)
	for _, d := range got {
		require.NoError(t, s.Retry(ctx, group, "c1", d, time.Now().Add(time.Hour), time.Now()))
	}
	require.NoError(t, s.Resume(ctx, group))
	claimed := claim(t, s, ClaimArgs{Group: group, Consumer: "c1", Lease: time.Hour, Count: 10})
	assert.Len(t, claimed, 3)
}

func TestReplayIsForItsGroupOnly(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	_, err := s.AddPoison(ctx, "r")
	require.NoError(t, err)
	got, err := s.Read(ctx, group, "c1", 1, 0)
	require.NoError(t, err)
	_, err = Decode(got[0].Values)
	require.ErrorIs(t, err, ErrPoison)
	require.NoError(t, s.DeadLetter(ctx, group, "c1", got[0], "", Verdict{Code: CodePoison, Reason: err.Error()}))
	dead, _, err := s.DeadLetters(ctx, DeadQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	counts, err := s.DeadCounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{group + ":" + CodePoison: 1}, counts)
	replayed, err := s.Replay(ctx, dead[0].ID)
	require.NoError(t, err)
	assert.Equal(t, group, replayed.Group)
	_, err = s.Replay(ctx, dead[0].ID)
	assert.ErrorIs(t, err, ErrNotFound)
	counts, err = s.DeadCounts(ctx)
	require.NoError(t, err)
	assert.Empty(t, counts, "a replayed letter is no longer counted")
	entries, err := s.c.XRange(ctx, EventsKey(s.sb), "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, group, entries[1].Values["only"])
	assert.Equal(t, "r", entries[1].Values["run"])
}

func TestAuditCountsOneRunOnly(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	old := signup(t, s, 0, "old")
	require.NoError(t, s.MarkFailed(ctx, "old", old.ID))
	for i := 1; i <= 4; i++ {
		signup(t, s, i, "new")
	}
	// A naive write: user stored, publish never happened, signup failed.
	lost := User{ID: "u9", Email: "u9@example.com", Mode: "async", EventID: "evt9", Run: "new"}
	_, _, err := s.CreateUser(ctx, lost, "", nil)
	require.NoError(t, err)
	require.NoError(t, s.MarkFailed(ctx, "new", lost.ID))
	// Effects: u1 emailed twice without a key, u2 once with its key; u9 got
	// an email although its signup failed.
	for _, e := range []struct{ user, key string }{{"u1", ""}, {"u1", ""}, {"u2", "evt2"}, {"u2", "evt2"}, {"u9", "evt9"}, {"u0", "evt0"}} {
		_, err := s.ApplyEffect(ctx, "email", e.user, e.key)
		require.NoError(t, err)
	}
	// Groups: email finished u1, u2; dead-lettered u3; u4 still open.
	got, err := s.Read(ctx, group, "c", 10, 0)
	require.NoError(t, err)
	byEvent := map[string]Delivery{}
	for _, d := range got {
		ev, err := Decode(d.Values)
		require.NoError(t, err)
		byEvent[ev.ID] = d
	}
	require.NoError(t, s.Ack(ctx, group, Finished{byEvent["evt1"].ID, "evt1"}))
	require.NoError(t, s.Ack(ctx, group, Finished{byEvent["evt2"].ID, "evt2"}))
	require.NoError(t, s.DeadLetter(ctx, group, "c", byEvent["evt3"], "evt3", Verdict{Code: CodeGaveUp, Reason: "gave up"}))
	poison, err := s.AddPoison(ctx, "new")
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(ctx, "analytics", "c", Delivery{ID: poison, Values: map[string]any{"payload": "x", "run": "new"}}, "", Verdict{Code: CodePoison, Reason: "poison"}))

	a, err := s.AuditRun(ctx, "new", []string{group}, []string{"email"})
	require.NoError(t, err)
	assert.EqualValues(t, 5, a.Users)
	assert.EqualValues(t, 1, a.Orphaned)
	assert.EqualValues(t, 1, a.Lost)
	assert.EqualValues(t, 1, a.InFlight, "u4 is still open for email")
	assert.EqualValues(t, 1, a.DeadLettered, "the email group's poison entry was not dead-lettered here; analytics is not audited")
	assert.EqualValues(t, 1, a.Poison)
	assert.Equal(t, Effects{Users: 3, Duplicates: 1, ForFailed: 1}, a.Effects["email"])

	a, err = s.AuditRun(ctx, "new", []string{group, "analytics"}, []string{"email"})
	require.NoError(t, err)
	assert.EqualValues(t, 2, a.DeadLettered, "u3 for email and the poison entry for analytics")
	assert.EqualValues(t, 4, a.InFlight, "analytics finished none of the published events")

}

// Lag is Redis 7's own figure where it reports one, and otherwise counted
// from whichever side of the last-delivered id is shorter; both ways must
// give the exact number.
func TestLagCountFromEitherSide(t *testing.T) {
	db := redistest.Open(t)
	s := New(db.Client, redistest.Sandbox(t, db.Client))
	ctx := t.Context()
	require.NoError(t, s.EnsureGroups(ctx, "email", "analytics"))
	_, err := db.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range 1200 {
			p.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(s.sb), Values: []string{"payload", "{}"}})
		}
		return nil
	})
	require.NoError(t, err)
	read := func(group string, n int) {
		for n > 0 {
			got, err := s.Read(ctx, group, "probe", min(n, 500), 0)
			require.NoError(t, err)
			n -= len(got)
		}
	}
	read("email", 100)       // 1,100 after, 100 up to: the short side is behind it
	read("analytics", 1_100) // 100 after: the short side is ahead
	state, err := s.ReadState(ctx, []string{"email", "analytics"})
	require.NoError(t, err)
	require.NoError(t, s.CountLag(ctx, &state, 100_000))
	require.Len(t, state.Groups, 2)
	for _, g := range state.Groups {
		want := map[string]int64{"email": 1_100, "analytics": 100}[g.Name]
		assert.Equal(t, want, g.Lag, g.Name)
		assert.Equal(t, int64(map[string]int{"email": 100, "analytics": 1_100}[g.Name]), g.Pending, g.Name)
		// Redis 7's own figure is taken as it is; the embedded server's
		// is not (it reports the whole stream), so there it was counted.
		assert.Equal(t, !db.Embedded, g.LagFromRedis(), g.Name)
		counted, err := s.countAfter(ctx, g.LastDeliveredID, state.Length, 100_000)
		require.NoError(t, err)
		assert.Equal(t, want, counted, "the count agrees for %s", g.Name)
	}
}

func TestARestartedConsumerTakesBackItsOwnEntriesAtOnce(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		signup(t, s, i, "")
	}
	got, err := s.Read(ctx, group, "c1", 2, 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	other, err := s.Read(ctx, group, "c2", 1, 0)
	require.NoError(t, err)
	require.Len(t, other, 1)
	require.NoError(t, s.Begin(ctx, group, "c1", got[0].ID, nil))
	// A retry of c2's that is due: the recovering consumer leaves it to the
	// regular claims, and never hands out an entry twice.
	require.NoError(t, s.Retry(ctx, group, "c2", other[0], time.Now().Add(-time.Second), time.Now()))
	claimed := claim(t, s, ClaimArgs{Group: group, Consumer: "c1", Lease: time.Hour, Count: 10, MaxDeliveries: 5, Own: true})
	require.Len(t, claimed, 2, "its own two, not c2's, and without waiting for the lease")
	assert.Equal(t, KindCrashed, claimed[0].Kind)
	assert.EqualValues(t, 2, claimed[0].Deliveries)
	assert.Equal(t, KindAbandoned, claimed[1].Kind)
	assert.EqualValues(t, 1, claimed[1].Deliveries)
	again := claim(t, s, ClaimArgs{Group: group, Consumer: "c1", Lease: time.Hour, Count: 10, MaxDeliveries: 5})
	require.Len(t, again, 1, "the due retry, once")
	assert.Equal(t, other[0].ID, again[0].ID)
}

func TestDeadLettersPageByKindNewestFirst(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 12 {
		id, err := s.AddPoison(ctx, "")
		require.NoError(t, err)
		code := CodeGaveUp
		if i%3 == 0 {
			code = CodePoison
		}
		require.NoError(t, s.DeadLetter(ctx, group, "c", Delivery{ID: id, Values: map[string]any{"payload": "x"}}, "", Verdict{Code: code, Reason: code}))
	}
	page, next, err := s.DeadLetters(ctx, DeadQuery{Limit: 5})
	require.NoError(t, err)
	require.Len(t, page, 5)
	require.NotEmpty(t, next)
	rest, next, err := s.DeadLetters(ctx, DeadQuery{Limit: 10, Before: next})
	require.NoError(t, err)
	assert.Len(t, rest, 7)
	assert.Empty(t, next, "the last page says so")
	assert.Equal(t, 1, CompareIDs(page[4].ID, rest[0].ID), "pages go on, newest first")
	poison, _, err := s.DeadLetters(ctx, DeadQuery{Limit: 10, Code: CodePoison})
	require.NoError(t, err)
	assert.Len(t, poison, 4)
	counts, err := s.DeadCounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{group + ":" + CodePoison: 4, group + ":" + CodeGaveUp: 8}, counts)
}

func TestASignupsRecordSaysWhatEachGroupDidWithIt(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 3 {
		signup(t, s, i, "")
	}
	got, err := s.Read(ctx, group, "c", 2, 0) // u0 and u1; u2 stays undelivered
	require.NoError(t, err)
	require.NoError(t, s.Ack(ctx, group, Finished{got[0].ID, "evt0"}))
	_, err = s.ApplyEffect(ctx, "email", "u0", "evt0")
	require.NoError(t, err)
	require.NoError(t, s.Retry(ctx, group, "c", got[1], time.Now().Add(time.Minute), time.Now()))

	states := func(id string) (SignupRecord, map[string]string) {
		r, err := s.Record(ctx, id, []string{group, "analytics"}, []string{"email"})
		require.NoError(t, err)
		m := map[string]string{}
		for _, g := range r.Groups {
			m[g.Group] = g.State
		}
		return r, m
	}
	r, m := states("u0")
	assert.Equal(t, map[string]string{group: EventDone, "analytics": EventNotDelivered}, m)
	assert.EqualValues(t, 1, r.Effects["email"])
	assert.NotEmpty(t, r.EntryID)
	r, m = states("u1")
	assert.Equal(t, EventRetrying, m[group])
	assert.EqualValues(t, 1, r.Groups[0].Deliveries)
	assert.False(t, r.Groups[0].Due.IsZero())
	_, m = states("u2")
	assert.Equal(t, EventNotDelivered, m[group])

	claimed := claim(t, s, ClaimArgs{Group: group, Consumer: "c", Lease: time.Hour, Count: 1, Probe: true})
	require.Len(t, claimed, 1)
	require.NoError(t, s.DeadLetter(ctx, group, "c", claimed[0], "evt1", Verdict{Code: CodeGaveUp, Reason: "gave up after 2 tries"}))
	r, m = states("u1")
	assert.Equal(t, EventDead, m[group])
	require.NotNil(t, r.Groups[0].Dead)
	assert.Equal(t, "gave up after 2 tries", r.Groups[0].Dead.Reason)
	_, err = s.Record(ctx, "nobody", []string{group}, nil)
	assert.ErrorIs(t, err, ErrNotFound)
}

// Letters parked while a replay runs do not make it fail.
func TestReplayIsNotDisturbedByNewDeadLetters(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for range 20 {
		id, err := s.AddPoison(ctx, "")
		require.NoError(t, err)
		require.NoError(t, s.DeadLetter(ctx, group, "c", Delivery{ID: id, Values: map[string]any{"payload": "x"}}, "", Verdict{Code: CodePoison, Reason: "poison"}))
	}
	dead, _, err := s.DeadLetters(ctx, DeadQuery{Limit: 20})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { // another consumer keeps parking letters
		defer close(done)
		for range 50 {
			id, _ := s.AddPoison(ctx, "")
			s.DeadLetter(ctx, group, "other", Delivery{ID: id, Values: map[string]any{"payload": "y"}}, "", Verdict{Code: CodePoison, Reason: "poison"})
		}
	}()
	for _, d := range dead {
		_, err := s.Replay(ctx, d.ID)
		require.NoError(t, err, "replaying %s while letters arrive", d.ID)
	}
	<-done
}
