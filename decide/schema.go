package decide

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// The questionnaire in content/decide is also the schema of the answers:
// each question names the field it fills (its key in an answers file), the
// part of the answers it belongs to (Scope), how it is answered (Kind) and,
// for questions about an interaction or the retry policy, for which
// interactions it is asked (When). Items binds the questions of a step to
// the places in one set of answers they are asked about; Value and Set read
// and write an answer there. The web form, its parser and the terminal
// questionnaire all loop over Items, so a question is declared once.

// Scopes of a question.
const (
	ScopeDecision      = ""
	ScopeJourney       = "journey"
	ScopeInteraction   = "interaction"
	ScopeObservability = "observability"
	ScopeFallback      = "fallback"
)

// Kinds of answer.
const (
	KindText   = "text"   // one line
	KindLong   = "long"   // paragraphs
	KindNames  = "names"  // a comma-separated list of people
	KindNumber = "number" // a whole number, zero or more
	KindYesNo  = "yesno"  // a question answered yes or no
	KindCheck  = "check"  // a box ticked or not
	KindRadio  = "radio"  // one of a few options, all shown
	KindSelect = "select" // one of several options
)

// Item is one question asked about one place in the answers.
type Item struct {
	Question
	// Step is the step (1-5) that asks it.
	Step int
	// J and I are the journey and interaction it is about, -1 where its
	// scope has none.
	J, I int
}

// Path names the answer in files and error messages:
// journeys[0].interactions[2].consistency, observability.tracing, title.
func (it Item) Path() string { return FieldPath(it.Scope, it.J, it.I, it.Field) }

// FieldPath is the path of field in scope, at journey j and interaction i.
func FieldPath(scope string, j, i int, field string) string {
	switch scope {
	case ScopeJourney:
		return fmt.Sprintf("journeys[%d].%s", j, field)
	case ScopeInteraction:
		return fmt.Sprintf("journeys[%d].interactions[%d].%s", j, i, field)
	case ScopeObservability, ScopeFallback:
		return scope + "." + field
	}
	return field
}

// Items lists the questions step n (1-5) asks of a, in order. Questions
// about every interaction are repeated for each; those asked only when an
// interaction waits (When "sync") or is handed off ("async") follow the
// recommendation or the team's choice; the retry policy is asked when any
// interaction is handed off. The first step also lists each journey's name
// before its interactions.
func (t *Text) Items(a Answers, n int) []Item {
	if n < 1 || n > len(t.Steps) {
		return nil
	}
	st := t.Steps[n-1]
	pattern := map[[2]int]string{}
	anyAsync := false
	for _, o := range t.Evaluate(a).Outcomes {
		pattern[[2]int{o.JourneyIndex, o.Index}] = o.Pattern
		anyAsync = anyAsync || o.Pattern == Async
	}
	var out, fallback []Item
	add := func(q Question, j, i int) { out = append(out, Item{Question: q, Step: n, J: j, I: i}) }
	for _, q := range st.Questions {
		switch {
		case q.Scope == ScopeDecision, q.Scope == ScopeObservability:
			add(q, -1, -1)
		case q.Scope == ScopeFallback && (q.When != Async || anyAsync):
			// The retry policy comes after the interactions it is about.
			fallback = append(fallback, Item{Question: q, Step: n, J: -1, I: -1})
		}
	}
	journeyQs, interactionQs := st.scoped(ScopeJourney), st.scoped(ScopeInteraction)
	for j, jr := range a.Journeys {
		for _, q := range journeyQs {
			add(q, j, -1)
		}
		for i := range jr.Interactions {
			for _, q := range interactionQs {
				if q.When == "" || q.When == pattern[[2]int{j, i}] {
					add(q, j, i)
				}
			}
		}
	}
	return append(out, fallback...)
}

func (s Step) scoped(scope string) []Question {
	var qs []Question
	for _, q := range s.Questions {
		if q.Scope == scope {
			qs = append(qs, q)
		}
	}
	return qs
}

