package server

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crossroads-learn/crossroads/decide"
)

// The wizard's form fields are named by their path in the answers file
// (journeys[0].interactions[2].consistency), so a validation error from the
// decide package lands next to the input it is about without translation.

type decideOption struct {
	Value, Label, ID string
	Selected         bool
}

type decideField struct {
	Name, ID, Kind, Label, Help, Value, Error string
	// Hints are the framework's warnings about this answer: advice, not
	// errors, so the learner may go on.
	Hints   []decide.Warning
	Checked bool
	Options []decideOption
}

type decideInteractionView struct {
	J, I        int
	Heading     string
	Pattern     string
	Fields      []decideField
	RemoveValue string
}

type decideJourneyView struct {
	J, Num            int
	Name              decideField
	Error             string
	Interactions      []decideInteractionView
	CanAddInteraction bool
	AddValue          string
	RemoveValue       string
}

type decideErrorLink struct {
	ID, Msg, Path string
}

func decideFieldID(path string) string {
	r := strings.NewReplacer("[", "-", "]", "", ".", "-", "_", "-")
	return "f-" + r.Replace(path)
}

// kinds says how each answer is asked; anything not listed is a text input.
var decideFieldKinds = map[string]string{
	"context": "textarea", "runbook": "textarea",
	"needs_response": "yesno", "user_waiting": "yesno",
	"tracing": "checkbox", "publish_rate": "checkbox", "consume_rate": "checkbox", "consumer_lag": "checkbox",
	"dead_letter_alerts": "checkbox", "circuit_breaker": "checkbox", "dead_letter": "checkbox",
	"consumers": "number", "peak_rps": "number", "timeout_ms": "number", "max_attempts": "number",
	"consistency": "radio",
}

func newDecideField(step decide.Step, scope, field, path, value string, checked bool, errs map[string]string) decideField {
	q := step.Question(scope, field)
	f := decideField{Name: path, ID: decideFieldID(path), Label: q.Label, Help: q.Help, Value: value, Checked: checked,
		Error: errs[path], Kind: decideFieldKinds[field]}
	if f.Kind == "" {
		f.Kind = "text"
		if len(q.Options) > 0 {
			f.Kind = "select"
		}
	}
	if f.Kind == "yesno" {
		if txt, err := decide.Questionnaire(); err == nil {
			f.Options = []decideOption{
				{Value: "yes", Label: txt.Prompts["yes"], ID: f.ID + "-yes", Selected: checked},
				{Value: "no", Label: txt.Prompts["no"], ID: f.ID + "-no", Selected: !checked},
			}
		}
		return f
	}
	for i, o := range q.Options {
		label := o
		if i < len(q.OptionLabels) {
			label = q.OptionLabels[i]
		}
		f.Options = append(f.Options, decideOption{Value: o, Label: label, ID: fmt.Sprintf("%s-%d", f.ID, i), Selected: o == value})
	}
	return f
}

func decideInteractionHeading(o decide.Outcome) string {
	return fmt.Sprintf("%s / %s (%s → %s)", o.Journey, o.Name, o.From, o.To)
}

