package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/charmbracelet/huh"

	"github.com/crossroads-learn/crossroads/decide"
)

// askInteractively runs the five steps as terminal forms. Every label and
// help text comes from content/decide, the same words the web wizard uses.
//
// In accessible mode (for screen readers, or input from a pipe) huh asks
// one plain line at a time on in and out instead of drawing a full-screen
// form.
func askInteractively(ctx context.Context, txt *decide.Text, in io.Reader, out io.Writer, accessible bool) (decide.Answers, error) {
	q := &asker{ctx: ctx, txt: txt, in: &lineAtATime{br: bufio.NewReader(in)}, out: out, accessible: accessible}
	a := decide.Answers{Status: "proposed"}
	if err := q.stepJourneys(&a); err != nil {
		return a, err
	}
	for n := 2; n <= 5; n++ {
		for _, it := range q.txt.Items(a, n) {
			// Where an option must be picked, start from the one the
			// lessons teach: none until a handler says how it copes,
			// exponential backoff, then the dead-letter queue.
			if suggested := suggestions[it.Field]; suggested != "" && it.Value(&a) == "" {
				it.Set(&a, suggested)
			}
		}
		if err := q.stepRest(&a, n); err != nil {
			return a, err
		}
	}
	if err := decide.Validate(a); err != nil {
		return a, usagef("invalid answers:\n%v", err)
	}
	for _, w := range txt.Evaluate(a).AllWarnings() {
		fmt.Fprintf(out, "! %s\n", w.Message)
	}
	return a, nil
}

// suggestions are the terminal's starting answers for the option questions
// of steps 2-5.
var suggestions = map[string]string{"idempotency": "none", "retry": "exponential", "on_exhausted": "dead-letter"}

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

// ask runs one form of the items of a step, plus any extra fields (the
// "another one?" questions), and stores each answer in a. Every label, help
// text and option comes from the questionnaire, as on the web.
func (q *asker) ask(a *decide.Answers, items []decide.Item, extra ...huh.Field) error {
	if len(items) == 0 && len(extra) == 0 {
		return nil
	}
	step := 0
	texts := make([]*string, len(items))
	bools := make([]*bool, len(items))
	var fields []huh.Field
	for k, it := range items {
		step = it.Step - 1
		title := it.Label
		if it.Step > 1 && it.I >= 0 {
			o := a.Journeys[it.J]
			title = o.Name + " / " + o.Interactions[it.I].Name + ": " + it.Label
		}
		switch it.Kind {
		case decide.KindYesNo, decide.KindCheck:
			v := it.Value(a) == "yes" || it.Value(a) == "on"
			bools[k] = &v
			fields = append(fields, huh.NewConfirm().Title(title).Description(it.Help).Value(&v))
		case decide.KindRadio, decide.KindSelect:
			v := it.Value(a)
			texts[k] = &v
			values, labels := it.Choices()
			opts := make([]huh.Option[string], len(values))
			for i := range values {
				opts[i] = huh.NewOption(labels[i], values[i])
			}
			fields = append(fields, huh.NewSelect[string]().Title(title).Description(it.Help).Options(opts...).Value(&v))
		case decide.KindLong:
			v := it.Value(a)
			texts[k] = &v
			fields = append(fields, huh.NewText().Title(title).Description(it.Help).Value(&v))
		default:
			v := it.Value(a)
			texts[k] = &v
			fields = append(fields, huh.NewInput().Title(title).Description(it.Help).Value(&v).Validate(it.Check))
		}
	}
	if err := q.run(step, append(fields, extra...)...); err != nil {
		return err
	}
	for k, it := range items {
		v := ""
		switch {
		case bools[k] != nil && *bools[k] && it.Kind == decide.KindYesNo:
			v = "yes"
		case bools[k] != nil && *bools[k]:
			v = "on"
		case texts[k] != nil:
			v = *texts[k]
		}
		if err := it.Set(a, v); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// where keeps the items about journey j and interaction i (-1: none).
func where(items []decide.Item, j, i int) []decide.Item {
	var out []decide.Item
	for _, it := range items {
		if it.J == j && it.I == i {
			out = append(out, it)
		}
	}
	return out
}

func (q *asker) stepJourneys(a *decide.Answers) error {
	if err := q.ask(a, where(q.txt.Items(*a, 1), -1, -1)); err != nil {
		return err
	}
	for moreJourneys := true; moreJourneys && len(a.Journeys) < decide.MaxJourneys; {
		a.Journeys = append(a.Journeys, decide.Journey{})
		j := len(a.Journeys) - 1
		if err := q.ask(a, where(q.txt.Items(*a, 1), j, -1)); err != nil {
			return err
		}
		for moreInteractions := true; moreInteractions && len(a.Journeys[j].Interactions) < decide.MaxInteractions; {
			a.Journeys[j].Interactions = append(a.Journeys[j].Interactions, decide.Interaction{Consistency: "eventual", Consumers: 1})
			i := len(a.Journeys[j].Interactions) - 1
			if err := q.ask(a, where(q.txt.Items(*a, 1), j, i),
				huh.NewConfirm().Title(q.txt.Prompts["another_interaction"]).Value(&moreInteractions)); err != nil {
				return err
			}
		}
		if err := q.form(huh.NewGroup(huh.NewConfirm().Title(q.txt.Prompts["another_journey"]).Value(&moreJourneys))).RunWithContext(q.ctx); err != nil {
			return usagef("questionnaire cancelled")
		}
	}
	return nil
}

// stepRest asks step n (2-5), or says there is nothing to ask.
func (q *asker) stepRest(a *decide.Answers, n int) error {
	items := q.txt.Items(*a, n)
	if len(items) == 0 && n == 5 {
		return nil
	}
	if len(items) == 0 {
		return q.run(n-1, huh.NewNote().Title(q.txt.Prompts["no_async"]))
	}
	return q.ask(a, items)
}
