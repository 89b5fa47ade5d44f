package labs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/load"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

func TestHealthyAsyncRunProcessesEverySignupOnce(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 200, Concurrency: 16, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 200, res.SignupsAttempted)
	assert.EqualValues(t, 200, res.SignupsSucceeded)
	assert.EqualValues(t, 200, res.EmailsSent)
	assert.EqualValues(t, 200, res.AnalyticsEvents)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.DeadLettered)
	assert.Zero(t, res.InFlight)
	assert.True(t, res.Drained)
	assert.Equal(t, uint64(200), res.EffectLatency.Count, "every welcome email's effect latency is measured")
	assert.Len(t, sb.History(), 1)
}

func TestEmailDownSyncFailsEverySignupAndOrphansItsUser(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Down = true
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 60, Concurrency: 8})
	require.NoError(t, err)
	assert.EqualValues(t, 60, res.SignupsAttempted)
	assert.Zero(t, res.SignupsSucceeded)
	assert.EqualValues(t, 60, res.SignupsFailed)
	assert.Equal(t, res.SignupsFailed, res.OrphanedUsers, "each failed sync signup left its user record behind")
	assert.Zero(t, res.EmailsSent)
	assert.Zero(t, res.Lost, "lost applies to async users only")
	tot, err := sb.Totals(testCtx(t, 5*time.Second))
	require.NoError(t, err)
	assert.EqualValues(t, 60, tot.Users)
}

func TestEmailDownAsyncSucceedsAndDrainsAfterRecovery(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.Email.Down = true
	s.MaxDeliveries = 2 // the group pauses instead of spending its budget
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 150, Concurrency: 8, RecoverAfter: 300 * time.Millisecond, DrainTimeout: 15 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 150, res.SignupsSucceeded, "the signup does not wait for email")
	assert.True(t, res.Drained)
	assert.Equal(t, res.SignupsSucceeded, res.EmailsSent)
	assert.EqualValues(t, 150, res.AnalyticsEvents)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.DeadLettered)
	assert.True(t, res.Retries > 0 || res.PausedS[ServiceEmail] > 0, "messages failed while email was down: %+v", res)
	assert.False(t, sb.Settings().Email.Down, "recover-after brought the service back")
}

// faultRun is the fault scenario: 30 % email errors and consumers
// that crash in 5 % of successful handlings, between effect and ack.
func faultRun(t *testing.T, idempotent bool) (*Sandbox, Result) {
	s := fastSettings(ModeAsync)
	s.Email.ErrorRate = 0.3
	s.CrashRate = 0.05
	s.Idempotency = idempotent
	s.MaxDeliveries = 6
	s.RetryAfter = 300 * time.Millisecond // generous: a loaded CI machine must not look like a crash
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 150*time.Second), LoadSpec{Signups: 2000, Concurrency: 32, DrainTimeout: 90 * time.Second}) // generous: the race detector slows every round trip ten times
	require.NoError(t, err)
	require.True(t, res.Drained, "the run drained: %+v", res)
	t.Logf("fault run: load %.2fs, retries %d, redeliveries %d, crashes %d, dlq %d", res.DurationS, res.Retries, res.Redeliveries, res.Crashes, res.DeadLettered)
	assert.EqualValues(t, 2000, res.SignupsSucceeded)
	assert.Zero(t, res.Lost)
	assert.Positive(t, res.Crashes)
	assert.Positive(t, res.Redeliveries)
	return sb, res
}

func TestFaultsAndCrashesLoseNothingAndDuplicateNothing(t *testing.T) {
	sb, res := faultRun(t, true)
	assert.Zero(t, res.EmailDuplicates)
	ctx := testCtx(t, 10*time.Second)
	dead, err := sb.DeadLetters(ctx, 1000)
	require.NoError(t, err)
	assert.EqualValues(t, len(dead), res.DeadLettered)
	for _, d := range dead {
		assert.NotEmpty(t, d.Reason, "dead letter %s has a reason", d.ID)
		assert.Equal(t, ServiceEmail, d.Group, "only email fails in this scenario")
	}
	// Every email message was processed (an email exists) or dead-lettered;
	// some are both: sent, then the consumer crashed before acking and the
	// retries that followed all failed, which at-least-once cannot tell apart.
	assert.GreaterOrEqual(t, res.EmailsSent+res.DeadLettered, int64(2000))
	snap, err := sb.Snapshot(ctx)
	require.NoError(t, err)
	for _, g := range snap.Groups {
		assert.Zero(t, g.Pending, g.Name)
		assert.Zero(t, g.Lag, g.Name)
		assert.LessOrEqual(t, g.Consumers, int64(4+2), "crashed consumers are removed from group %s once empty", g.Name)
	}
}