// decideStepFields builds the view of step n (1-5) for answers a.
func decideStepFields(txt *decide.Text, n int, a decide.Answers, errs map[string]string) (fields []decideField, journeys []decideJourneyView, groups []decideInteractionView, after []decideField) {
	defer func() {
		hints := map[string][]decide.Warning{}
		for _, w := range decide.Evaluate(a).AllWarnings() {
			hints[w.Path] = append(hints[w.Path], w)
		}
		add := func(fs []decideField) {
			for k := range fs {
				fs[k].Hints = hints[fs[k].Name]
			}
		}
		add(fields)
		add(after)
		for _, g := range groups {
			add(g.Fields)
		}
		for _, j := range journeys {
			for _, iv := range j.Interactions {
				add(iv.Fields)
			}
		}
	}()
	st := txt.Steps[n-1]
	res := decide.Evaluate(a)
	patternOf := map[[2]int]string{}
	for _, o := range res.Outcomes {
		patternOf[[2]int{o.JourneyIndex, o.Index}] = o.Pattern
	}
	ipath := func(j, i int, f string) string { return fmt.Sprintf("journeys[%d].interactions[%d].%s", j, i, f) }
	switch n {
	case 1:
		fields = []decideField{
			newDecideField(st, "", "title", "title", a.Title, false, errs),
			newDecideField(st, "", "deciders", "deciders", strings.Join(a.Deciders, ", "), false, errs),
			newDecideField(st, "", "consulted", "consulted", strings.Join(a.Consulted, ", "), false, errs),
			newDecideField(st, "", "informed", "informed", strings.Join(a.Informed, ", "), false, errs),
			newDecideField(st, "", "context", "context", a.Context, false, errs),
		}
		for j, jr := range a.Journeys {
			jp := fmt.Sprintf("journeys[%d]", j)
			jv := decideJourneyView{J: j, Num: j + 1, Name: newDecideField(st, "journey", "name", jp+".name", jr.Name, false, errs),
				Error: errs[jp+".interactions"], CanAddInteraction: len(jr.Interactions) < decide.MaxInteractions,
				AddValue: fmt.Sprintf("add-interaction:%d", j), RemoveValue: fmt.Sprintf("remove-journey:%d", j)}
			for i, in := range jr.Interactions {
				f := func(field, value string, checked bool) decideField {
					return newDecideField(st, "interaction", field, ipath(j, i, field), value, checked, errs)
				}
				iv := decideInteractionView{J: j, I: i, Heading: fmt.Sprintf("%d. %s", i+1, in.Name), Pattern: patternOf[[2]int{j, i}],
					RemoveValue: fmt.Sprintf("remove-interaction:%d:%d", j, i),
					Fields: []decideField{
						f("name", in.Name, false), f("from", in.From, false), f("to", in.To, false),
						f("needs_response", "", in.NeedsResponse), f("consistency", in.Consistency, false),
						f("user_waiting", "", in.UserWaiting), f("consumers", strconv.Itoa(in.Consumers), false),
						f("peak_rps", strconv.Itoa(in.PeakRPS), false), f("choice", in.Choice, false),
					}}
				jv.Interactions = append(jv.Interactions, iv)
			}
			journeys = append(journeys, jv)
		}
	case 2, 4:
		for _, o := range res.Outcomes {
			if o.Pattern != decide.Async {
				continue
			}
			in := a.Journeys[o.JourneyIndex].Interactions[o.Index]
			field, value := "event", in.Event
			if n == 4 {
				field, value = "idempotency", in.Idempotency
			}
			groups = append(groups, decideInteractionView{J: o.JourneyIndex, I: o.Index, Heading: decideInteractionHeading(o), Pattern: o.Pattern,
				Fields: []decideField{newDecideField(st, "interaction", field, ipath(o.JourneyIndex, o.Index, field), value, false, errs)}})
		}
	case 3:
		ob := a.Observability
		for _, x := range []struct {
			f string
			v bool
		}{{"tracing", ob.Tracing}, {"publish_rate", ob.PublishRate}, {"consume_rate", ob.ConsumeRate},
			{"consumer_lag", ob.ConsumerLag}, {"dead_letter_alerts", ob.DeadLetterAlerts}} {
			fields = append(fields, newDecideField(st, "observability", x.f, "observability."+x.f, "", x.v, errs))
		}
	case 5:
		anyAsync := false
		for _, o := range res.Outcomes {
			in := a.Journeys[o.JourneyIndex].Interactions[o.Index]
			g := decideInteractionView{J: o.JourneyIndex, I: o.Index, Heading: decideInteractionHeading(o), Pattern: o.Pattern}
			p := func(f string) string { return ipath(o.JourneyIndex, o.Index, f) }
			if o.Pattern == decide.Sync {
				g.Fields = []decideField{
					newDecideField(st, "interaction", "timeout_ms", p("timeout_ms"), strconv.Itoa(in.TimeoutMS), false, errs),
					newDecideField(st, "interaction", "circuit_breaker", p("circuit_breaker"), "", in.Breaker, errs),
				}
			} else {
				anyAsync = true
				g.Fields = []decideField{newDecideField(st, "interaction", "dead_letter", p("dead_letter"), "", in.DeadLetter, errs)}
			}
			groups = append(groups, g)
		}
		if anyAsync {
			fb := a.Fallback
			after = []decideField{
				newDecideField(st, "fallback", "retry", "fallback.retry", fb.Retry, false, errs),
				newDecideField(st, "fallback", "max_attempts", "fallback.max_attempts", strconv.Itoa(fb.MaxAttempts), false, errs),
				newDecideField(st, "fallback", "dead_letter_destination", "fallback.dead_letter_destination", fb.DeadLetterDestination, false, errs),
				newDecideField(st, "fallback", "runbook", "fallback.runbook", fb.Runbook, false, errs),
				newDecideField(st, "fallback", "on_exhausted", "fallback.on_exhausted", fb.OnExhausted, false, errs),
			}
			// Selects need a "not decided" choice so an empty answer stays empty.
			for k := range after {
				if after[k].Kind == "select" {
					after[k].Options = append([]decideOption{{Value: "", Label: "—", ID: after[k].ID + "-none", Selected: after[k].Value == ""}}, after[k].Options...)
				}
			}
		}
	}
	return fields, journeys, groups, after
}

