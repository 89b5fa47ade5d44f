package decide

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldError names the answer that is wrong by its path in the answers file,
// such as journeys[0].interactions[2].consistency.
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// ValidationError is every problem found in one set of answers, or the
// first MaxErrors of them when there are more.
type ValidationError struct {
	Fields []FieldError
	// More counts the problems found beyond Fields and not listed.
	More int
}

// MaxErrors is how many problems a parse reports by name; the rest are only
// counted, so a file full of mistakes cannot produce a page of megabytes.
const MaxErrors = 20

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields), len(e.Fields)+1)
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	if m := e.MoreMessage(); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, "\n")
}

// MoreMessage says how many problems were left unlisted, or "" when none.
func (e *ValidationError) MoreMessage() string {
	switch {
	case e == nil || e.More <= 0:
		return ""
	case e.More == 1:
		return "… and 1 more problem; fix the ones above first"
	}
	return fmt.Sprintf("… and %d more problems; fix the ones above first", e.More)
}

// capped keeps the first MaxErrors problems and counts the rest.
func capped(fields []FieldError) *ValidationError {
	if len(fields) <= MaxErrors {
		return &ValidationError{Fields: fields}
	}
	return &ValidationError{Fields: fields[:MaxErrors:MaxErrors], More: len(fields) - MaxErrors}
}

// ByPath returns the message for path, if any.
func (e *ValidationError) ByPath(path string) string {
	if e == nil {
		return ""
	}
	for _, f := range e.Fields {
		if f.Path == path {
			return f.Msg
		}
	}
	return ""
}

type checker struct{ errs []FieldError }

func (c *checker) add(path, format string, a ...any) {
	c.errs = append(c.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) text(path, s string, required bool, max int, multiline bool) {
	switch {
	case !utf8.ValidString(s):
		c.add(path, "must be valid UTF-8 text")
	case required && strings.TrimSpace(s) == "":
		c.add(path, "is required")
	case utf8.RuneCountInString(s) > max:
		c.add(path, "must be at most %d characters", max)
	default:
		for _, r := range s {
			if name, ok := directionControls[r]; ok {
				c.add(path, "must not contain U+%04X (%s): text-direction controls make text display differently from what it says", r, name)
				return
			}
			if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) ||
				!multiline && (r == '\u2028' || r == '\u2029') {
				c.add(path, "must not contain control characters (found U+%04X)", r)
				return
			}
		}
	}
}

// directionControls are the Unicode bidirectional embeddings, overrides and
// isolates: invisible, they reorder the text around them, so a title or a
// service name could read differently from the characters it holds
// ("Trojan Source", CVE-2021-42574).
var directionControls = map[rune]string{
	'\u202A': "LEFT-TO-RIGHT EMBEDDING",
	'\u202B': "RIGHT-TO-LEFT EMBEDDING",
	'\u202C': "POP DIRECTIONAL FORMATTING",
	'\u202D': "LEFT-TO-RIGHT OVERRIDE",
	'\u202E': "RIGHT-TO-LEFT OVERRIDE",
	'\u2066': "LEFT-TO-RIGHT ISOLATE",
	'\u2067': "RIGHT-TO-LEFT ISOLATE",
	'\u2068': "FIRST STRONG ISOLATE",
	'\u2069': "POP DIRECTIONAL ISOLATE",
}

func (c *checker) oneOf(path, v string, allowed []string, optional bool) {
	if optional && v == "" {
		return
	}
	if !slices.Contains(allowed, v) {
		c.add(path, "must be %s", orList(allowed))
	}
}

func (c *checker) between(path string, v, lo, hi int) {
	if v < lo || v > hi {
		c.add(path, "must be between %d and %d", lo, hi)
	}
}

func orList(xs []string) string {
	switch len(xs) {
	case 1:
		return xs[0]
	case 2:
		return xs[0] + " or " + xs[1]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// Validate checks every answer and returns a *ValidationError listing each
// wrong field by path, or nil.
func Validate(a Answers) error {
	var c checker
	c.text("title", a.Title, true, maxTitle, false)
	c.oneOf("status", a.Status, Statuses, true)
	if a.Date != "" {
		if _, err := time.Parse("2006-01-02", a.Date); err != nil || !dateRE.MatchString(a.Date) {
			c.add("date", "must be a date like 2026-11-25")
		}
	}
	people := func(name string, xs []string) {
		if len(xs) > MaxPeople {
			c.add(name, "must list at most %d people", MaxPeople)
			return
		}
		for i, p := range xs {
			c.text(fmt.Sprintf("%s[%d]", name, i), p, true, maxShort, false)
		}
	}
	people("deciders", a.Deciders)
	people("consulted", a.Consulted)
	people("informed", a.Informed)
	c.text("context", a.Context, false, maxLong, true)
	switch {
	case len(a.Journeys) == 0:
		c.add("journeys", "add at least one journey")
	case len(a.Journeys) > MaxJourneys:
		c.add("journeys", "must list at most %d journeys", MaxJourneys)
	}
	for j, jr := range a.Journeys {
		if j >= MaxJourneys {
			break
		}
		jp := fmt.Sprintf("journeys[%d]", j)
		c.text(jp+".name", jr.Name, true, maxShort, false)
		switch {
		case len(jr.Interactions) == 0:
			c.add(jp+".interactions", "add at least one interaction")
		case len(jr.Interactions) > MaxInteractions:
			c.add(jp+".interactions", "must list at most %d interactions", MaxInteractions)
		}
		for i, in := range jr.Interactions {
			if i >= MaxInteractions {
				break
			}
			validateInteraction(&c, fmt.Sprintf("%s.interactions[%d]", jp, i), in)
		}
	}
	f := a.Fallback
	c.oneOf("fallback.retry", f.Retry, Retries, true)
	c.between("fallback.max_attempts", f.MaxAttempts, 0, maxAttemptsAllowed)
	c.text("fallback.dead_letter_destination", f.DeadLetterDestination, false, maxShort, false)
	c.text("fallback.runbook", f.Runbook, false, maxLong, true)
	if strings.EqualFold(strings.TrimSpace(f.OnExhausted), "drop") {
		c.add("fallback.on_exhausted", "silently dropping messages is never accepted; choose dead-letter or park")
	} else {
		c.oneOf("fallback.on_exhausted", f.OnExhausted, Exhausted, true)
	}
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: c.errs}
}

func validateInteraction(c *checker, p string, in Interaction) {
	c.text(p+".name", in.Name, true, maxShort, false)
	c.text(p+".from", in.From, true, maxShort, false)
	c.text(p+".to", in.To, true, maxShort, false)
	if in.From != "" && strings.EqualFold(strings.TrimSpace(in.From), strings.TrimSpace(in.To)) {
		c.add(p+".to", "must differ from from: a service does not call itself over the network")
	}
	c.oneOf(p+".consistency", in.Consistency, Consistencies, false)
	c.between(p+".consumers", in.Consumers, 0, maxConsumers)
	c.between(p+".peak_rps", in.PeakRPS, 0, maxPeakRPS)
	c.oneOf(p+".choice", in.Choice, Choices, true)
	c.text(p+".event", in.Event, false, maxShort, false)
	if strings.ContainsAny(in.Event, " \t") {
		c.add(p+".event", "must be one word without spaces, such as OrderPlaced or order.placed")
	}
	c.oneOf(p+".idempotency", in.Idempotency, Idempotencies, true)
	c.between(p+".timeout_ms", in.TimeoutMS, 0, maxTimeoutMS)
}