func TestWithoutIdempotencyRedeliveriesBecomeDuplicates(t *testing.T) {
	_, res := faultRun(t, false)
	assert.Positive(t, res.EmailDuplicates)
}

func TestLatencySyncWaitsForBothCallsAsyncDoesNot(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Latency, s.Analytics.Latency = 50*time.Millisecond, 50*time.Millisecond
	sb := newSandbox(t, s)
	ctx := testCtx(t, 30*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 40, Concurrency: 4})
	require.NoError(t, err)
	assert.EqualValues(t, 40, res.SignupsSucceeded)
	// 50 + 50 ms of service time plus our own overhead of a few ms. The race
	// detector, with other packages testing on the same cores, can add tens of
	// ms; there the bound only shows the two calls are waited for in series,
	// and CI holds the 110 ms bound in a run without it.
	limit := 110.0
	if raceEnabled {
		limit = 200
	}
	assert.GreaterOrEqual(t, res.Latency.P50, 100.0)
	assert.LessOrEqual(t, res.Latency.P50, limit)

	_, err = sb.Update(func(s *Settings) { s.Mode = ModeAsync })
	require.NoError(t, err)
	res, err = sb.Run(ctx, LoadSpec{Signups: 40, Concurrency: 2, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 40, res.SignupsSucceeded)
	asyncLimit := 5.0
	if raceEnabled {
		asyncLimit = 45 // still less than the 50 ms the email takes
	}
	assert.LessOrEqual(t, res.Latency.P50, asyncLimit)
	assert.GreaterOrEqual(t, res.EffectLatency.P50, 50.0, "the email still takes its 50 ms, later")
	assert.Len(t, sb.History(), 2)
}

func TestPoisonMessageIsDeadLetteredAndDoesNotBlockTheGroup(t *testing.T) {
	db := redistest.Open(t)
	sb := newSandboxOn(t, db, fastSettings(ModeAsync))
	ctx := testCtx(t, 30*time.Second)
	require.NoError(t, db.Client.XAdd(ctx, &redis.XAddArgs{Stream: stream.EventsKey(sb.id), Values: []string{"type", EventSignedUp, "payload", "{not json"}}).Err())
	res, err := sb.Run(ctx, LoadSpec{Signups: 30, Concurrency: 4, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.True(t, res.Drained)
	assert.EqualValues(t, 30, res.EmailsSent)
	assert.Zero(t, res.Lost)
	dead, err := sb.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Len(t, dead, 2, "one dead letter per group")
	for _, d := range dead {
		assert.Contains(t, d.Reason, "not a readable user.signedup event")
		assert.Equal(t, "{not json", d.Payload)
	}
	assert.EqualValues(t, 2, sb.count.poison.Load())
}

func TestDeadLettersCanBeListedAndReplayedOnce(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.Email.ErrorRate = 1
	s.MaxDeliveries = 2
	opt := testOptions(s)
	opt.GroupBreaker.Failures = 1000 // a flaky service, never paused: the budget decides
	sb := openSandbox(t, redistest.Open(t), opt)
	ctx := testCtx(t, 30*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 5, Concurrency: 1, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 5, res.DeadLettered)
	assert.Zero(t, res.EmailsSent)
	assert.Zero(t, res.Lost, "dead-lettered is not lost")
	dead, err := sb.DeadLetters(ctx, 100)
	require.NoError(t, err)
	require.Len(t, dead, 5)
	assert.Contains(t, dead[0].Reason, "gave up after 2 tries over")
	assert.EqualValues(t, 2, dead[0].Deliveries, "the delivery count is recorded with the dead letter")
	assert.Contains(t, dead[0].Reason, "the email service answered 503: injected failure")

	_, err = sb.Update(func(s *Settings) { s.Email.ErrorRate = 0 })
	require.NoError(t, err)
	_, err = sb.Replay(ctx, dead[0].ID)
	require.NoError(t, err)
	_, err = sb.Replay(ctx, dead[0].ID)
	assert.ErrorIs(t, err, ErrNotFound, "a dead letter is replayed once")
	_, err = sb.Replay(ctx, "not-an-id")
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "id", fe.Field)
	require.NoError(t, sb.Drain(ctx, 10*time.Second))
	tot, err := sb.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, tot.EmailsSent)
	assert.EqualValues(t, 5, tot.AnalyticsEvents, "the replay was for the email group only")
	dead, err = sb.DeadLetters(ctx, 100)
	require.NoError(t, err)
	assert.Len(t, dead, 4)
}