// mergeDecideStep copies the posted answers of step n into a copy of a. Numbers
// that do not parse are reported by path and leave the old value. Only the
// questions the step showed are read, so other steps' answers are never
// lost.
func mergeDecideStep(a decide.Answers, n int, form url.Values) (decide.Answers, []decide.FieldError) {
	b := a.Clone()
	var errs []decide.FieldError
	str := func(key string, dst *string) {
		if form.Has(key) {
			*dst = strings.TrimSpace(form.Get(key))
		}
	}
	names := func(key string, dst *[]string) {
		if form.Has(key) {
			*dst = decide.SplitNames(form.Get(key))
		}
	}
	num := func(key string, dst *int) {
		if !form.Has(key) {
			return
		}
		v := strings.TrimSpace(form.Get(key))
		if v == "" {
			*dst = 0
			return
		}
		x, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, decide.FieldError{Path: key, Msg: "must be a whole number"})
			return
		}
		*dst = x
	}
	check := func(key string, dst *bool) { *dst = form.Get(key) == "on" || form.Get(key) == "true" }
	yesno := func(key string, dst *bool) {
		if form.Has(key) {
			*dst = form.Get(key) == "yes"
		}
	}
	ip := func(j, i int, f string) string { return fmt.Sprintf("journeys[%d].interactions[%d].%s", j, i, f) }
	res := decide.Evaluate(a)
	switch n {
	case 1:
		str("title", &b.Title)
		names("deciders", &b.Deciders)
		names("consulted", &b.Consulted)
		names("informed", &b.Informed)
		if form.Has("context") {
			b.Context = strings.ReplaceAll(form.Get("context"), "\r\n", "\n")
		}
		for j := range b.Journeys {
			str(fmt.Sprintf("journeys[%d].name", j), &b.Journeys[j].Name)
			for i := range b.Journeys[j].Interactions {
				in := &b.Journeys[j].Interactions[i]
				str(ip(j, i, "name"), &in.Name)
				str(ip(j, i, "from"), &in.From)
				str(ip(j, i, "to"), &in.To)
				yesno(ip(j, i, "needs_response"), &in.NeedsResponse)
				str(ip(j, i, "consistency"), &in.Consistency)
				yesno(ip(j, i, "user_waiting"), &in.UserWaiting)
				num(ip(j, i, "consumers"), &in.Consumers)
				num(ip(j, i, "peak_rps"), &in.PeakRPS)
				str(ip(j, i, "choice"), &in.Choice)
			}
		}
	case 2, 4:
		for _, o := range res.Outcomes {
			if o.Pattern != decide.Async {
				continue
			}
			in := &b.Journeys[o.JourneyIndex].Interactions[o.Index]
			if n == 2 {
				str(ip(o.JourneyIndex, o.Index, "event"), &in.Event)
			} else {
				str(ip(o.JourneyIndex, o.Index, "idempotency"), &in.Idempotency)
			}
		}
	case 3:
		ob := &b.Observability
		check("observability.tracing", &ob.Tracing)
		check("observability.publish_rate", &ob.PublishRate)
		check("observability.consume_rate", &ob.ConsumeRate)
		check("observability.consumer_lag", &ob.ConsumerLag)
		check("observability.dead_letter_alerts", &ob.DeadLetterAlerts)
	case 5:
		for _, o := range res.Outcomes {
			in := &b.Journeys[o.JourneyIndex].Interactions[o.Index]
			if o.Pattern == decide.Sync {
				num(ip(o.JourneyIndex, o.Index, "timeout_ms"), &in.TimeoutMS)
				check(ip(o.JourneyIndex, o.Index, "circuit_breaker"), &in.Breaker)
			} else {
				check(ip(o.JourneyIndex, o.Index, "dead_letter"), &in.DeadLetter)
			}
		}
		f := &b.Fallback
		str("fallback.retry", &f.Retry)
		num("fallback.max_attempts", &f.MaxAttempts)
		str("fallback.dead_letter_destination", &f.DeadLetterDestination)
		str("fallback.runbook", &f.Runbook)
		str("fallback.on_exhausted", &f.OnExhausted)
	}
	return b, errs
}

