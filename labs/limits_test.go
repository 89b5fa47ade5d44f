package labs

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// Tests of the bounds a shared server puts on the labs (issue 12): one Redis
// pool for every sandbox, the room's budget of signups in flight, the
// per-address cap, keys with a lifetime, the storage budget and a shutdown
// that a hung Redis cannot hold.

// openPool opens the test's Redis (real when REDIS_URL is set) with a pool
// of size connections.
func openPool(t *testing.T, size int) *redisdb.DB {
	t.Helper()
	db, err := redisdb.Open(context.Background(), os.Getenv("REDIS_URL"), redisdb.Options{PoolSize: size})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// poolBound is the most connections a pool of size may hold: on a
// cluster the bound is per node.
func poolBound(t *testing.T, db *redisdb.DB, size int) int64 {
	t.Helper()
	cc, ok := db.Client.(*redis.ClusterClient)
	if !ok {
		return int64(size)
	}
	var nodes atomic.Int64
	require.NoError(t, cc.ForEachMaster(context.Background(), func(context.Context, *redis.Client) error {
		nodes.Add(1)
		return nil
	}))
	return int64(size) * nodes.Load()
}

// watchPool records the most connections the client's pool held at once.
func watchPool(t *testing.T, c redis.UniversalClient) *atomic.Int64 {
	var most atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			raise(&most, int64(c.PoolStats().TotalConns))
			sleep(ctx, nil, time.Millisecond)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &most
}

func TestEverySandboxSharesTheProcesssOneBoundedPool(t *testing.T) {
	const pool = 8
	db := openPool(t, pool)
	bound := poolBound(t, db, pool)
	most := watchPool(t, db.Client)
	settings := fastSettings(ModeAsync)
	settings.EmailConsumers, settings.AnalyticsConsumers = 2, 2 // the default
	var sbs []*Sandbox
	for range 12 {
		sb := openSandbox(t, db, testOptions(settings))
		require.Same(t, db.Client, sb.rc, "a sandbox dials no pool of its own")
		sbs = append(sbs, sb)
	}
	// Idle sandboxes hold no connection: their consumers never block in Redis.
	time.Sleep(300 * time.Millisecond)
	require.LessOrEqual(t, most.Load(), bound)

	ctx := testCtx(t, 3*time.Minute)
	results := make([]Result, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = sbs[i].Run(ctx, LoadSpec{Signups: 150, Concurrency: 16, DrainTimeout: time.Minute})
		})
	}
	wg.Wait()
	for i, res := range results {
		require.NoError(t, errs[i])
		assert.True(t, res.Drained, "run %d drained", i)
		assert.EqualValues(t, 150, res.EmailsSent, "run %d: every user got the email through a pool of %d", i, pool)
		assert.Zero(t, res.EmailDuplicates)
		assert.Zero(t, res.Lost)
	}
	assert.LessOrEqual(t, most.Load(), bound, "12 sandboxes and 3 loads of 16 stay within the one pool")
	assert.Positive(t, most.Load())
	t.Logf("most connections at once: %d (pool %d, 12 sandboxes, 3 loads at concurrency 16)", most.Load(), pool)
	// The burst's connections do not linger: beyond MaxIdleConns (a
	// quarter of the pool, at least 2) they are closed as they come back.
	assert.LessOrEqual(t, int64(db.Client.PoolStats().IdleConns), 2*bound/pool)
}

