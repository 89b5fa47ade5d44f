package server

import (
	"errors"
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
	J, I    int
	Heading string
	// Pattern is sync or async once the answers decide it, "" before.
	Pattern     string
	BadgeID     string
	Fields      []decideField
	RemoveValue string
	// Open marks the one interaction shown unfolded on step 1.
	Open    bool
	Summary string // from → to, for the folded line
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
	// Name is the question as the learner sees it, with where it is
	// ("Checkout → Reserve inventory: Consistency"); "" shows the path.
	Name string
}

// Label is what the error list calls the answer.
func (l decideErrorLink) Label() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Path
}

func decideFieldID(path string) string {
	r := strings.NewReplacer("[", "-", "]", "", ".", "-", "_", "-")
	return "f-" + r.Replace(path)
}

// fieldKinds maps the questionnaire's kinds to the templates' controls.
var fieldKinds = map[string]string{
	decide.KindText: "text", decide.KindNames: "text", decide.KindLong: "textarea", decide.KindNumber: "number",
	decide.KindYesNo: "yesno", decide.KindCheck: "checkbox", decide.KindRadio: "radio", decide.KindSelect: "select",
}

// newDecideField is the view of one item of the questionnaire.
func newDecideField(txt *decide.Text, it decide.Item, a *decide.Answers, errs map[string]string) decideField {
	path := it.Path()
	value := it.Value(a)
	f := decideField{Name: path, ID: decideFieldID(path), Label: it.Label, Help: it.Help, Value: value,
		Error: errs[path], Kind: fieldKinds[it.Kind], Checked: value == "on" || value == "yes"}
	switch it.Kind {
	case decide.KindYesNo:
		f.Options = []decideOption{
			{Value: "yes", Label: txt.Prompts["yes"], ID: f.ID + "-yes", Selected: value == "yes"},
			{Value: "no", Label: txt.Prompts["no"], ID: f.ID + "-no", Selected: value != "yes"},
		}
	case decide.KindSelect, decide.KindRadio:
		values, labels := it.Choices()
		if it.Scope == decide.ScopeFallback {
			// An empty retry policy stays empty until the team decides.
			f.Options = append(f.Options, decideOption{Value: "", Label: "—", ID: f.ID + "-none", Selected: value == ""})
		}
		for i, v := range values {
			f.Options = append(f.Options, decideOption{Value: v, Label: labels[i], ID: fmt.Sprintf("%s-%d", f.ID, i), Selected: v == value})
		}
	}
	return f
}

func decideInteractionHeading(o decide.Outcome) string {
	return fmt.Sprintf("%s / %s (%s → %s)", o.Journey, o.Name, o.From, o.To)
}

// decideStepFields builds the view of step n (1-5) for answers a from the
// questionnaire's items: the decision's own questions, then (step 1) each
// journey with its interactions, or (later steps) one group per
// interaction the step asks about, then the retry policy.
func decideStepFields(txt *decide.Text, n int, a decide.Answers, errs map[string]string) (fields []decideField, journeys []decideJourneyView, groups []decideInteractionView, after, glossary []decideField) {
	res := txt.Evaluate(a)
	badges := decideBadges(txt, a)
	explained := map[string]bool{}
	hints := map[string][]decide.Warning{}
	for _, w := range res.AllWarnings() {
		hints[w.Path] = append(hints[w.Path], w)
	}
	outcome := map[[2]int]decide.Outcome{}
	for _, o := range res.Outcomes {
		outcome[[2]int{o.JourneyIndex, o.Index}] = o
	}
	// The interaction the last field went into, on step 1 or later.
	var iv *decideInteractionView
	for _, it := range txt.Items(a, n) {
		f := newDecideField(txt, it, &a, errs)
		f.Hints = hints[f.Name]
		if it.I >= 0 {
			// Said once for the step, not under every interaction.
			if !explained[it.Field] && f.Help != "" {
				explained[it.Field] = true
				glossary = append(glossary, f)
			}
			f.Help = ""
		}
		switch {
		case it.Scope == decide.ScopeFallback:
			after = append(after, f)
		case it.J < 0:
			fields = append(fields, f)
		case it.I < 0:
			jp := decide.FieldPath(decide.ScopeJourney, it.J, -1, "interactions")
			journeys = append(journeys, decideJourneyView{J: it.J, Num: it.J + 1, Name: f, Error: errs[jp],
				CanAddInteraction: len(a.Journeys[it.J].Interactions) < decide.MaxInteractions,
				AddValue:          fmt.Sprintf("add-interaction:%d", it.J), RemoveValue: fmt.Sprintf("remove-journey:%d", it.J)})
		default:
			if iv == nil || iv.J != it.J || iv.I != it.I {
				o := outcome[[2]int{it.J, it.I}]
				v := decideInteractionView{J: it.J, I: it.I, Pattern: badges[badgeID(it.J, it.I)], BadgeID: badgeID(it.J, it.I),
					Heading: decideInteractionHeading(o), RemoveValue: fmt.Sprintf("remove-interaction:%d:%d", it.J, it.I),
					Summary: o.From + " → " + o.To}
				if n == 1 {
					jv := &journeys[len(journeys)-1]
					v.Heading = fmt.Sprintf("%d. %s", it.I+1, a.Journeys[it.J].Interactions[it.I].Name)
					jv.Interactions = append(jv.Interactions, v)
					iv = &jv.Interactions[len(jv.Interactions)-1]
				} else {
					groups = append(groups, v)
					iv = &groups[len(groups)-1]
				}
			}
			iv.Fields = append(iv.Fields, f)
		}
	}
	openOne(journeys, a)
	return fields, journeys, groups, after, glossary
}

// openOne unfolds one interaction of step 1: the first with an error, else
// the first not fully described yet, else none (each line then shows its
// recommendation).
func openOne(journeys []decideJourneyView, a decide.Answers) {
	var first, incomplete *decideInteractionView
	for j := range journeys {
		for k := range journeys[j].Interactions {
			iv := &journeys[j].Interactions[k]
			for _, f := range iv.Fields {
				if f.Error != "" && first == nil {
					first = iv
				}
			}
			in := a.Journeys[iv.J].Interactions[iv.I]
			if incomplete == nil && (in.Name == "" || in.From == "" || in.To == "" || in.Consistency == "") {
				incomplete = iv
			}
		}
	}
	if first == nil {
		first = incomplete
	}
	if first != nil {
		first.Open = true
	}
}

// mergeDecideStep copies the posted answers of step n into a copy of a. Only
// the questions the step showed for a are read, so other steps' answers are
// never lost; a question left out of the form keeps its answer, except a box,
// which a form leaves out when it is not ticked. Numbers that do not parse
// are reported by path and leave the old value.
func mergeDecideStep(txt *decide.Text, a decide.Answers, n int, form url.Values) (decide.Answers, []decide.FieldError) {
	b := a.Clone()
	var errs []decide.FieldError
	for _, it := range txt.Items(a, n) {
		path := it.Path()
		if !form.Has(path) && it.Kind != decide.KindCheck {
			continue
		}
		if err := it.Set(&b, form.Get(path)); err != nil {
			var fe decide.FieldError
			if errors.As(err, &fe) {
				errs = append(errs, fe)
			}
		}
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
