package decide

import (
	"github.com/crossroads-learn/crossroads/content"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecommend(t *testing.T) {
	cases := []struct {
		name    string
		in      Interaction
		want    string
		reasons []string
	}{
		{"seed: reserve inventory", Interaction{NeedsResponse: true, Consistency: "strong", UserWaiting: true, Consumers: 1}, Sync, []string{"needs_response", "strong_consistency"}},
		{"answer needed, eventual", Interaction{NeedsResponse: true, Consistency: "eventual", UserWaiting: true}, Sync, []string{"needs_response"}},
		{"strong inside one boundary", Interaction{Consistency: "strong"}, Sync, []string{"strong_consistency"}},
		{"welcome email", Interaction{Consistency: "eventual", Consumers: 1}, Async, []string{"no_response_needed", "eventual_ok", "nobody_waiting"}},
		{"user waits but answer not needed", Interaction{Consistency: "eventual", UserWaiting: true, Consumers: 1}, Async, []string{"no_response_needed", "eventual_ok"}},
		{"fan-out", Interaction{Consistency: "eventual", Consumers: 3}, Async, []string{"no_response_needed", "eventual_ok", "nobody_waiting", "fan_out"}},
		{"consistency unset", Interaction{}, Async, []string{"no_response_needed", "nobody_waiting"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reasons := Recommend(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.reasons, reasons)
		})
	}
}

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code+"@"+w.Path)
	}
	return out
}

func TestEvaluateWarnings(t *testing.T) {
	one := func(in Interaction, obs Observability, fb Fallback) Result {
		in.Name, in.From, in.To = "X", "a", "b"
		return shipped.Evaluate(Answers{Journeys: []Journey{{Name: "J", Interactions: []Interaction{in}}}, Observability: obs, Fallback: fb})
	}
	p := "journeys[0].interactions[0]"
	cases := []struct {
		name string
		res  Result
		want []string
	}{
		{"sync without timeout, breaker or tracing",
			one(Interaction{NeedsResponse: true, Consistency: "strong"}, Observability{}, Fallback{}),
			[]string{"no-timeout@" + p + ".timeout_ms", "no-breaker@" + p + ".circuit_breaker", "no-tracing@observability.tracing"}},
		{"sync done right",
			one(Interaction{NeedsResponse: true, Consistency: "strong", TimeoutMS: 500, Breaker: true}, Observability{Tracing: true}, Fallback{}),
			nil},
		{"sync fan-out",
			one(Interaction{Consistency: "strong", TimeoutMS: 1, Breaker: true, Consumers: 3}, Observability{Tracing: true}, Fallback{}),
			[]string{"sync-fan-out@" + p + ".consumers"}},
		{"async with nothing",
			one(Interaction{Consistency: "eventual"}, Observability{}, Fallback{Retry: "none"}),
			[]string{"missing-event@" + p + ".event", "no-idempotency@" + p + ".idempotency", "no-dead-letter@" + p + ".dead_letter",
				"no-consumer-lag@observability.consumer_lag", "no-rates@observability.publish_rate", "no-retry@fallback.retry"}},
		{"async command event, dead letters without alerts or runbook",
			one(Interaction{Consistency: "eventual", Event: "SendWelcomeEmail", Idempotency: "dedup-table", DeadLetter: true}, Observability{ConsumerLag: true}, Fallback{}),
			[]string{"command-event@" + p + ".event", "no-rates@observability.publish_rate", "no-dead-letter-alerts@observability.dead_letter_alerts", "no-runbook@fallback.runbook"}},
		{"async done right",
			one(Interaction{Consistency: "eventual", Event: "UserSignedUp", Idempotency: "upsert", DeadLetter: true},
				Observability{ConsumerLag: true, DeadLetterAlerts: true, PublishRate: true, ConsumeRate: true}, Fallback{Retry: "exponential", Runbook: "wiki"}),
			nil},
		{"async forced where a strong answer is needed",
			one(Interaction{NeedsResponse: true, Consistency: "strong", Choice: "async", Event: "StockReserved", Idempotency: "natural", DeadLetter: true},
				Observability{ConsumerLag: true, DeadLetterAlerts: true, PublishRate: true, ConsumeRate: true}, Fallback{Runbook: "x"}),
			[]string{"async-needs-strong@" + p + ".choice"}},
		{"unclear event",
			one(Interaction{Consistency: "eventual", Event: "OrderConfirmation", Idempotency: "natural", DeadLetter: true},
				Observability{ConsumerLag: true, DeadLetterAlerts: true, PublishRate: true, ConsumeRate: true}, Fallback{Runbook: "x"}),
			[]string{"unclear-event@" + p + ".event"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := codes(tc.res.AllWarnings())
			assert.Equal(t, tc.want, got)
			for _, w := range tc.res.AllWarnings() {
				assert.NotEmpty(t, w.Message, w.Code)
				assert.NotEmpty(t, w.Advice, "every warning says what to do: %s", w.Code)
				assert.NotContains(t, w.Message+w.Advice, "{", "unfilled placeholder in %s", w.Code)
			}
		})
	}
}