func TestAnIdleConsumerPicksUpASignupAtOnce(t *testing.T) {
	// Consumers sleep when the stream is empty, but a signup of this
	// process wakes one: the effect latency holds no idle sleep.
	settings := fastSettings(ModeAsync)
	settings.EmailConsumers, settings.AnalyticsConsumers = 1, 1
	opt := testOptions(settings)
	opt.Block = 2 * time.Second // a sleep this long would show in the figures
	sb := openSandbox(t, redistest.Open(t), opt)
	time.Sleep(500 * time.Millisecond) // let the consumers reach a long sleep
	ctx := testCtx(t, 30*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 5, Concurrency: 1, Rate: 2, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	require.EqualValues(t, 5, res.EmailsSent)
	assert.Less(t, res.EffectLatency.Max, 300.0, "no signup waited out an idle consumer's sleep: %+v", res.EffectLatency)
}

func TestTheRoomBoundsSignupsInFlightAcrossLabs(t *testing.T) {
	const budget = 10
	room := NewRoom(budget)
	db := redistest.Open(t)
	settings := fastSettings(ModeSync)
	settings.Email.Latency = 80 * time.Millisecond
	settings.Timeout = 2 * time.Second
	var sbs []*Sandbox
	for range 3 {
		opt := testOptions(settings)
		opt.Room = room
		sbs = append(sbs, openSandbox(t, db, opt))
	}
	// Every signup in flight calls the email service in sync mode: their sum
	// is the signups in flight across the room.
	var most atomic.Int64
	watch, stop := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for watch.Err() == nil {
			var n int64
			for _, sb := range sbs {
				n += sb.email.InFlight()
			}
			raise(&most, n)
			sleep(watch, nil, time.Millisecond)
		}
	})
	ctx := testCtx(t, time.Minute)
	results := make([]Result, len(sbs))
	errs := make([]error, len(sbs))
	var wg sync.WaitGroup
	for i, sb := range sbs {
		wg.Go(func() {
			results[i], errs[i] = sb.Run(ctx, LoadSpec{Signups: 40, Concurrency: 8, DrainTimeout: 10 * time.Second})
		})
	}
	wg.Wait()
	stop()
	watcher.Wait()
	waited := 0
	for i, res := range results {
		require.NoError(t, errs[i])
		assert.EqualValues(t, 40, res.SignupsSucceeded)
		if res.RoomWaitS > 0 {
			waited++
		}
	}
	t.Logf("most signups in flight: %d (room %d, three loads of 8)", most.Load(), budget)
	assert.LessOrEqual(t, most.Load(), int64(budget), "three loads of 8 never have more than the room's 10 in flight")
	assert.GreaterOrEqual(t, most.Load(), int64(8), "a load runs at its full concurrency")
	assert.GreaterOrEqual(t, waited, 2, "two of the loads waited for the room, and say so")
	assert.Zero(t, room.InUse(), "every slot came back")

	// A run that can never fit is refused naming the field; one that does
	// not fit now waits up to RoomWait, then is refused as busy.
	_, err := sbs[0].Run(ctx, LoadSpec{Signups: 1, Concurrency: budget + 1})
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "concurrency", fe.Field)
	hog, err := room.tryTake(budget)
	require.NoError(t, err)
	sbs[1].opt.RoomWait = 100 * time.Millisecond
	_, err = sbs[1].Run(ctx, LoadSpec{Signups: 1, Concurrency: 1})
	require.ErrorIs(t, err, ErrRoomBusy)
	assert.Contains(t, err.Error(), "the room is busy")
	hog.release()
	assert.Zero(t, room.InUse())
}

func TestTheRoomServesWaitersInTurnAndForgetsThoseWhoLeave(t *testing.T) {
	room := NewRoom(4)
	a, err := room.tryTake(3)
	require.NoError(t, err)
	_, err = room.tryTake(2)
	require.ErrorIs(t, err, ErrRoomBusy)
	var busy *RoomBusyError
	require.ErrorAs(t, err, &busy)
	assert.Equal(t, RoomBusyError{Need: 2, InUse: 3, Size: 4}, *busy)

	// A waiter that gives up leaves the queue and takes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = room.take(ctx, 2)
	require.ErrorIs(t, err, ErrRoomBusy)
	require.ErrorAs(t, err, &busy)
	assert.Positive(t, busy.Waited)

	got := make(chan *roomSlots)
	go func() {
		s, err := room.take(context.Background(), 4)
		assert.NoError(t, err)
		got <- s
	}()
	require.Eventually(t, func() bool {
		room.mu.Lock()
		defer room.mu.Unlock()
		return len(room.queue) == 1
	}, time.Second, time.Millisecond)
	_, err = room.tryTake(1)
	require.ErrorIs(t, err, ErrRoomBusy, "a free slot is not taken past a waiter")
	a.release()
	a.release() // once only
	s := <-got
	assert.Equal(t, 4, room.InUse())
	assert.Positive(t, s.wait())
	s.release()
	assert.Zero(t, room.InUse())
}

