package decide

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Record formats.
const (
	FormatMADR    = "madr"
	FormatNygard  = "nygard"
	FormatMinimal = "minimal"
	FormatJSON    = "json"
)

// Formats lists the formats Render accepts.
var Formats = []string{FormatMADR, FormatNygard, FormatMinimal, FormatJSON}

// Options choose how a record is rendered.
type Options struct {
	Format string // madr (default), nygard, minimal or json
	// Number is the record's number in an ADR folder; Nygard titles show it
	// ("# 3. Title"). Zero leaves it out.
	Number int
}

// Render writes the decision record for a. It reads nothing but its inputs:
// the date comes from a.Date, so equal answers give byte-identical records on
// every surface. Unknown formats are an error; any answers render (the
// wizard previews drafts), though only valid ones should be committed.
func (t *Text) Render(a Answers, opt Options) (string, error) {
	res := t.Evaluate(a)
	switch opt.Format {
	case "", FormatMADR:
		return t.renderMADR(a, res, false), nil
	case FormatMinimal:
		return t.renderMADR(a, res, true), nil
	case FormatNygard:
		return t.renderNygard(a, res, opt.Number), nil
	case FormatJSON:
		return t.renderJSON(a, res)
	}
	return "", fmt.Errorf("format %q: must be %s", opt.Format, orList(Formats))
}

type md struct{ strings.Builder }

func (b *md) line(parts ...string) {
	for _, p := range parts {
		b.WriteString(p)
	}
	b.WriteByte('\n')
}

func (b *md) heading(level int, text string) {
	b.line(strings.Repeat("#", level), " ", text)
	b.line()
}

func (b *md) bullets(items []string) {
	for _, it := range items {
		b.line("* ", it)
	}
	b.line()
}

func (b *md) para(text string) {
	if strings.TrimSpace(text) == "" {
		return
	}
	b.line(text)
	b.line()
}

func titleOf(a Answers) string {
	if strings.TrimSpace(a.Title) == "" {
		return "Untitled decision"
	}
	return EscapeInline(strings.TrimSpace(a.Title))
}