func TestNaivePublishLosesEventsTheOutboxDoesNot(t *testing.T) {
	for _, tc := range []struct {
		publish Publish
		lost    bool
	}{{PublishNaive, true}, {PublishOutbox, false}} {
		t.Run(string(tc.publish), func(t *testing.T) {
			s := fastSettings(ModeAsync)
			s.Publish = tc.publish
			s.PublishErrorRate = 0.2
			sb := newSandbox(t, s)
			res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 200, Concurrency: 8, DrainTimeout: 10 * time.Second})
			require.NoError(t, err)
			assert.Positive(t, res.SignupsFailed)
			assert.True(t, res.Drained)
			if tc.lost {
				assert.Equal(t, res.SignupsFailed, res.Lost, "each failed publish left a user no consumer hears of")
			} else {
				assert.Zero(t, res.Lost)
			}
			assert.Equal(t, res.SignupsSucceeded, res.EmailsSent)
		})
	}
}

func TestCircuitBreakerFailsFastOnceOpen(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Hang = true
	s.Timeout = 100 * time.Millisecond
	s.Breaker = true
	opt := testOptions(s)
	opt.Breaker.Cooldown = time.Minute // stays open until the test looks
	sb := openSandbox(t, redistest.Open(t), opt)
	ctx := testCtx(t, 30*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 30, Concurrency: 1})
	require.NoError(t, err)
	assert.EqualValues(t, 30, res.SignupsFailed)
	assert.Less(t, res.Latency.P50, 50.0, "after five timeouts the breaker answers at once")
	assert.GreaterOrEqual(t, res.Latency.Max, 100.0, "the first calls waited for the timeout")
	snap, err := sb.Snapshot(ctx)
	require.NoError(t, err)
	assert.Equal(t, "open", snap.Breakers[ServiceEmail])
}

func TestSyncTimeoutAndFallback(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Analytics.Hang = true
	s.Timeout = 50 * time.Millisecond
	sb := newSandbox(t, s)
	ctx := testCtx(t, 10*time.Second)
	status, reply := postSignup(t, sb, "ada@example.com", "Ada", "")
	assert.Equal(t, http.StatusGatewayTimeout, status)
	assert.Contains(t, reply.Error, "track signup")
	_, err := sb.Update(func(s *Settings) { s.Fallback = true })
	require.NoError(t, err)
	status, _ = postSignup(t, sb, "grace@example.com", "Grace", "")
	assert.Equal(t, http.StatusCreated, status, "with the fallback analytics is optional")
	snap, err := sb.Snapshot(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, snap.Counters.Orphaned)
	assert.EqualValues(t, 2, snap.Counters.EmailsSent)
}