func TestLabStartSaysAtOnceThatTheRoomIsBusy(t *testing.T) {
	room := NewRoom(4)
	m, _ := newManager(t, ManagerOptions{Sandbox: Options{Room: room}})
	ctx := testCtx(t, 20*time.Second)
	l, err := m.Get(ctx, "learner")
	require.NoError(t, err)
	hog, err := room.tryTake(2)
	require.NoError(t, err)
	err = l.Start("", []PlannedRun{{Label: "mine", Load: LoadSpec{Signups: 5, Concurrency: 3}}})
	require.ErrorIs(t, err, ErrRoomBusy)
	assert.False(t, l.Status().Running, "nothing started")
	hog.release()
	require.NoError(t, l.Start("", []PlannedRun{{Label: "mine", Load: LoadSpec{Signups: 5, Concurrency: 3, DrainTimeout: 5 * time.Second}}}))
	require.Eventually(t, func() bool { return !l.Status().Running }, 15*time.Second, 10*time.Millisecond)
	st := l.Status()
	require.Empty(t, st.Err)
	require.Len(t, st.Results, 1)
	assert.EqualValues(t, 5, st.Results[0].EmailsSent)
	assert.Zero(t, room.InUse())
}

func TestManagerCapsLabsPerAddress(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{Max: 10, PerAddress: 2})
	ctx := testCtx(t, 20*time.Second)
	_, err := m.Open(ctx, "cookie-1", "192.0.2.7")
	require.NoError(t, err)
	_, err = m.Open(ctx, "cookie-2", "192.0.2.7")
	require.NoError(t, err)
	_, err = m.Open(ctx, "cookie-3", "192.0.2.7")
	require.ErrorIs(t, err, ErrAddressFull, "a third cookie from the same address gets no lab")
	_, err = m.Open(ctx, "cookie-1", "192.0.2.7")
	require.NoError(t, err, "a learner with a lab keeps it")
	_, err = m.Open(ctx, "cookie-4", "192.0.2.8")
	require.NoError(t, err, "another address has its own places")
	require.NoError(t, m.Reset("cookie-2"))
	_, err = m.Open(ctx, "cookie-3", "192.0.2.7")
	require.NoError(t, err, "a reset frees its place")
	assert.Equal(t, 3, m.Len())
}

func TestExpiryFreesAnAddressesPlace(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{PerAddress: 1, IdleTimeout: 50 * time.Millisecond, JanitorEvery: time.Hour})
	ctx := testCtx(t, 20*time.Second)
	_, err := m.Open(ctx, "a", "198.51.100.1")
	require.NoError(t, err)
	_, err = m.Open(ctx, "b", "198.51.100.1")
	require.ErrorIs(t, err, ErrAddressFull)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, 1, m.Sweep())
	_, err = m.Open(ctx, "b", "198.51.100.1")
	require.NoError(t, err, "the expired lab's place is free again")
}

// sandboxKeys lists every key of a sandbox.
func sandboxKeys(t *testing.T, c redis.UniversalClient, id string) []string {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	var keys []string
	require.NoError(t, redisdb.ScanKeys(ctx, c, stream.Pattern(id), func(batch []string) error {
		keys = append(keys, batch...)
		return nil
	}))
	return keys
}

