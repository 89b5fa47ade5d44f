package labs

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
)

func shippedScenarios(t *testing.T) []*Scenario {
	t.Helper()
	sub, err := fs.Sub(content.FS, "labs")
	require.NoError(t, err)
	scs, err := LoadScenarios(sub)
	require.NoError(t, err)
	return scs
}

func TestShippedScenariosLoadInOrder(t *testing.T) {
	scs := shippedScenarios(t)
	require.Len(t, scs, 15)
	for i, sc := range scs {
		assert.Equal(t, i+1, sc.Order, sc.ID)
		assert.GreaterOrEqual(t, sc.Predict.Correct(), 0, sc.ID)
		assert.NotEmpty(t, sc.Hints, sc.ID)
		assert.Regexp(t, `^/lessons/[a-z0-9-]+#[a-z0-9-]+$`, sc.Lesson.Href, sc.ID)
		assert.NotEmpty(t, sc.Situation, sc.ID)
		assert.NotEmpty(t, sc.Explanation, sc.ID)
		assert.NotEmpty(t, sc.Show, sc.ID)
		assert.Len(t, sc.Predict.Options, 3, sc.ID)
		for _, o := range sc.Predict.Options {
			assert.NotEmpty(t, o.Why, "%s: every option says why", sc.ID)
		}
	}
	assert.Equal(t, "email-down", scs[2].ID)
	var ids []string
	for _, sc := range scs[9:] {
		ids = append(ids, sc.ID)
	}
	assert.Equal(t, []string{"outbox", "time-to-effect", "timeout-took-effect", "long-outage", "slow-work", "sync-chain"}, ids)
}

// Every scenario says what its runs show as checked claims, and each claim
// names runs the scenario has (LoadScenarios refuses the others).
func TestEveryShippedScenarioMakesClaims(t *testing.T) {
	for _, sc := range shippedScenarios(t) {
		assert.GreaterOrEqual(t, len(sc.Claims), 2, sc.ID)
		assert.LessOrEqual(t, len(sc.Claims), 4, sc.ID)
		for _, c := range sc.Claims {
			_, err := parseCheck(c.Check, len(sc.Runs))
			assert.NoError(t, err, sc.ID)
		}
	}
}

// "Pick the longest answer" must not beat thinking: across the scenarios,
// the right option is the longest in at most 40 % of the predictions (the
// rule the knowledge checks of the lessons follow too), and it does not sit
// in the same place most of the time either.
func TestTheRightPredictionIsNotUsuallyTheLongest(t *testing.T) {
	scs := shippedScenarios(t)
	longest := 0
	at := map[int]int{}
	for _, sc := range scs {
		at[sc.Predict.Correct()]++
		right, wrong := 0, 0
		for _, o := range sc.Predict.Options {
			n := utf8.RuneCountInString(strings.Join(strings.Fields(o.Text), " "))
			if o.Correct {
				right = n
			} else {
				wrong = max(wrong, n)
			}
		}
		if right > wrong {
			longest++
			t.Logf("%s: the right option is the longest (%d characters, the longest wrong one %d)", sc.ID, right, wrong)
		}
	}
	assert.LessOrEqual(t, float64(longest), 0.4*float64(len(scs)), "the right option is the longest in %d of %d scenarios", longest, len(scs))
	for i, n := range at {
		assert.LessOrEqual(t, n, len(scs)/2, "the right option is option %d in %d of %d scenarios", i+1, n, len(scs))
	}
}

// The web lab gives each guided run a minute to drain, counted from the end
// of its load or from the recovery of the services, whichever is later; a
// run that only starts draining after minutes would keep a learner waiting.
func TestGuidedRunsFitTheWebLab(t *testing.T) {
	for _, sc := range shippedScenarios(t) {
		plan, err := sc.Plan(DefaultSettings())
		require.NoError(t, err, sc.ID)
		for i, run := range plan {
			l := run.Load
			assert.LessOrEqual(t, l.RecoverAfter, time.Minute, "%s run %d", sc.ID, i+1)
			if l.Rate > 0 {
				assert.LessOrEqual(t, float64(l.Signups)/l.Rate, 60.0, "%s run %d: an open-loop load of at most a minute", sc.ID, i+1)
			}
			assert.LessOrEqual(t, l.Signups, 1000, "%s run %d", sc.ID, i+1)
		}
	}
}

