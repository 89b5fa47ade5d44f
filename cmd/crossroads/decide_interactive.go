package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/charmbracelet/huh"

	"github.com/crossroads-learn/crossroads/decide"
)

// askInteractively runs the five steps as terminal forms. Every label and
// help text comes from content/decide, the same words the web wizard uses.
//
// In accessible mode (for screen readers, or input from a pipe) huh asks
// one plain line at a time on in and out instead of drawing a full-screen
// form.
func askInteractively(ctx context.Context, in io.Reader, out io.Writer, accessible bool) (decide.Answers, error) {
	txt, err := decide.Questionnaire()
	if err != nil {
		return decide.Answers{}, err
	}
	q := &asker{ctx: ctx, txt: txt, in: &lineAtATime{br: bufio.NewReader(in)}, out: out, accessible: accessible}
	a := decide.Answers{Status: "proposed"}
	if err := q.stepJourneys(&a); err != nil {
		return a, err
	}
	if err := q.stepEvents(&a); err != nil {
		return a, err
	}
	if err := q.stepObservability(&a); err != nil {
		return a, err
	}
	if err := q.stepIdempotency(&a); err != nil {
		return a, err
	}
	if err := q.stepFallback(&a); err != nil {
		return a, err
	}
	if err := decide.Validate(a); err != nil {
		return a, usagef("invalid answers:\n%v", err)
	}
	for _, w := range decide.Evaluate(a).AllWarnings() {
		fmt.Fprintf(out, "! %s\n", w.Message)
	}
	return a, nil
}

// lineAtATime returns at most one line per Read. huh's plain mode starts a
// new scanner for every question, which would swallow the answers that
// follow when they arrive together, as they do from a pipe.
type lineAtATime struct {
	br   *bufio.Reader
	rest []byte
}

func (r *lineAtATime) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		line, err := r.br.ReadBytes('\n')
		if len(line) == 0 {
			return 0, err
		}
		r.rest = line
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

type asker struct {
	ctx        context.Context
	txt        *decide.Text
	in         io.Reader
	out        io.Writer
	accessible bool
	shown      int // the step whose title plain mode printed last
}

func (q *asker) form(g *huh.Group) *huh.Form {
	f := huh.NewForm(g)
	if q.accessible {
		f = f.WithAccessible(true).WithInput(q.in).WithOutput(q.out)
	}
	return f
}

func (q *asker) run(step int, fields ...huh.Field) error {
	s := q.txt.Steps[step]
	title := fmt.Sprintf("%d/5 %s", step+1, s.Title)
	g := huh.NewGroup(fields...).Title(title).Description(s.Intro)
	if q.accessible && q.shown != step+1 {
		// Plain mode prints no group titles; say which step this is once.
		fmt.Fprintf(q.out, "\n%s\n%s\n\n", title, s.Intro)
		q.shown = step + 1
	}
	err := q.form(g).RunWithContext(q.ctx)
	if errors.Is(err, huh.ErrUserAborted) {
		return usagef("questionnaire cancelled")
	}
	if err != nil {
		return fmt.Errorf("questionnaire: %w", err)
	}
	return nil
}

func (q *asker) input(step int, scope, field string, v *string, validate func(string) error) *huh.Input {
	qq := q.txt.Steps[step].Question(scope, field)
	in := huh.NewInput().Title(qq.Label).Description(qq.Help).Value(v)
	if validate != nil {
		in = in.Validate(validate)
	}
	return in
}

func (q *asker) confirm(step int, scope, field string, v *bool) *huh.Confirm {
	qq := q.txt.Steps[step].Question(scope, field)
	return huh.NewConfirm().Title(qq.Label).Description(qq.Help).Value(v)
}

func (q *asker) choose(step int, scope, field string, v *string) *huh.Select[string] {
	qq := q.txt.Steps[step].Question(scope, field)
	var opts []huh.Option[string]
	for i, o := range qq.Options {
		label := o
		if i < len(qq.OptionLabels) {
			label = qq.OptionLabels[i]
		}
		opts = append(opts, huh.NewOption(label, o))
	}
	return huh.NewSelect[string]().Title(qq.Label).Description(qq.Help).Options(opts...).Value(v)
}

func required(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("this answer is required")
	}
	return nil
}