func TestEveryKeyOfASandboxHasALifetime(t *testing.T) {
	db := redistest.Open(t)
	settings := fastSettings(ModeAsync)
	settings.Email.ErrorRate = 0.3 // retries, failing and due records
	settings.CrashRate = 0.1       // crash counts
	// This test is about the keys, not the retry budget: with 8 deliveries
	// a message fails every one of them (0.37^8) in about one run of
	// twenty, and its email is dead-lettered rather than sent.
	settings.MaxDeliveries = MaxDeliveries
	sb := newSandboxOn(t, db, settings)
	ctx := testCtx(t, time.Minute)
	res, err := sb.Run(ctx, LoadSpec{Signups: 150, Concurrency: 8, Poison: 1, DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	require.True(t, res.Drained)
	require.EqualValues(t, 150, res.EmailsSent)
	_, err = sb.InjectPoison(ctx) // written outside a run
	require.NoError(t, err)
	require.NoError(t, sb.Drain(ctx, 10*time.Second))
	require.NoError(t, sb.keepData(ctx)) // what the sandbox does every few minutes
	keys := sandboxKeys(t, db.Client, sb.ID())
	require.NotEmpty(t, keys)
	for _, k := range keys {
		ttl, err := db.Client.TTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "%s has no TTL", k)
		assert.LessOrEqual(t, ttl, DefaultDataTTL)
	}
	// Addresses are one hash, not a key each.
	for _, k := range keys {
		assert.NotContains(t, k, ":email:")
	}
}

func TestTheStorageBudgetDropsOldRunsOrRefuses(t *testing.T) {
	db := redistest.Open(t)
	settings := fastSettings(ModeAsync)
	opt := testOptions(settings)
	opt.Storage = Storage{Users: 300, Stream: 1000, Dead: 100}
	sb := openSandbox(t, db, opt)
	ctx := testCtx(t, time.Minute)
	first, err := sb.Run(ctx, LoadSpec{Signups: 200, Concurrency: 8, DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	require.Zero(t, first.DroppedUsers)
	// 200 + 200 > 300: the first run's users go before the second starts.
	second, err := sb.Run(ctx, LoadSpec{Signups: 200, Concurrency: 8, DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 200, second.DroppedUsers, "the result says what was dropped")
	assert.EqualValues(t, 200, second.EmailsSent)
	assert.Zero(t, second.EmailDuplicates)
	assert.Zero(t, second.Lost)
	tot, err := sb.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 200, tot.Users, "only this run's users are kept")
	assert.EqualValues(t, 200, tot.EmailsSent)

	// With messages still waiting (the email service is down) old data
	// cannot go: the run is refused, saying why.
	down := settings
	down.Email.Down = true
	require.NoError(t, sb.Apply(down))
	_, err = sb.Run(ctx, LoadSpec{Signups: 50, Concurrency: 8, DrainTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	_, err = sb.Run(ctx, LoadSpec{Signups: 100, Concurrency: 8, DrainTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, ErrStorageFull)
	assert.Contains(t, err.Error(), "still have messages waiting")
	require.NoError(t, sb.Apply(settings))
	require.NoError(t, sb.Drain(ctx, 20*time.Second))
	tot, err = sb.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 250, tot.Users, "nothing was dropped while messages waited")
	assert.Zero(t, tot.Unfinished, "the waiting messages were kept and finished")
	assert.Zero(t, tot.EmailDuplicates)
	res, err := sb.Run(ctx, LoadSpec{Signups: 100, Concurrency: 8, DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 250, res.DroppedUsers)
	assert.EqualValues(t, 100, res.EmailsSent)
}

func TestManagerCloseReturnsWithinItsBudgetWhenRedisHangs(t *testing.T) {
	db := redistest.Open(t)
	if db.Cluster {
		t.Skip("the hanging proxy stands before one server; a cluster client would be redirected past it (the single-server runs cover this)")
	}
	proxy := redistest.NewProxy(t, db.Addr)
	rc := redisdb.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rc.Close() })
	settings := fastSettings(ModeAsync)
	m, err := NewManager(rc, ManagerOptions{Scope: testScope(), CloseTimeout: 2 * time.Second,
		Sandbox: Options{Settings: &settings, Logger: quietLogger(), Block: 20 * time.Millisecond}})
	require.NoError(t, err)
	ctx := testCtx(t, time.Minute)
	var ids []string
	for _, o := range []string{"a", "b", "c", "d", "e", "f"} {
		l, err := m.Get(ctx, o)
		require.NoError(t, err)
		ids = append(ids, l.ID())
		_, err = l.Run(ctx, LoadSpec{Signups: 20, Concurrency: 4, DrainTimeout: 5 * time.Second})
		require.NoError(t, err)
	}
	proxy.Hang()
	time.Sleep(100 * time.Millisecond) // consumers are now stuck in commands
	start := time.Now()
	err = m.Close()
	took := time.Since(start)
	t.Logf("six labs on a hung Redis closed in %v (budget 2 s)", took.Round(time.Millisecond))
	require.Error(t, err, "the labs that could not finish are reported")
	assert.Less(t, took, 3*time.Second, "Close keeps to its budget however many labs hang")
	proxy.Close() // Redis "recovers": the abandoned closes end and their goroutines exit
	// Their keys were never deleted; they carry a lifetime and expire.
	for _, id := range ids {
		for _, k := range sandboxKeys(t, db.Client, id) {
			ttl, err := db.Client.TTL(ctx, k).Result()
			require.NoError(t, err)
			assert.Positive(t, ttl, "%s would outlive the lab for ever", k)
		}
		redistest.DeleteKeys(db.Client, stream.Pattern(id))
	}
}

func TestManagerClosesLabsInParallel(t *testing.T) {
	m, _ := newManager(t, ManagerOptions{})
	ctx := testCtx(t, 30*time.Second)
	for _, o := range []string{"a", "b", "c", "d"} {
		_, err := m.Get(ctx, o)
		require.NoError(t, err)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, m.CloseContext(closeCtx))
	assert.Zero(t, m.Len())
	_, err := m.Get(ctx, "late")
	assert.True(t, errors.Is(err, ErrClosed))
}