// applyDecideAction performs a structural button (add or remove a journey or an
// interaction) on a. It reports false for an action it does not know.
func applyDecideAction(a *decide.Answers, action string) (ok bool, fe *decide.FieldError) {
	parts := strings.Split(action, ":")
	idx := func(k int, max int) (int, bool) {
		if k >= len(parts) {
			return 0, false
		}
		n, err := strconv.Atoi(parts[k])
		return n, err == nil && n >= 0 && n < max
	}
	switch parts[0] {
	case "add-journey":
		if len(a.Journeys) >= decide.MaxJourneys {
			return true, &decide.FieldError{Path: "journeys", Msg: fmt.Sprintf("must list at most %d journeys", decide.MaxJourneys)}
		}
		a.Journeys = append(a.Journeys, decide.Journey{Interactions: []decide.Interaction{newDecideInteraction()}})
		return true, nil
	case "remove-journey":
		j, ok := idx(1, len(a.Journeys))
		if !ok {
			return false, nil
		}
		a.Journeys = slices.Delete(a.Journeys, j, j+1)
		return true, nil
	case "add-interaction":
		j, ok := idx(1, len(a.Journeys))
		if !ok {
			return false, nil
		}
		if len(a.Journeys[j].Interactions) >= decide.MaxInteractions {
			return true, &decide.FieldError{Path: fmt.Sprintf("journeys[%d].interactions", j), Msg: fmt.Sprintf("must list at most %d interactions", decide.MaxInteractions)}
		}
		a.Journeys[j].Interactions = append(a.Journeys[j].Interactions, newDecideInteraction())
		return true, nil
	case "remove-interaction":
		j, ok := idx(1, len(a.Journeys))
		if !ok {
			return false, nil
		}
		i, ok := idx(2, len(a.Journeys[j].Interactions))
		if !ok {
			return false, nil
		}
		a.Journeys[j].Interactions = slices.Delete(a.Journeys[j].Interactions, i, i+1)
		return true, nil
	}
	return false, nil
}

func newDecideInteraction() decide.Interaction {
	return decide.Interaction{Consumers: 1, Idempotency: "none"}
}

// blankDecideAnswers is where "start from scratch" begins: one empty journey with
// one empty interaction to fill in.
func blankDecideAnswers() decide.Answers {
	return decide.Answers{Status: "proposed", Journeys: []decide.Journey{{Interactions: []decide.Interaction{newDecideInteraction()}}}}
}
