package labs

// The async lab's promises, each proven under the fault that threatens it:
// an outage longer than any retry budget, consumers that crash, slow work,
// poison, and figures that must describe one run and nothing else.

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// budgetWatch samples the delivery counts Redis keeps for every pending
// entry while a test runs, so that "no entry ever passes max_deliveries" is
// checked during the run, not only after it.
type budgetWatch struct {
	most atomic.Int64
	stop context.CancelFunc
	done sync.WaitGroup
}

func watchBudget(t *testing.T, sb *Sandbox) *budgetWatch {
	w := &budgetWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	w.done.Go(func() {
		for ctx.Err() == nil {
			for _, g := range Groups {
				pend, err := sb.rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream.EventsKey(sb.id), Group: g, Start: "-", End: "+", Count: 1000}).Result()
				if err != nil {
					continue
				}
				for _, p := range pend {
					raise(&w.most, p.RetryCount)
				}
			}
			sleep(ctx, nil, 20*time.Millisecond)
		}
	})
	t.Cleanup(w.end)
	return w
}

func (w *budgetWatch) end() { w.stop(); w.done.Wait() }

// groupStates records every state the snapshot reports for a group while a
// run goes on.
func groupStates(t *testing.T, sb *Sandbox, group string) func() map[string]bool {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if snap, err := sb.Snapshot(ctx); err == nil {
				for _, g := range snap.Groups {
					if g.Name == group {
						mu.Lock()
						seen[g.State] = true
						mu.Unlock()
					}
				}
			}
			sleep(ctx, nil, 50*time.Millisecond)
		}
	})
	stop := func() map[string]bool {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Cleanup(func() { stop() })
	return stop
}

// An outage longer than every retry budget is carried by pausing the group,
// not by spending the budget: the default settings, with every duration
// shortened tenfold (a 60 s outage becomes 6 s, the 1 s backoff base
// 100 ms, the 10 min retry age 60 s, the 1 s probe interval 100 ms).
func TestAnOutageLongerThanTheBudgetEndsWithEveryEmailSentOnce(t *testing.T) {
	const scale = 10
	s := DefaultSettings()
	s.RetryAfter /= scale
	s.RetryMaxBackoff /= scale
	s.MaxRetryAge /= scale
	s.Email.Down = true
	opt := testOptions(s)
	opt.GroupBreaker = BreakerPolicy{Cooldown: time.Second / scale}
	sb := openSandbox(t, redistest.Open(t), opt)
	budget := watchBudget(t, sb)
	states := groupStates(t, sb, ServiceEmail)

	outage := time.Minute / scale
	res, err := sb.Run(testCtx(t, 60*time.Second), LoadSpec{Signups: 300, Concurrency: 8, RecoverAfter: outage, DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	budget.end()
	t.Logf("outage run: retries %d, redeliveries %d, paused %v s, drain %.2f s", res.Retries, res.Redeliveries, res.PausedS, res.DrainS)
	assert.EqualValues(t, 300, res.SignupsSucceeded, "signups never waited for email")
	assert.True(t, res.Drained)
	assert.EqualValues(t, 300, res.EmailsSent, "after recovery every email was sent")
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.DeadLettered)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.InFlight)
	assert.Greater(t, res.PausedS[ServiceEmail], 0.7*outage.Seconds(), "the email group was paused for most of the outage")
	assert.Zero(t, res.PausedS[ServiceAnalytics])
	assert.LessOrEqual(t, res.Retries, int64(10+2*s.EmailConsumers), "ten failures pause the group; after that nothing is spent")
	assert.LessOrEqual(t, budget.most.Load(), int64(s.MaxDeliveries))
	assert.True(t, states()[GroupPaused], "a snapshot showed the email group paused")
}