// target is the struct the item's answer lives in, or an invalid value
// when its journey or interaction does not exist in a.
func (it Item) target(a *Answers) reflect.Value {
	switch it.Scope {
	case ScopeDecision:
		return reflect.ValueOf(a).Elem()
	case ScopeObservability:
		return reflect.ValueOf(&a.Observability).Elem()
	case ScopeFallback:
		return reflect.ValueOf(&a.Fallback).Elem()
	case ScopeJourney:
		if it.J >= 0 && it.J < len(a.Journeys) {
			return reflect.ValueOf(&a.Journeys[it.J]).Elem()
		}
	case ScopeInteraction:
		if it.J >= 0 && it.J < len(a.Journeys) && it.I >= 0 && it.I < len(a.Journeys[it.J].Interactions) {
			return reflect.ValueOf(&a.Journeys[it.J].Interactions[it.I]).Elem()
		}
	}
	return reflect.Value{}
}

// field finds the struct field whose YAML key is name.
func field(v reflect.Value, name string) reflect.Value {
	if !v.IsValid() {
		return reflect.Value{}
	}
	t := v.Type()
	for k := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(k).Tag.Get("yaml"), ",")
		if key == name {
			return v.Field(k)
		}
	}
	return reflect.Value{}
}

// Value returns the answer as a form shows it: the text; names joined by
// ", "; a number in decimal; "yes" or "no" for a yes/no question; "on" or
// "" for a box.
func (it Item) Value(a *Answers) string {
	f := field(it.target(a), it.Field)
	if !f.IsValid() {
		return ""
	}
	switch f.Kind() {
	case reflect.String:
		return f.String()
	case reflect.Int:
		return strconv.FormatInt(f.Int(), 10)
	case reflect.Bool:
		switch {
		case it.Kind == KindYesNo && f.Bool():
			return "yes"
		case it.Kind == KindYesNo:
			return "no"
		case f.Bool():
			return "on"
		}
		return ""
	case reflect.Slice:
		return strings.Join(f.Interface().([]string), ", ")
	}
	return ""
}

// Set stores v, as a form or a terminal sends it, as the answer. Text is
// trimmed (paragraphs keep their lines, with Windows line ends made plain),
// names are split at commas, a yes/no is "yes" or anything else, a box is
// "on" or "true" or anything else; an empty number is zero. A number that
// does not parse is a FieldError naming the item's path, and the answer
// keeps its old value.
func (it Item) Set(a *Answers, v string) error {
	f := field(it.target(a), it.Field)
	if !f.IsValid() {
		return FieldError{Path: it.Path(), Msg: "is not a question of this questionnaire"}
	}
	switch f.Kind() {
	case reflect.String:
		if it.Kind == KindLong {
			f.SetString(strings.ReplaceAll(v, "\r\n", "\n"))
		} else {
			f.SetString(strings.TrimSpace(v))
		}
	case reflect.Int:
		v = strings.TrimSpace(v)
		if v == "" {
			f.SetInt(0)
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return FieldError{Path: it.Path(), Msg: "must be a whole number"}
		}
		f.SetInt(int64(n))
	case reflect.Bool:
		if it.Kind == KindYesNo {
			f.SetBool(v == "yes")
		} else {
			f.SetBool(v == "on" || v == "true")
		}
	case reflect.Slice:
		f.Set(reflect.ValueOf(SplitNames(v)))
	}
	return nil
}

// Choices returns the options of a radio or select question with the label
// each is shown with.
func (q Question) Choices() (values, labels []string) {
	for i, o := range q.Options {
		label := o
		if i < len(q.OptionLabels) {
			label = q.OptionLabels[i]
		}
		values, labels = append(values, o), append(labels, label)
	}
	return values, labels
}