// The settings of the newer scenarios reach the runs: the lease and its
// renewal, a retry policy scaled down in time, a chain, a naive publish.
func TestNewScenarioSettingsReachTheirRuns(t *testing.T) {
	byID := map[string]*Scenario{}
	for _, sc := range shippedScenarios(t) {
		byID[sc.ID] = sc
	}
	plan := func(id string) []PlannedRun {
		t.Helper()
		require.Contains(t, byID, id)
		p, err := byID[id].Plan(DefaultSettings())
		require.NoError(t, err, id)
		return p
	}

	work := plan("slow-work")
	require.Len(t, work, 2)
	for _, r := range work {
		assert.Equal(t, 300*time.Millisecond, r.Settings.Lease)
		assert.Greater(t, r.Settings.Email.Latency, r.Settings.Lease, "the work is slower than the lease")
		assert.False(t, r.Settings.Idempotency)
	}
	assert.True(t, work[0].Settings.NoLeaseRenewal)
	assert.False(t, work[1].Settings.NoLeaseRenewal)

	outage := plan("long-outage")[0]
	assert.True(t, outage.Settings.Email.Down)
	assert.Equal(t, 40*time.Second, outage.Load.RecoverAfter)
	def := DefaultSettings()
	assert.Equal(t, def.MaxRetryAge/15, outage.Settings.MaxRetryAge, "the retry policy is sped up fifteen-fold")
	assert.Equal(t, def.RetryMaxBackoff/15, outage.Settings.RetryMaxBackoff)
	assert.InDelta(t, float64(def.RetryAfter/15), float64(outage.Settings.RetryAfter), float64(time.Millisecond))
	assert.Equal(t, def.MaxDeliveries, outage.Settings.MaxDeliveries)
	assert.Equal(t, 10*time.Minute/15, outage.Load.RecoverAfter, "the outage stands for ten minutes")

	chain := plan("sync-chain")
	assert.Zero(t, chain[0].Settings.ChainDepth)
	assert.Equal(t, 3, chain[1].Settings.ChainDepth)
	assert.Equal(t, 100*time.Millisecond, chain[1].Settings.Chain.Latency)
	assert.InDelta(t, 0.05, chain[1].Settings.Chain.ErrorRate, 1e-9)

	outbox := plan("outbox")
	assert.Equal(t, PublishNaive, outbox[0].Settings.Publish)
	assert.Equal(t, PublishOutbox, outbox[1].Settings.Publish)

	timeout := plan("timeout-took-effect")[0]
	assert.Greater(t, timeout.Settings.Email.Latency, timeout.Settings.Timeout, "the call gives up before the work is done")
}

func TestScenarioPlanAppliesSettingsOverBase(t *testing.T) {
	scs := shippedScenarios(t)
	base := DefaultSettings()
	base.RetryAfter = 50 * time.Millisecond
	plan, err := scs[2].Plan(base)
	require.NoError(t, err)
	require.Len(t, plan, 2)
	assert.Equal(t, ModeSync, plan[0].Settings.Mode)
	assert.True(t, plan[0].Settings.Email.Down)
	assert.Equal(t, time.Second, plan[0].Settings.Timeout)
	assert.Equal(t, 50*time.Millisecond, plan[0].Settings.RetryAfter, "unnamed settings keep the base")
	assert.Equal(t, 200, plan[0].Load.Signups)
	assert.Equal(t, 3*time.Second, plan[1].Load.RecoverAfter)

	poison := scs[6]
	plan, err = poison.Plan(base)
	require.NoError(t, err)
	assert.Equal(t, 1, plan[0].Load.Poison)
	plan, err = scs[5].Plan(base)
	require.NoError(t, err)
	assert.False(t, plan[0].Settings.Idempotency, "no_idempotency turns idempotency off")
}

func TestScenarioGoals(t *testing.T) {
	scs := shippedScenarios(t)
	down := scs[2]
	sync := DefaultSettings()
	sync.Mode, sync.Email.Down = ModeSync, true
	async := sync
	async.Mode = ModeAsync
	assert.False(t, down.GoalReached(nil, 0))
	assert.False(t, down.GoalReached([]Result{{Settings: sync, SignupsAttempted: 200}}, 0))
	assert.False(t, down.GoalReached([]Result{{Settings: sync, SignupsAttempted: 200}, {Settings: async, SignupsAttempted: 10}}, 0), "too few signups")
	assert.True(t, down.GoalReached([]Result{{Settings: sync, SignupsAttempted: 200}, {Settings: async, SignupsAttempted: 200}}, 0))

	slow := scs[1]
	s := DefaultSettings()
	s.Mode, s.Email.Latency = ModeSync, 400*time.Millisecond
	a := s
	a.Mode = ModeAsync
	assert.False(t, slow.GoalReached([]Result{{Settings: s, SignupsAttempted: 60}, {Settings: a, SignupsAttempted: 60}}, 0), "500ms+ means at least 500 ms")
	s.Email.Latency, a.Email.Latency = 800*time.Millisecond, 500*time.Millisecond
	assert.True(t, slow.GoalReached([]Result{{Settings: s, SignupsAttempted: 60}, {Settings: a, SignupsAttempted: 60}}, 0))

	poison := scs[6]
	assert.False(t, poison.GoalReached(nil, 0))
	assert.True(t, poison.GoalReached(nil, 1))

	idem := scs[5]
	off := DefaultSettings()
	off.CrashRate, off.Idempotency = 0.05, false
	on := off
	on.Idempotency = true
	assert.True(t, idem.GoalReached([]Result{{Settings: off, SignupsAttempted: 100}}, 0))
	assert.False(t, idem.GoalReached([]Result{{Settings: on, SignupsAttempted: 100}}, 0))
}