func TestSignupAPIValidatesAndHonoursIdempotencyKeys(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	for _, tc := range []struct{ email, name, key, field string }{
		{"", "Ada", "", "email"},
		{"not-an-address", "Ada", "", "email"},
		{"Ada <ada@example.com>", "Ada", "", "email"},
		{"ada@example.com", "", "", "name"},
		{"ada@example.com", strings.Repeat("n", 101), "", "name"},
		{"ada@example.com", "Ada", "has space", "Idempotency-Key"},
	} {
		status, reply := postSignup(t, sb, tc.email, tc.name, tc.key)
		assert.Equal(t, http.StatusBadRequest, status, tc)
		assert.Equal(t, tc.field, reply.Field, tc)
	}
	status, first := postSignup(t, sb, "ada@example.com", "Ada", "key-1")
	require.Equal(t, http.StatusCreated, status)
	status, again := postSignup(t, sb, "ada@example.com", "Ada", "key-1")
	assert.Equal(t, http.StatusCreated, status, "a client retry gets the same answer")
	assert.Equal(t, first.UserID, again.UserID)
	status, other := postSignup(t, sb, "ADA@example.com", "Ada", "key-2")
	assert.Equal(t, http.StatusConflict, status, "an address is registered once")
	assert.Equal(t, "email", other.Field)
	tot, err := sb.Totals(testCtx(t, 5*time.Second))
	require.NoError(t, err)
	assert.EqualValues(t, 1, tot.Users)
}

func postSignup(t *testing.T, sb *Sandbox, email, name, key string) (int, SignupReply) {
	t.Helper()
	body, _ := json.Marshal(load.Body{Email: email, Name: name})
	req, err := http.NewRequest(http.MethodPost, sb.SignupURL(), strings.NewReader(string(body)))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var reply SignupReply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&reply))
	return resp.StatusCode, reply
}

func TestTraceFollowsOneSignupToBothEffects(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	tr, err := sb.Trace(testCtx(t, 10*time.Second), "trace@example.com", "Tracy", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, tr.Status)
	assert.True(t, tr.Complete)
	var where []string
	for _, s := range tr.Steps {
		where = append(where, s.Where+": "+s.What)
	}
	joined := strings.Join(where, "\n")
	assert.Contains(t, joined, "stored and user.signedup published, in one atomic write")
	assert.Contains(t, joined, "email consumer: received")
	assert.Contains(t, joined, "email service: welcome email sent")
	assert.Contains(t, joined, "analytics service: signup tracked")
	_, err = sb.Trace(testCtx(t, 10*time.Second), "bad", "Tracy", time.Second)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "email", fe.Field)
}

