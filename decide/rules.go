package decide

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Patterns an interaction can end up with.
const (
	Sync   = "sync"
	Async  = "async"
	Hybrid = "hybrid"
)

// Warning is a risk found in the answers, with what to do about it. Path
// points at the answer it is about ("" for the decision as a whole).
type Warning struct {
	Code    string `json:"code"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Advice  string `json:"advice"`

	tmpl, advTmpl string
	vars          []string // placeholder name, raw value pairs
}

// Markdown returns the message and advice with every user-typed value escaped
// for Markdown.
func (w Warning) Markdown() (msg, advice string) {
	esc := make([]string, len(w.vars))
	for i := 0; i < len(w.vars); i += 2 {
		esc[i], esc[i+1] = w.vars[i], EscapeInline(w.vars[i+1])
	}
	return fill(w.tmpl, esc...), fill(w.advTmpl, esc...)
}

// Outcome is the recommendation for one interaction.
type Outcome struct {
	JourneyIndex int    `json:"-"`
	Index        int    `json:"-"`
	Journey      string `json:"journey"`
	Name         string `json:"name"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Recommendation is what the rules say; Pattern is what the record
	// chooses (the team's override when it set one).
	Recommendation string    `json:"recommendation"`
	Pattern        string    `json:"pattern"`
	Event          string    `json:"event,omitempty"`
	Reasons        []string  `json:"reasons"`
	Warnings       []Warning `json:"warnings"`
}

// Result is the framework applied to a whole set of answers.
type Result struct {
	Outcomes []Outcome
	// Warnings are about the decision as a whole (observability, chains,
	// fallback); per-interaction warnings live on each Outcome.
	Warnings []Warning
	// Pattern is sync, async or hybrid over all interactions.
	Pattern string
}

// AllWarnings is every warning, per-interaction ones first, in answer order.
func (r Result) AllWarnings() []Warning {
	var out []Warning
	for _, o := range r.Outcomes {
		out = append(out, o.Warnings...)
	}
	return append(out, r.Warnings...)
}

// Recommend applies the framework's first step to one interaction: if the
// response cannot be given without the answer, or the answer must be
// strongly consistent, the caller waits (sync); otherwise the work is handed
// off (async). It returns the reason codes that drove the choice.
func Recommend(in Interaction) (pattern string, reasons []string) {
	if in.NeedsResponse || in.Consistency == "strong" {
		if in.NeedsResponse {
			reasons = append(reasons, "needs_response")
		}
		if in.Consistency == "strong" {
			reasons = append(reasons, "strong_consistency")
		}
		return Sync, reasons
	}
	reasons = append(reasons, "no_response_needed")
	if in.Consistency == "eventual" {
		reasons = append(reasons, "eventual_ok")
	}
	if !in.UserWaiting {
		reasons = append(reasons, "nobody_waiting")
	}
	if in.Consumers > 1 {
		reasons = append(reasons, "fan_out")
	}
	return Async, reasons
}