func TestBadScenarioFilesAreRefusedByName(t *testing.T) {
	parts := map[string]string{
		"id": "x", "order": "1", "title": "X",
		"predict": "{prompt: p, options: [{text: a, correct: true}, {text: b}]}",
		"runs":    "[{label: r, settings: {mode: sync}, load: {signups: 10, concurrency: 2}}]",
		"goal":    "[{mode: sync}]",
		"hints":   "[h]",
	}
	doc := func(key, value string) []byte {
		out := ""
		for k, v := range parts {
			if k == key {
				v = value
			}
			out += k + ": " + v + "\n"
		}
		if _, ok := parts[key]; !ok && key != "" {
			out += key + ": " + value + "\n"
		}
		return []byte(out)
	}
	_, err := LoadScenarios(fstest.MapFS{"01-x.yaml": {Data: doc("", "")}})
	require.NoError(t, err)
	for name, bad := range map[string][2]string{
		"unknown setting": {"runs", `[{label: r, settings: {colour: red}, load: {signups: 10, concurrency: 2}}]`},
		"bad value":       {"runs", `[{label: r, settings: {email_error_rate: 2}, load: {signups: 10, concurrency: 2}}]`},
		"bad load":        {"runs", `[{label: r, load: {signups: 0, concurrency: 2}}]`},
		"bad goal":        {"goal", `[{email_latency: fast}]`},
		"two correct":     {"predict", `{prompt: p, options: [{text: a, correct: true}, {text: b, correct: true}]}`},
		"unknown field":   {"colour", `red`},
	} {
		_, err := LoadScenarios(fstest.MapFS{"01-x.yaml": {Data: doc(bad[0], bad[1])}})
		assert.ErrorContains(t, err, "01-x.yaml", name)
		assert.NotContains(t, fmt.Sprint(err), "already defined", name)
	}
}

func TestSetValueNamesTheField(t *testing.T) {
	var s Settings
	var l LoadSpec
	for name, v := range map[string]string{"email_latency": "fast", "crash_rate": "x", "signups": "1.5", "breaker": "maybe", "nope": "1"} {
		err := SetValue(&s, &l, name, v)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, name)
		assert.Equal(t, name, fe.Field)
	}
	require.NoError(t, SetValue(&s, &l, "email_latency", "250ms"))
	assert.Equal(t, 250*time.Millisecond, s.Email.Latency)
	assert.True(t, IsLoadField("signups"))
	assert.False(t, IsLoadField("mode"))
}

func TestClaimsAreChecksOnTheRuns(t *testing.T) {
	sc := &Scenario{ID: "x", Runs: []ScenarioRun{{}, {}}, Claims: []Claim{
		{Says: "sync waits for the slow email", Check: "runs[0].latency_ms.p50 >= 800"},
		{Says: "async answers ten times sooner", Check: "runs[0].latency_ms.p50 > 10 * runs[1].latency_ms.p50"},
		{Says: "nothing is lost", Check: "runs[1].lost == 0"},
		{Says: "half the emails", Check: "runs[1].emails_sent * 2 <= runs[0].signups_attempted"},
	}}
	runs := []Result{
		{Latency: Quantiles{P50: 812.5}, SignupsAttempted: 200},
		{Latency: Quantiles{P50: 3.1}, EmailsSent: 100, Lost: 1},
	}
	got := sc.CheckClaims(runs)
	require.Len(t, got, 4)
	assert.True(t, got[0].Holds)
	assert.Equal(t, "812.5 >= 800", got[0].Got)
	assert.True(t, got[1].Holds)
	assert.Equal(t, "812.5 > 10 × 3.1", got[1].Got)
	assert.False(t, got[2].Holds, "one was lost")
	assert.True(t, got[3].Holds)
	assert.False(t, sc.CheckClaims(runs[:1])[2].Holds, "a claim about a run that did not happen does not hold")

	for _, bad := range []string{"runs[0].latency_ms.p50", "runs[2].lost == 0", "runs[0].no_such == 1", "lost == 0", "runs[0].lost = 0"} {
		_, err := parseCheck(bad, 2)
		assert.Error(t, err, bad)
	}
}