// checkSchema reports a question the answers cannot hold: an unknown kind,
// a field its scope's struct lacks, a kind that does not fit the field's
// type, options on a question that offers none or none on one that must.
func (t *Text) checkSchema() error {
	var probe Answers
	probe.Journeys = []Journey{{Interactions: []Interaction{{}}}}
	fits := map[string]reflect.Kind{KindText: reflect.String, KindLong: reflect.String, KindNames: reflect.Slice,
		KindNumber: reflect.Int, KindYesNo: reflect.Bool, KindCheck: reflect.Bool, KindRadio: reflect.String, KindSelect: reflect.String}
	for n, s := range t.Steps {
		for _, q := range s.Questions {
			it := Item{Question: q, Step: n + 1, J: 0, I: 0}
			where := fmt.Sprintf("step %d question %s", n+1, it.Path())
			want, known := fits[q.Kind]
			if !known {
				return fmt.Errorf("%s: unknown kind %q", where, q.Kind)
			}
			f := field(it.target(&probe), q.Field)
			if !f.IsValid() {
				return fmt.Errorf("%s: the answers have no such field", where)
			}
			if f.Kind() != want {
				return fmt.Errorf("%s: kind %s does not fit a %s", where, q.Kind, f.Kind())
			}
			choice := q.Kind == KindRadio || q.Kind == KindSelect
			if choice != (len(q.Options) > 0) {
				return fmt.Errorf("%s: options go with kinds radio and select, and only with them", where)
			}
			if q.When != "" && q.When != Sync && q.When != Async {
				return fmt.Errorf("%s: when is sync or async, not %q", where, q.When)
			}
		}
	}
	return nil
}

// Check says what is wrong with v as the answer to the item, as a person
// would be told while typing it: an empty required answer, a number that is
// not a whole number, an event named as a command.
func (it Item) Check(v string) error {
	v = strings.TrimSpace(v)
	switch {
	case it.Required && v == "":
		return errors.New("this answer is required")
	case it.Kind == KindNumber && v != "":
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return errors.New("enter a whole number, zero or more")
		}
	case it.Scope == ScopeInteraction && it.Field == "event" && v != "":
		if kind, suggestion := CheckEvent(v); kind == EventCommand {
			return fmt.Errorf("%s reads as a command; try %s", v, suggestion)
		}
	}
	return nil
}

var pathParts = regexp.MustCompile(`^journeys\[(\d+)\](?:\.interactions\[(\d+)\])?(?:\.(\w+))?$`)

// Describe names the answer at path as a person sees it in the
// questionnaire, with where it is: "Checkout → Reserve inventory:
// Consistency", "Decision title". A journey or interaction without a name
// yet is called by its number. A path no question asks about is returned
// as it is.
func (t *Text) Describe(a Answers, path string) string {
	scope, field, j, i := ScopeDecision, path, -1, -1
	if m := pathParts.FindStringSubmatch(path); m != nil {
		j, _ = strconv.Atoi(m[1])
		scope, field = ScopeJourney, m[3]
		if m[2] != "" {
			i, _ = strconv.Atoi(m[2])
			scope = ScopeInteraction
		}
	} else if s, f, ok := strings.Cut(path, "."); ok {
		scope, field = s, f
	}
	var where []string
	if j >= 0 {
		name := fmt.Sprintf("%s %d", t.Prompts["journey"], j+1)
		if j < len(a.Journeys) && a.Journeys[j].Name != "" {
			name = a.Journeys[j].Name
		}
		where = append(where, name)
		if i >= 0 {
			name = fmt.Sprintf("%s %d", t.Prompts["interaction"], i+1)
			if j < len(a.Journeys) && i < len(a.Journeys[j].Interactions) && a.Journeys[j].Interactions[i].Name != "" {
				name = a.Journeys[j].Interactions[i].Name
			}
			where = append(where, name)
		}
	}
	label := ""
	switch {
	case field == "journeys":
		label = t.Prompts["journeys_title"]
	case field == "interactions" && scope == ScopeJourney:
		label = t.Prompts["interactions_title"]
	case field == "":
		label = ""
	default:
		for _, s := range t.Steps {
			if q := s.Question(scope, field); q.Label != "" {
				label = q.Label
				break
			}
		}
		if label == "" {
			label = t.record.Labels[field]
		}
	}
	if label == "" && len(where) == 0 {
		return path
	}
	if len(where) == 0 {
		return label
	}
	if label == "" {
		return strings.Join(where, " → ")
	}
	return strings.Join(where, " → ") + ": " + label
}