func TestLagIsCountedFromTheLastDeliveredEntry(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.EmailConsumers, s.AnalyticsConsumers = 0, 0
	db := redistest.Open(t)
	sb := newSandboxOn(t, db, s)
	ctx := testCtx(t, 20*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 30, Concurrency: 4, DrainTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	assert.False(t, res.Drained, "no consumers, nothing drains")
	assert.EqualValues(t, 30, res.MaxConsumerLag)
	msgs, err := sb.store.Read(ctx, ServiceEmail, "probe", 10, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 10)
	st, err := sb.streamStats(ctx, true)
	require.NoError(t, err)
	lag := map[string]GroupStats{}
	for _, g := range st.Groups {
		lag[g.Name] = g
	}
	assert.EqualValues(t, 20, lag[ServiceEmail].Lag)
	assert.EqualValues(t, 10, lag[ServiceEmail].Pending)
	assert.EqualValues(t, 30, lag[ServiceAnalytics].Lag)
	assert.EqualValues(t, 30, st.Length)
	if !db.Embedded {
		for _, g := range st.Groups {
			assert.Equal(t, g.RedisLag, g.Lag, "Redis 7's own lag agrees for %s", g.Name)
		}
	}
}

func TestRetentionTrimsOnlyFinishedEntries(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.AnalyticsConsumers = 0 // analytics holds everything back
	sb := newSandbox(t, s)
	ctx := testCtx(t, 20*time.Second)
	_, err := sb.Run(ctx, LoadSpec{Signups: 20, Concurrency: 2, DrainTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	st, err := sb.store.ReadState(ctx, Groups)
	require.NoError(t, err)
	n, err := sb.store.Trim(ctx, st.Groups)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is trimmed while analytics has not read it")
	_, err = sb.Update(func(s *Settings) { s.AnalyticsConsumers = 2 })
	require.NoError(t, err)
	require.NoError(t, sb.Drain(ctx, 10*time.Second))
	st, err = sb.store.ReadState(ctx, Groups)
	require.NoError(t, err)
	n, err = sb.store.Trim(ctx, st.Groups)
	require.NoError(t, err)
	assert.EqualValues(t, 20, n, "once both groups are done every entry can go")
	tot, err := sb.Totals(ctx)
	require.NoError(t, err)
	assert.Zero(t, tot.Unfinished)
}

func TestSettingsChangeLive(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	ctx := testCtx(t, 10*time.Second)
	_, err := sb.Update(func(s *Settings) { s.EmailConsumers = 1; s.Email.Down = true })
	require.NoError(t, err)
	snap, err := sb.Snapshot(ctx)
	require.NoError(t, err)
	for _, g := range snap.Groups {
		if g.Name == ServiceEmail {
			assert.Equal(t, 1, g.ConsumersHere)
		} else {
			assert.Equal(t, 4, g.ConsumersHere)
		}
	}
	// A fresh connection: the default client may hold an idle one to a
	// service another test ran on the same port, which would read "reset".
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err = fresh.Post(sb.email.URL(), "application/json", strings.NewReader("{}"))
	assert.ErrorContains(t, err, "connection refused", "a downed service refuses connections")
	_, err = sb.Update(func(s *Settings) { s.Email.Down = false; s.Email.ErrorRate = 2 })
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "email.error_rate", fe.Field)
	assert.True(t, sb.Settings().Email.Down, "a refused change changes nothing")
	_, err = sb.Update(func(s *Settings) { s.Email.Down = false })
	require.NoError(t, err)
	status, _ := postSignup(t, sb, "live@example.com", "Live", "")
	assert.Equal(t, http.StatusCreated, status)
}

func TestCloseDeletesKeysWhenAsked(t *testing.T) {
	db := redistest.Open(t)
	id := redistest.Sandbox(t, db.Client)
	s := fastSettings(ModeAsync)
	sb, err := New(context.Background(), db.Client, id, Options{Settings: &s, Logger: quietLogger(), DeleteOnClose: true, Block: 50 * time.Millisecond})
	require.NoError(t, err)
	status, _ := postSignup(t, sb, "gone@example.com", "Gone", "")
	require.Equal(t, http.StatusCreated, status)
	require.NoError(t, sb.Close())
	require.NoError(t, sb.Close(), "Close is idempotent")
	keys, err := db.Client.Keys(context.Background(), "cr:{"+id+"}:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
	_, err = sb.Snapshot(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
	_, err = sb.Run(context.Background(), LoadSpec{Signups: 1, Concurrency: 1})
	assert.ErrorIs(t, err, ErrClosed)
}

func TestRunIsBoundedAndCancellable(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Latency = 20 * time.Millisecond
	sb := newSandbox(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(150 * time.Millisecond)
		snap, err := sb.Snapshot(context.Background())
		if assert.NoError(t, err) && assert.NotNil(t, snap.Run, "a snapshot shows the load in progress") {
			assert.Equal(t, "load", snap.Run.Phase)
			assert.Equal(t, 100_000, snap.Run.Target)
			assert.Positive(t, snap.Run.Sent)
		}
		_, err = sb.Run(context.Background(), LoadSpec{Signups: 1, Concurrency: 1})
		assert.ErrorIs(t, err, ErrBusy)
		cancel()
	}()
	start := time.Now()
	res, err := sb.Run(ctx, LoadSpec{Signups: 100_000, Concurrency: 2})
	require.NoError(t, err)
	assert.True(t, res.Cancelled)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Less(t, res.SignupsAttempted, int64(1000))

	res, err = sb.Run(context.Background(), LoadSpec{Signups: 1000, Concurrency: 100, Rate: 100, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.InDelta(t, 30, res.SignupsAttempted, 3, "an open loop at 100/s for 0.3 s sends 30, each answered")
	assert.Equal(t, res.SignupsAttempted, res.SignupsSucceeded)
}

func TestRedisRestartMidRunLosesNothing(t *testing.T) {
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	db, err := redisdb.Open(context.Background(), srv.URL(), redisdb.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s := fastSettings(ModeAsync)
	s.RetryAfter = 100 * time.Millisecond
	s.MaxDeliveries = 50
	sb := newSandboxOn(t, db, s)
	ctx := testCtx(t, 50*time.Second)
	runID := func() string {
		info, err := db.Client.Info(ctx, "server").Result()
		require.NoError(t, err)
		_, after, _ := strings.Cut(info, "run_id:")
		id, _, _ := strings.Cut(after, "\r\n")
		return id
	}
	before := runID()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(600 * time.Millisecond)
		srv.Stop()
		time.Sleep(1200 * time.Millisecond)
		srv.Start()
	}()
	res, err := sb.Run(ctx, LoadSpec{Signups: 450, Concurrency: 8, Rate: 150, DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	<-restarted
	require.NotEqual(t, before, runID(), "the server restarted during the run")
	t.Logf("restart run: succeeded %d failed %d emails %d dlq %d retries %d", res.SignupsSucceeded, res.SignupsFailed, res.EmailsSent, res.DeadLettered, res.Retries)
	assert.True(t, res.Drained)
	assert.Greater(t, res.SignupsSucceeded, int64(300), "producers reconnected after the restart")
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.EmailDuplicates)
	tot, err := sb.Totals(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, tot.Users, res.EmailsSent+res.DeadLettered, "every user's email was sent or dead-lettered")
}

func TestValidationNamesTheField(t *testing.T) {
	for field, change := range map[string]func(*Settings){
		"mode":                 func(s *Settings) { s.Mode = "later" },
		"publish":              func(s *Settings) { s.Publish = "twice" },
		"email.latency":        func(s *Settings) { s.Email.Latency = -time.Second },
		"analytics.jitter":     func(s *Settings) { s.Analytics.Jitter = time.Hour },
		"analytics.error_rate": func(s *Settings) { s.Analytics.ErrorRate = -0.1 },
		"timeout":              func(s *Settings) { s.Timeout = 0 },
		"crash_rate":           func(s *Settings) { s.CrashRate = 0.9 },
		"publish_error_rate":   func(s *Settings) { s.PublishErrorRate = 1.5 },
		"email_consumers":      func(s *Settings) { s.EmailConsumers = -1 },
		"analytics_consumers":  func(s *Settings) { s.AnalyticsConsumers = 65 },
		"max_deliveries":       func(s *Settings) { s.MaxDeliveries = -1 },
		"retry_after":          func(s *Settings) { s.RetryAfter = 0 },
		"retry_max_backoff":    func(s *Settings) { s.RetryMaxBackoff = s.RetryAfter / 2 },
		"max_retry_age":        func(s *Settings) { s.MaxRetryAge = s.RetryAfter / 2 },
		"lease":                func(s *Settings) { s.Lease = 10 * time.Millisecond },
	} {
		s := DefaultSettings()
		change(&s)
		var fe *FieldError
		require.ErrorAs(t, s.Validate(), &fe, field)
		assert.Equal(t, field, fe.Field)
	}
	require.NoError(t, DefaultSettings().Validate())
	for field, spec := range map[string]LoadSpec{
		"signups":       {Signups: 100_001, Concurrency: 1},
		"concurrency":   {Signups: 1, Concurrency: 1001},
		"rate":          {Signups: 1, Concurrency: 1, Rate: -1},
		"poison":        {Signups: 1, Concurrency: 1, Poison: 101},
		"duration":      {Signups: 1, Concurrency: 1, Duration: 11 * time.Minute},
		"recover_after": {Signups: 1, Concurrency: 1, RecoverAfter: -1},
		"drain_timeout": {Signups: 1, Concurrency: 1, DrainTimeout: time.Hour},
	} {
		var fe *FieldError
		require.ErrorAs(t, spec.Validate(), &fe, field)
		assert.Equal(t, field, fe.Field)
	}
	var fe *FieldError
	require.ErrorAs(t, ValidateID("a b"), &fe)
	assert.Equal(t, "sandbox", fe.Field)
	_, err := New(context.Background(), nil, "{bad}", Options{})
	assert.True(t, errors.As(err, &fe))
}

// Slow handling must not make a consumer's own batch look abandoned: with
// no faults at all, nothing is claimed by another consumer mid-work, so even
// without idempotency no email goes out twice.
func TestSlowConsumersDoNotStealEachOthersWork(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.Email.Latency = 40 * time.Millisecond
	s.Lease = 300 * time.Millisecond
	s.Idempotency = false
	s.EmailConsumers = 2
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 60, Concurrency: 8, DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	assert.True(t, res.Drained)
	assert.EqualValues(t, 60, res.EmailsSent)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.Retries)
}