// Evaluate applies the rules to every interaction and collects warnings. It
// is pure: the same answers give the same result.
func (t *Text) Evaluate(a Answers) Result {
	var r Result
	anySync, anyAsync, anyDLQ := false, false, false
	for j, jr := range a.Journeys {
		for i, in := range jr.Interactions {
			p := fmt.Sprintf("journeys[%d].interactions[%d]", j, i)
			rec, codes := Recommend(in)
			pattern := rec
			if in.Choice == Sync || in.Choice == Async {
				pattern = in.Choice
				if pattern != rec {
					codes = append(codes, "override_"+pattern)
				}
			}
			o := Outcome{JourneyIndex: j, Index: i, Journey: jr.Name, Name: in.Name, From: in.From, To: in.To,
				Recommendation: rec, Pattern: pattern}
			for _, c := range codes {
				o.Reasons = append(o.Reasons, fill(t.Reasons[c], "consumers", strconv.Itoa(in.Consumers)))
			}
			vars := []string{"interaction", in.Name, "journey", jr.Name, "from", in.From, "to", in.To,
				"consumers", strconv.Itoa(in.Consumers), "event", in.Event}
			warn := func(code, path string, extra ...string) {
				o.Warnings = append(o.Warnings, newWarning(t, code, path, append(append([]string(nil), vars...), extra...)...))
			}
			if pattern == Sync {
				anySync = true
				if in.TimeoutMS == 0 {
					warn("no-timeout", p+".timeout_ms")
				}
				if !in.Breaker {
					warn("no-breaker", p+".circuit_breaker")
				}
				if in.Consumers > 1 {
					warn("sync-fan-out", p+".consumers")
				}
			} else {
				anyAsync = true
				o.Event = in.Event
				if in.NeedsResponse || in.Consistency == "strong" {
					warn("async-needs-strong", p+".choice")
				}
				switch kind, suggestion := CheckEvent(in.Event); {
				case strings.TrimSpace(in.Event) == "":
					warn("missing-event", p+".event")
				case kind == EventCommand:
					warn("command-event", p+".event", "suggestion", suggestion)
				case kind == EventUnclear:
					warn("unclear-event", p+".event")
				}
				if in.Idempotency == "" || in.Idempotency == "none" {
					warn("no-idempotency", p+".idempotency")
				}
				if in.DeadLetter {
					anyDLQ = true
				} else {
					warn("no-dead-letter", p+".dead_letter")
				}
			}
			r.Outcomes = append(r.Outcomes, o)
		}
	}
	for j, jr := range a.Journeys {
		if chain := longestSyncChain(jr); len(chain) > 3 {
			r.Warnings = append(r.Warnings, newWarning(t, "sync-chain", fmt.Sprintf("journeys[%d]", j),
				"journey", jr.Name, "hops", strconv.Itoa(len(chain)-1), "chain", strings.Join(chain, " → ")))
		}
	}
	if anySync && !a.Observability.Tracing {
		r.Warnings = append(r.Warnings, newWarning(t, "no-tracing", "observability.tracing"))
	}
	if anyAsync && !a.Observability.ConsumerLag {
		r.Warnings = append(r.Warnings, newWarning(t, "no-consumer-lag", "observability.consumer_lag"))
	}
	if anyAsync && !(a.Observability.PublishRate && a.Observability.ConsumeRate) {
		r.Warnings = append(r.Warnings, newWarning(t, "no-rates", "observability.publish_rate"))
	}
	if anyDLQ && !a.Observability.DeadLetterAlerts {
		r.Warnings = append(r.Warnings, newWarning(t, "no-dead-letter-alerts", "observability.dead_letter_alerts"))
	}
	if anyAsync && a.Fallback.Retry == "none" {
		r.Warnings = append(r.Warnings, newWarning(t, "no-retry", "fallback.retry"))
	}
	if anyDLQ && strings.TrimSpace(a.Fallback.Runbook) == "" {
		r.Warnings = append(r.Warnings, newWarning(t, "no-runbook", "fallback.runbook"))
	}
	switch {
	case anySync && anyAsync:
		r.Pattern = Hybrid
	case anyAsync:
		r.Pattern = Async
	default:
		r.Pattern = Sync
	}
	return r
}

func newWarning(t *Text, code, path string, vars ...string) Warning {
	adv := t.Warnings[code]
	return Warning{Code: code, Path: path, Message: fill(adv.Message, vars...), Advice: fill(adv.Advice, vars...),
		tmpl: adv.Message, advTmpl: adv.Advice, vars: vars}
}

// longestSyncChain returns the services of the longest chain of synchronous
// calls a waiting user sits through in one journey, in call order. Cycles are
// cut where a service would repeat.
func longestSyncChain(jr Journey) []string {
	next := map[string][]string{}
	var starts []string
	for _, in := range jr.Interactions {
		pattern, _ := Recommend(in)
		if in.Choice == Sync || in.Choice == Async {
			pattern = in.Choice
		}
		if pattern != Sync || !in.UserWaiting {
			continue
		}
		from, to := strings.TrimSpace(in.From), strings.TrimSpace(in.To)
		if _, seen := next[from]; !seen {
			starts = append(starts, from)
		}
		// The same call listed twice is one edge; duplicates would only
		// multiply the paths walked below.
		if !slices.Contains(next[from], to) {
			next[from] = append(next[from], to)
		}
	}
	var best []string
	var walk func(path []string, onPath map[string]bool)
	walk = func(path []string, onPath map[string]bool) {
		if len(path) > len(best) {
			best = append([]string(nil), path...)
		}
		for _, to := range next[path[len(path)-1]] {
			if onPath[to] {
				continue
			}
			onPath[to] = true
			walk(append(path, to), onPath)
			delete(onPath, to)
		}
	}
	for _, s := range starts {
		walk([]string{s}, map[string]bool{s: true})
	}
	return best
}