func wholeNumber(s string) error {
	if s == "" {
		return nil
	}
	if n, err := strconv.Atoi(s); err != nil || n < 0 {
		return errors.New("enter a whole number, zero or more")
	}
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (q *asker) stepJourneys(a *decide.Answers) error {
	var deciders, consulted string
	if err := q.run(0,
		q.input(0, "", "title", &a.Title, required),
		q.input(0, "", "deciders", &deciders, nil),
		q.input(0, "", "consulted", &consulted, nil),
		huh.NewText().Title(q.txt.Steps[0].Question("", "context").Label).Description(q.txt.Steps[0].Question("", "context").Help).Value(&a.Context),
	); err != nil {
		return err
	}
	a.Deciders, a.Consulted = decide.SplitNames(deciders), decide.SplitNames(consulted)
	for moreJourneys := true; moreJourneys && len(a.Journeys) < decide.MaxJourneys; {
		var j decide.Journey
		if err := q.run(0, q.input(0, "journey", "name", &j.Name, required)); err != nil {
			return err
		}
		for moreInteractions := true; moreInteractions && len(j.Interactions) < decide.MaxInteractions; {
			in := decide.Interaction{Consistency: "eventual"}
			consumers, rps := "1", "0"
			if err := q.run(0,
				q.input(0, "interaction", "name", &in.Name, required),
				q.input(0, "interaction", "from", &in.From, required),
				q.input(0, "interaction", "to", &in.To, required),
				q.confirm(0, "interaction", "needs_response", &in.NeedsResponse),
				q.choose(0, "interaction", "consistency", &in.Consistency),
				q.confirm(0, "interaction", "user_waiting", &in.UserWaiting),
				q.input(0, "interaction", "consumers", &consumers, wholeNumber),
				q.input(0, "interaction", "peak_rps", &rps, wholeNumber),
				q.choose(0, "interaction", "choice", &in.Choice),
				huh.NewConfirm().Title(q.txt.Prompts["another_interaction"]).Value(&moreInteractions),
			); err != nil {
				return err
			}
			in.Consumers, in.PeakRPS = atoi(consumers), atoi(rps)
			j.Interactions = append(j.Interactions, in)
		}
		a.Journeys = append(a.Journeys, j)
		if err := q.form(huh.NewGroup(huh.NewConfirm().Title(q.txt.Prompts["another_journey"]).Value(&moreJourneys))).RunWithContext(q.ctx); err != nil {
			return usagef("questionnaire cancelled")
		}
	}
	return nil
}

// each calls fn for every interaction whose chosen pattern is want.
func each(a *decide.Answers, want string, fn func(o decide.Outcome, in *decide.Interaction)) {
	for _, o := range decide.Evaluate(*a).Outcomes {
		if o.Pattern == want {
			fn(o, &a.Journeys[o.JourneyIndex].Interactions[o.Index])
		}
	}
}

func (q *asker) note(step int, key string) error {
	return q.run(step, huh.NewNote().Title(q.txt.Prompts[key]))
}

func (q *asker) stepEvents(a *decide.Answers) error {
	var fields []huh.Field
	each(a, decide.Async, func(o decide.Outcome, in *decide.Interaction) {
		f := q.input(1, "interaction", "event", &in.Event, nil)
		fields = append(fields, f.Title(o.Journey+" / "+o.Name+": "+q.txt.Steps[1].Question("interaction", "event").Label).
			Validate(func(s string) error {
				if kind, suggestion := decide.CheckEvent(s); kind == decide.EventCommand {
					return fmt.Errorf("%s reads as a command; try %s", s, suggestion)
				}
				return nil
			}))
	})
	if len(fields) == 0 {
		return q.note(1, "no_async")
	}
	return q.run(1, fields...)
}

func (q *asker) stepObservability(a *decide.Answers) error {
	o := &a.Observability
	return q.run(2,
		q.confirm(2, "observability", "tracing", &o.Tracing),
		q.confirm(2, "observability", "publish_rate", &o.PublishRate),
		q.confirm(2, "observability", "consume_rate", &o.ConsumeRate),
		q.confirm(2, "observability", "consumer_lag", &o.ConsumerLag),
		q.confirm(2, "observability", "dead_letter_alerts", &o.DeadLetterAlerts),
	)
}

func (q *asker) stepIdempotency(a *decide.Answers) error {
	var fields []huh.Field
	each(a, decide.Async, func(o decide.Outcome, in *decide.Interaction) {
		if in.Idempotency == "" {
			in.Idempotency = "none"
		}
		fields = append(fields, q.choose(3, "interaction", "idempotency", &in.Idempotency).Title(o.Journey+" / "+o.Name))
	})
	if len(fields) == 0 {
		return q.note(3, "no_async")
	}
	return q.run(3, fields...)
}

func (q *asker) stepFallback(a *decide.Answers) error {
	var fields []huh.Field
	timeouts := map[*decide.Interaction]*string{}
	each(a, decide.Sync, func(o decide.Outcome, in *decide.Interaction) {
		s := "0"
		timeouts[in] = &s
		fields = append(fields,
			q.input(4, "interaction", "timeout_ms", &s, wholeNumber).Title(o.Journey+" / "+o.Name+": "+q.txt.Steps[4].Question("interaction", "timeout_ms").Label),
			q.confirm(4, "interaction", "circuit_breaker", &in.Breaker))
	})
	anyAsync := false
	each(a, decide.Async, func(o decide.Outcome, in *decide.Interaction) {
		anyAsync = true
		fields = append(fields, q.confirm(4, "interaction", "dead_letter", &in.DeadLetter).Title(o.Journey+" / "+o.Name+": "+q.txt.Steps[4].Question("interaction", "dead_letter").Label))
	})
	f := &a.Fallback
	attempts := "0"
	if anyAsync {
		f.Retry, f.OnExhausted = "exponential", "dead-letter"
		fields = append(fields,
			q.choose(4, "fallback", "retry", &f.Retry),
			q.input(4, "fallback", "max_attempts", &attempts, wholeNumber),
			q.input(4, "fallback", "dead_letter_destination", &f.DeadLetterDestination, nil),
			q.input(4, "fallback", "runbook", &f.Runbook, nil),
			q.choose(4, "fallback", "on_exhausted", &f.OnExhausted))
	}
	if len(fields) == 0 {
		return nil
	}
	if err := q.run(4, fields...); err != nil {
		return err
	}
	for in, s := range timeouts {
		in.TimeoutMS = atoi(*s)
	}
	f.MaxAttempts = atoi(attempts)
	return nil
}