func (t *Text) renderMADR(a Answers, res Result, minimal bool) string {
	var b md
	b.line("---")
	b.line("status: ", yamlValue(a.Status))
	if a.Date != "" {
		b.line("date: ", yamlValue(a.Date))
	}
	if !minimal {
		for _, p := range []struct {
			key   string
			names []string
		}{{"decision-makers", a.Deciders}, {"consulted", a.Consulted}, {"informed", a.Informed}} {
			if len(p.names) > 0 {
				b.line(p.key, ": ", yamlValue(strings.Join(p.names, ", ")))
			}
		}
	}
	b.line("---")
	b.line()
	b.heading(1, titleOf(a))
	b.heading(2, "Context and Problem Statement")
	b.para(EscapeBlock(a.Context))
	interactionTable(&b, t, res)
	if !minimal {
		b.heading(2, "Decision Drivers")
		b.bullets(t.record.Drivers)
	}
	b.heading(2, "Considered Options")
	b.bullets([]string{t.record.Options[Sync].Name, t.record.Options[Async].Name, t.record.Options[Hybrid].Name})
	b.heading(2, "Decision Outcome")
	decisionOutcome(&b, t, res)
	b.heading(3, "Consequences")
	b.bullets(consequences(t, res))
	if !minimal {
		b.heading(3, "Confirmation")
		b.para(t.record.Confirmation["intro"])
		b.bullets(confirmation(t, res))
		b.heading(2, "Pros and Cons of the Options")
		for _, k := range []string{Sync, Async, Hybrid} {
			o := t.record.Options[k]
			b.heading(3, o.Name)
			b.bullets(prosCons(o))
		}
		b.heading(2, "More Information")
		moreInformation(&b, t, a, res, 3)
	} else {
		warningsSection(&b, t, res, 3)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func (t *Text) renderNygard(a Answers, res Result, number int) string {
	var b md
	if number > 0 {
		b.heading(1, fmt.Sprintf("%d. %s", number, titleOf(a)))
	} else {
		b.heading(1, titleOf(a))
	}
	if a.Date != "" {
		b.para("Date: " + EscapeInline(a.Date))
	}
	b.heading(2, "Status")
	b.para(EscapeInline(capitalize(a.Status)))
	b.heading(2, "Context")
	b.para(EscapeBlock(a.Context))
	if len(a.Deciders) > 0 {
		b.para("Decision makers: " + EscapeInline(strings.Join(a.Deciders, ", ")))
	}
	interactionTable(&b, t, res)
	b.heading(2, "Decision")
	decisionOutcome(&b, t, res)
	b.heading(2, "Consequences")
	b.bullets(consequences(t, res))
	b.para(t.record.Confirmation["intro"])
	b.bullets(confirmation(t, res))
	moreInformation(&b, t, a, res, 3)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func interactionTable(b *md, t *Text, res Result) {
	if len(res.Outcomes) == 0 {
		return
	}
	l := t.label
	b.line("| ", strings.Join([]string{l("table_journey"), l("table_interaction"), l("table_from"), l("table_to"),
		l("table_pattern"), l("table_event"), l("table_why")}, " | "), " |")
	b.line("|---|---|---|---|---|---|---|")
	for _, o := range res.Outcomes {
		b.line("| ", strings.Join([]string{cell(o.Journey), cell(o.Name), cell(o.From), cell(o.To),
			l("pattern_" + o.Pattern), cell(o.Event), strings.Join(o.Reasons, "; ")}, " | "), " |")
	}
	b.line()
}

// cell is escaped inline text that never leaves a table cell empty-looking.
func cell(s string) string {
	s = EscapeInline(strings.TrimSpace(s))
	if s == "" {
		return " "
	}
	return s
}

func decisionOutcome(b *md, t *Text, res Result) {
	chosen := t.record.Options[res.Pattern]
	b.para(fmt.Sprintf("Chosen option: \"%s\", because %s.", chosen.Name, t.record.Because[res.Pattern]))
	var items []string
	for _, o := range res.Outcomes {
		items = append(items, fmt.Sprintf("%s / %s (%s → %s): Chosen option: \"%s\", because %s.",
			EscapeInline(o.Journey), EscapeInline(o.Name), EscapeInline(o.From), EscapeInline(o.To),
			t.record.Options[o.Pattern].Name, strings.Join(o.Reasons, "; ")))
	}
	b.bullets(items)
}

func namesWith(res Result, pattern string) []string {
	var out []string
	for _, o := range res.Outcomes {
		if o.Pattern == pattern {
			out = append(out, EscapeInline(o.Name))
		}
	}
	return out
}

func consequences(t *Text, res Result) []string {
	c := t.record.Consequences
	syncs, asyncs := namesWith(res, Sync), namesWith(res, Async)
	var out []string
	if len(syncs) > 0 {
		out = append(out, "Good, because "+fill(c["sync_good"], "list", strings.Join(syncs, ", ")))
	}
	if len(asyncs) > 0 {
		out = append(out, "Good, because "+fill(c["async_good"], "list", strings.Join(asyncs, ", ")))
	}
	if len(syncs) > 0 {
		out = append(out, "Bad, because "+fill(c["sync_bad"], "list", strings.Join(syncs, ", ")))
	}
	if len(asyncs) > 0 {
		out = append(out, "Bad, because "+fill(c["async_bad"], "list", strings.Join(asyncs, ", ")))
	}
	return out
}

func confirmation(t *Text, res Result) []string {
	c := t.record.Confirmation
	syncs, asyncs := strings.Join(namesWith(res, Sync), ", "), strings.Join(namesWith(res, Async), ", ")
	var out []string
	if syncs != "" {
		out = append(out, fill(c["tracing"], "list", syncs), fill(c["timeouts"], "list", syncs))
	}
	if asyncs != "" {
		out = append(out, fill(c["lag"], "list", asyncs), fill(c["duplicates"], "list", asyncs), fill(c["dlq"], "list", asyncs))
	}
	return out
}

func prosCons(o option) []string {
	var out []string
	for _, g := range o.Good {
		out = append(out, "Good, because "+g)
	}
	for _, bd := range o.Bad {
		out = append(out, "Bad, because "+bd)
	}
	return out
}

func moreInformation(b *md, t *Text, a Answers, res Result, level int) {
	for j, jr := range a.Journeys {
		b.heading(level, t.label("table_journey")+": "+EscapeInline(jr.Name))
		b.line("```mermaid")
		b.WriteString(t.Mermaid(a, j))
		b.line("```")
		b.line()
	}
	if hasAsync(res) {
		f := a.Fallback
		l := t.label
		orNot := func(s string) string {
			if strings.TrimSpace(s) == "" {
				return l("not_decided")
			}
			return EscapeInline(s)
		}
		attempts := l("not_decided")
		if f.MaxAttempts > 0 {
			attempts = fmt.Sprint(f.MaxAttempts)
		}
		b.heading(level, l("fallback"))
		b.bullets([]string{
			l("retry") + ": " + orNot(f.Retry),
			l("max_attempts") + ": " + attempts,
			l("dead_letter_destination") + ": " + orNot(f.DeadLetterDestination),
			l("on_exhausted") + ": " + orNot(f.OnExhausted),
			l("runbook") + ": " + orNot(f.Runbook),
		})
	}
	warningsSection(b, t, res, level)
	b.para(t.label("generated"))
}

func hasAsync(res Result) bool {
	for _, o := range res.Outcomes {
		if o.Pattern == Async {
			return true
		}
	}
	return false
}

func warningsSection(b *md, t *Text, res Result, level int) {
	b.heading(level, t.label("warnings"))
	ws := res.AllWarnings()
	if len(ws) == 0 {
		b.para(t.label("no_warnings"))
		return
	}
	var items []string
	for _, w := range ws {
		msg, adv := w.Markdown()
		items = append(items, msg+" "+adv)
	}
	b.bullets(items)
}

// Mermaid draws journey j as a flowchart: synchronous calls are solid arrows
// labelled with the interaction, asynchronous ones dashed and labelled with
// the event.
func (t *Text) Mermaid(a Answers, j int) string {
	if j < 0 || j >= len(a.Journeys) {
		return ""
	}
	res := t.Evaluate(Answers{Journeys: []Journey{a.Journeys[j]}})
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	node := func(name string) string {
		name = strings.TrimSpace(name)
		if id, ok := ids[name]; ok {
			return id
		}
		id := fmt.Sprintf("n%d", len(ids))
		ids[name] = id
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", id, mermaidLabel(name))
		return id
	}
	type edge struct{ from, to, arrow, label string }
	var edges []edge
	for _, o := range res.Outcomes {
		from, to := node(o.From), node(o.To)
		e := edge{from, to, "-->", o.Name}
		if o.Pattern == Async {
			e.arrow, e.label = "-.->", o.Event
			if strings.TrimSpace(e.label) == "" {
				e.label = o.Name
			}
		}
		edges = append(edges, e)
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", e.from, e.arrow, mermaidLabel(e.label), e.to)
	}
	return b.String()
}

// JSONResult is the machine-readable result that --format json prints: the
// overall pattern, each interaction's recommendation with its reasons and
// warnings, every warning, and the MADR record.
type JSONResult struct {
	Title        string    `json:"title"`
	Pattern      string    `json:"pattern"`
	Interactions []Outcome `json:"interactions"`
	Warnings     []Warning `json:"warnings"`
	ADRMarkdown  string    `json:"adr_markdown"`
}

func (t *Text) renderJSON(a Answers, res Result) (string, error) {
	out := JSONResult{Title: a.Title, Pattern: res.Pattern, Interactions: res.Outcomes, Warnings: res.AllWarnings(),
		ADRMarkdown: t.renderMADR(a, res, false)}
	if out.Interactions == nil {
		out.Interactions = []Outcome{}
	}
	if out.Warnings == nil {
		out.Warnings = []Warning{}
	}
	for i := range out.Interactions {
		if out.Interactions[i].Warnings == nil {
			out.Interactions[i].Warnings = []Warning{}
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode result: %w", err)
	}
	return string(b) + "\n", nil
}