// Crashes between effect and acknowledgement lose nothing, duplicate
// nothing with idempotency on, and never push an entry past its budget.
func TestCrashingConsumersLoseNothingAndStayWithinTheBudget(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.CrashRate = 0.3
	s.EmailConsumers, s.AnalyticsConsumers = 2, 2
	sb := newSandbox(t, s)
	budget := watchBudget(t, sb)
	// A loaded two-core CI runner restarts consumers far more slowly than a
	// laptop, so the run is modest and the drain generous.
	res, err := sb.Run(testCtx(t, 180*time.Second), LoadSpec{Signups: 1000, Concurrency: 16, DrainTimeout: 150 * time.Second})
	require.NoError(t, err)
	budget.end()
	t.Logf("crash run: crashes %d, redeliveries %d, dead-lettered %d, drain %.2f s", res.Crashes, res.Redeliveries, res.DeadLettered, res.DrainS)
	require.True(t, res.Drained, "%+v", res)
	assert.EqualValues(t, 1000, res.EmailsSent)
	assert.EqualValues(t, 1000, res.AnalyticsEvents)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.InFlight)
	assert.Greater(t, res.Crashes, int64(300))
	assert.LessOrEqual(t, budget.most.Load(), int64(s.MaxDeliveries))
	dead, err := sb.DeadLetters(testCtx(t, 5*time.Second), 1000)
	require.NoError(t, err)
	for _, d := range dead {
		assert.Contains(t, d.Reason, "crashed the consumer", "only crashes fail in this run")
		assert.LessOrEqual(t, d.Deliveries, int64(s.MaxDeliveries))
	}
}