func TestSyncChainDeeperThanTwoHops(t *testing.T) {
	hop := func(from, to string, waiting bool) Interaction {
		return Interaction{Name: from + "-" + to, From: from, To: to, NeedsResponse: true, Consistency: "strong", UserWaiting: waiting, TimeoutMS: 1, Breaker: true}
	}
	two := Journey{Name: "Short", Interactions: []Interaction{hop("web", "orders", true), hop("orders", "payments", true)}}
	three := Journey{Name: "Long", Interactions: []Interaction{hop("web", "orders", true), hop("orders", "payments", true), hop("payments", "fraud", true)}}
	notWaiting := Journey{Name: "Batch", Interactions: []Interaction{hop("a", "b", false), hop("b", "c", false), hop("c", "d", false)}}
	cycle := Journey{Name: "Loop", Interactions: []Interaction{hop("a", "b", true), hop("b", "a", true)}}

	res := shipped.Evaluate(Answers{Journeys: []Journey{two, three, notWaiting, cycle}, Observability: Observability{Tracing: true}})
	require.Len(t, res.Warnings, 1)
	w := res.Warnings[0]
	assert.Equal(t, "sync-chain", w.Code)
	assert.Equal(t, "journeys[1]", w.Path)
	assert.Contains(t, w.Message, "web → orders → payments → fraud")
	assert.Contains(t, w.Message, "3 hops")
	assert.Equal(t, Sync, res.Pattern)
}

func TestPatternOverall(t *testing.T) {
	async := Interaction{Name: "n", From: "a", To: "b", Consistency: "eventual"}
	sync := Interaction{Name: "n", From: "a", To: "b", Consistency: "strong"}
	assert.Equal(t, Async, shipped.Evaluate(Answers{Journeys: []Journey{{Interactions: []Interaction{async}}}}).Pattern)
	assert.Equal(t, Hybrid, shipped.Evaluate(Answers{Journeys: []Journey{{Interactions: []Interaction{async, sync}}}}).Pattern)
	override := sync
	override.Choice = "async"
	res := shipped.Evaluate(Answers{Journeys: []Journey{{Interactions: []Interaction{override}}}})
	assert.Equal(t, Sync, res.Outcomes[0].Recommendation)
	assert.Equal(t, Async, res.Outcomes[0].Pattern)
	assert.Contains(t, res.Outcomes[0].Reasons[len(res.Outcomes[0].Reasons)-1], "chose to hand it off")
}

func TestEveryWarningAndReasonHasWords(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	for _, code := range []string{"sync-chain", "async-needs-strong", "command-event", "unclear-event", "missing-event",
		"no-idempotency", "no-dead-letter", "no-consumer-lag", "no-rates", "no-dead-letter-alerts", "no-tracing", "no-timeout",
		"no-breaker", "sync-fan-out", "no-runbook", "no-retry"} {
		assert.NotEmpty(t, txt.Warnings[code].Message, code)
		assert.NotEmpty(t, txt.Warnings[code].Advice, code)
	}
	for _, code := range []string{"needs_response", "strong_consistency", "no_response_needed", "eventual_ok", "nobody_waiting", "fan_out", "override_sync", "override_async"} {
		assert.NotEmpty(t, txt.Reasons[code], code)
	}
	require.Len(t, txt.Steps, 5)
	for _, s := range txt.Steps {
		assert.NotEmpty(t, s.Title)
		assert.NotEmpty(t, s.Intro)
		for _, q := range s.Questions {
			assert.NotEmpty(t, q.Label, q.Field)
			assert.NotEmpty(t, q.Help, q.Field)
			if len(q.OptionLabels) > 0 {
				assert.Len(t, q.OptionLabels, len(q.Options), q.Field)
			}
		}
	}
}

func TestStepOf(t *testing.T) {
	for path, want := range map[string]int{
		"title": 1, "deciders[2]": 1, "context": 1, "journeys": 1, "journeys[0].name": 1, "journeys[1].interactions": 1,
		"journeys[0].interactions[2].consistency": 1, "journeys[0].interactions[2].choice": 1,
		"journeys[0].interactions[0].event":       2,
		"observability.consumer_lag":              3,
		"journeys[3].interactions[0].idempotency": 4,
		"journeys[0].interactions[0].timeout_ms":  5, "journeys[0].interactions[0].dead_letter": 5, "fallback.on_exhausted": 5,
		"status": 0, "date": 0, "(file)": 0,
	} {
		assert.Equal(t, want, shipped.StepOf(path), path)
	}
}

func TestNextStatuses(t *testing.T) {
	assert.Equal(t, []string{"accepted", "rejected"}, NextStatuses(""))
	assert.Equal(t, []string{"deprecated"}, NextStatuses("accepted"))
	assert.Empty(t, NextStatuses("superseded"))
}