// A message that keeps taking its consumer down is dead-lettered for it
// once it has spent its deliveries, instead of staying pending forever.
func TestAMessageThatKeepsCrashingItsConsumerIsDeadLetteredForIt(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.CrashRate = 0.5
	s.EmailConsumers, s.AnalyticsConsumers = 1, 1
	s.Idempotency = false
	s.RetryAfter = 200 * time.Millisecond
	s.MaxDeliveries = 3
	sb := newSandbox(t, s)
	budget := watchBudget(t, sb)
	res, err := sb.Run(testCtx(t, 60*time.Second), LoadSpec{Signups: 40, Concurrency: 4, DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	budget.end()
	require.True(t, res.Drained, "nothing stays pending forever: %+v", res)
	assert.Zero(t, res.InFlight)
	assert.Positive(t, res.DeadLettered, "at a 50 %% crash rate some messages crash three consumers in a row")
	assert.Positive(t, res.EmailDuplicates, "without idempotency a crash after the effect repeats it")
	assert.LessOrEqual(t, budget.most.Load(), int64(3))
	dead, err := sb.DeadLetters(testCtx(t, 5*time.Second), 1000)
	require.NoError(t, err)
	assert.EqualValues(t, len(dead), res.DeadLettered)
	for _, d := range dead {
		assert.Equal(t, "crashed the consumer 3 times", d.Reason)
		assert.EqualValues(t, 3, d.Deliveries)
	}
}

// A consumer working on a slow call renews its lease, so no other consumer
// takes the message over while the call runs: a call longer than the lease
// is allowed, and sends exactly one email even without idempotency. (A call
// that outlasts its timeout is another matter: the service still finishes
// it, and the retry sends a second email; the timeout here leaves room.)
func TestSlowWorkIsNeverTakenOverWhileItRuns(t *testing.T) {
	s := fastSettings(ModeAsync)
	s.Lease = 300 * time.Millisecond
	s.Timeout = 3 * time.Second              // no call times out, even on a loaded machine
	s.Email.Latency = 700 * time.Millisecond // more than twice the lease
	s.Idempotency = false
	s.EmailConsumers = 3
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 60*time.Second), LoadSpec{Signups: 12, Concurrency: 4, DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	require.True(t, res.Drained)
	assert.EqualValues(t, 12, res.EmailsSent)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.Redeliveries, "no message was handed to a second consumer")
	assert.Zero(t, res.Retries)
	assert.Zero(t, res.Crashes)
}

// A run reports its own figures only, whatever the sandbox held before: a
// backlog from an earlier run, processed during this one, and 50 dead
// letters do not count.
func TestFiguresDescribeTheRunAloneWhateverTheSandboxHeld(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	ctx := testCtx(t, 60*time.Second)
	first, err := sb.Run(ctx, LoadSpec{Signups: 5, Concurrency: 2, Poison: 25, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.EqualValues(t, 50, first.DeadLettered, "25 poison messages, dead-lettered by each group")
	assert.EqualValues(t, 25, first.Poison)

	_, err = sb.Update(func(s *Settings) { s.EmailConsumers = 0 })
	require.NoError(t, err)
	backlog, err := sb.Run(ctx, LoadSpec{Signups: 40, Concurrency: 4, DrainTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.False(t, backlog.Drained)
	assert.Zero(t, backlog.EmailsSent)
	assert.EqualValues(t, 40, backlog.InFlight, "waiting for an email consumer, not lost")
	assert.Zero(t, backlog.Lost)
	assert.Zero(t, backlog.DeadLettered)

	_, err = sb.Update(func(s *Settings) { s.EmailConsumers = 4 })
	require.NoError(t, err)
	res, err := sb.Run(ctx, LoadSpec{Signups: 30, Concurrency: 4, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	assert.True(t, res.Drained)
	assert.EqualValues(t, 30, res.SignupsSucceeded)
	assert.EqualValues(t, 30, res.EmailsSent, "the 40 backlog emails sent meanwhile are the earlier run's")
	assert.EqualValues(t, 30, res.AnalyticsEvents)
	assert.Zero(t, res.DeadLettered)
	assert.EqualValues(t, 50, res.DLQTotal, "the sandbox's dead letters are reported apart")
	assert.Zero(t, res.Poison)
	assert.Zero(t, res.InFlight)
	assert.Zero(t, res.Retries)
	assert.EqualValues(t, 30, res.EffectLatency.Count, "effect latency counts this run's emails")

	tot, err := sb.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 75, tot.EmailsSent, "all three runs' emails, once each")
	assert.Zero(t, tot.Unfinished)
}

// A naive dual write loses the events whose publish failed: the run reports
// exactly those users as lost and as orphaned, and Redis agrees.
func TestANaiveRunReportsItsLostAndOrphanedUsersExactly(t *testing.T) {
	for _, publish := range []Publish{PublishNaive, PublishOutbox} {
		t.Run(string(publish), func(t *testing.T) {
			s := fastSettings(ModeAsync)
			s.Publish = publish
			s.PublishErrorRate = 0.3
			sb := newSandbox(t, s)
			ctx := testCtx(t, 30*time.Second)
			res, err := sb.Run(ctx, LoadSpec{Signups: 300, Concurrency: 8, DrainTimeout: 10 * time.Second})
			require.NoError(t, err)
			require.True(t, res.Drained)
			assert.Positive(t, res.SignupsFailed)
			assert.Equal(t, res.SignupsSucceeded, res.EmailsSent)
			assert.Zero(t, res.InFlight)
			tot, err := sb.Totals(ctx)
			require.NoError(t, err)
			if publish == PublishOutbox {
				assert.Zero(t, res.Lost, "the outbox writes both or neither")
				assert.Zero(t, res.OrphanedUsers)
				assert.Equal(t, res.SignupsSucceeded, tot.Users)
				return
			}
			assert.Equal(t, res.SignupsFailed, res.Lost, "each failed publish left a user no consumer hears of")
			assert.Equal(t, res.SignupsFailed, res.OrphanedUsers, "and its signup reported failure")
			assert.EqualValues(t, 300, tot.Users, "Redis holds every user")
			assert.Equal(t, res.Lost, tot.Unfinished, "Redis has no finished event for exactly the lost users")
		})
	}
}

// Poison is dead-lettered by every group at first sight while the groups
// keep draining, and replaying one group's dead letter concerns that group
// only.
func TestPoisonIsDeadLetteredPerGroupAndAReplayStaysInItsGroup(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	ctx := testCtx(t, 30*time.Second)
	res, err := sb.Run(ctx, LoadSpec{Signups: 20, Concurrency: 4, Poison: 3, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	require.True(t, res.Drained)
	assert.EqualValues(t, 6, res.DeadLettered, "three per group")
	assert.EqualValues(t, 20, res.EmailsSent, "the groups kept draining past the poison")
	assert.Zero(t, res.Retries, "no retry can fix poison")
	perGroup := func() map[string]int {
		dead, err := sb.DeadLetters(ctx, 100)
		require.NoError(t, err)
		n := map[string]int{}
		for _, d := range dead {
			n[d.Group]++
			assert.True(t, strings.HasPrefix(d.Reason, "not a readable user.signedup event"), d.Reason)
			assert.EqualValues(t, 1, d.Deliveries)
		}
		return n
	}
	require.Equal(t, map[string]int{ServiceEmail: 3, ServiceAnalytics: 3}, perGroup())
	dead, err := sb.DeadLetters(ctx, 100)
	require.NoError(t, err)
	var emailLetter DeadLetter
	for _, d := range dead {
		if d.Group == ServiceEmail {
			emailLetter = d
		}
	}
	_, err = sb.Replay(ctx, emailLetter.ID)
	require.NoError(t, err)
	require.NoError(t, sb.Drain(ctx, 10*time.Second))
	assert.Equal(t, map[string]int{ServiceEmail: 3, ServiceAnalytics: 3}, perGroup(),
		"the replayed poison failed again for email and was acked unread by analytics")
}

// A call that times out can still take effect: the service finishes its slow
// work after the caller gave up. The run says so.
func TestSyncCallsThatTimeOutStillTakeEffectAndTheRunSaysSo(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Latency = 300 * time.Millisecond
	s.Timeout = 50 * time.Millisecond
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 10, Concurrency: 5})
	require.NoError(t, err)
	assert.True(t, res.Drained, "the run waited for the services to finish their calls")
	assert.EqualValues(t, 10, res.SignupsFailed)
	assert.EqualValues(t, 10, res.OrphanedUsers)
	assert.EqualValues(t, 10, res.EmailsSent)
	assert.EqualValues(t, 10, res.EmailsForFailedSignups, "every failed signup still got its email")
}

// A hanging service holds a request only while its caller waits.
func TestAHangingServiceLetsGoWhenTheCallerGivesUp(t *testing.T) {
	s := fastSettings(ModeSync)
	s.Email.Hang = true
	s.Timeout = 100 * time.Millisecond
	sb := newSandbox(t, s)
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 6, Concurrency: 6})
	require.NoError(t, err)
	assert.EqualValues(t, 6, res.SignupsFailed)
	assert.True(t, res.Drained, "the hanging handlers were released when the calls timed out")
	assert.Zero(t, sb.email.InFlight())
	assert.Zero(t, res.EmailsSent, "a hung request never takes effect")
}

func TestBackoffGrowsWithJitterUpToItsCap(t *testing.T) {
	s := DefaultSettings()
	s.RetryAfter, s.RetryMaxBackoff = 100*time.Millisecond, 2*time.Second
	for n, ceiling := range map[int64]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 6: 2 * time.Second, 60: 2 * time.Second} {
		var most time.Duration
		for range 2000 {
			d := backoff(s, n)
			require.Positive(t, d)
			require.LessOrEqual(t, d, ceiling, "delivery %d", n)
			most = max(most, d)
		}
		assert.Greater(t, most, ceiling*9/10, "delivery %d: the whole range is drawn", n)
	}
}

func TestSettingsWarnAboutWhatTheModeIgnores(t *testing.T) {
	s := DefaultSettings()
	assert.Empty(t, s.Warnings())
	s.Breaker, s.Fallback = true, true
	assert.Len(t, s.Warnings(), 2)
	s = DefaultSettings()
	s.Mode, s.CrashRate, s.Publish, s.PublishErrorRate = ModeSync, 0.1, PublishNaive, 0.1
	var fields []string
	for _, w := range s.Warnings() {
		fields = append(fields, w.Field)
	}
	assert.Equal(t, []string{"crash_rate", "publish", "publish_error_rate"}, fields)
}
