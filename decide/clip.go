package decide

import "fmt"

// Clip returns a copy of a that fits every length limit Validate checks:
// text longer than its field allows is cut to the allowed length and lists
// longer than allowed keep their first entries. Each cut is reported by path,
// so a surface that keeps unfinished answers (the web wizard's draft) can
// keep them within the limits, say what it cut and lose nothing else. Values
// that are wrong for other reasons (an unknown status, a control character)
// are left for Validate.
func Clip(a Answers) (Answers, []FieldError) {
	var c clipper
	b := a.Clone()
	c.text("title", &b.Title, maxTitle)
	c.text("status", &b.Status, maxShort)
	c.text("date", &b.Date, maxShort)
	c.people("deciders", &b.Deciders)
	c.people("consulted", &b.Consulted)
	c.people("informed", &b.Informed)
	c.text("context", &b.Context, maxLong)
	if len(b.Journeys) > MaxJourneys {
		c.add("journeys", "listed more than %d journeys; only the first %d were kept", MaxJourneys, MaxJourneys)
		b.Journeys = b.Journeys[:MaxJourneys]
	}
	for j := range b.Journeys {
		jr := &b.Journeys[j]
		jp := fmt.Sprintf("journeys[%d]", j)
		c.text(jp+".name", &jr.Name, maxShort)
		if len(jr.Interactions) > MaxInteractions {
			c.add(jp+".interactions", "listed more than %d interactions; only the first %d were kept", MaxInteractions, MaxInteractions)
			jr.Interactions = jr.Interactions[:MaxInteractions]
		}
		for i := range jr.Interactions {
			in := &jr.Interactions[i]
			p := fmt.Sprintf("%s.interactions[%d].", jp, i)
			for _, f := range []struct {
				name string
				v    *string
			}{{"name", &in.Name}, {"from", &in.From}, {"to", &in.To}, {"consistency", &in.Consistency},
				{"choice", &in.Choice}, {"event", &in.Event}, {"idempotency", &in.Idempotency}} {
				c.text(p+f.name, f.v, maxShort)
			}
		}
	}
	f := &b.Fallback
	c.text("fallback.retry", &f.Retry, maxShort)
	c.text("fallback.dead_letter_destination", &f.DeadLetterDestination, maxShort)
	c.text("fallback.runbook", &f.Runbook, maxLong)
	c.text("fallback.on_exhausted", &f.OnExhausted, maxShort)
	return b, c.errs
}

type clipper struct{ errs []FieldError }

func (c *clipper) add(path, format string, a ...any) {
	c.errs = append(c.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (c *clipper) text(path string, s *string, max int) {
	if cut, ok := clipText(*s, max); ok {
		*s = cut
		c.add(path, "was longer than %d characters; only the first %d were kept", max, max)
	}
}

func (c *clipper) people(path string, xs *[]string) {
	if len(*xs) > MaxPeople {
		c.add(path, "listed more than %d people; only the first %d were kept", MaxPeople, MaxPeople)
		*xs = (*xs)[:MaxPeople]
	}
	for i := range *xs {
		c.text(fmt.Sprintf("%s[%d]", path, i), &(*xs)[i], maxShort)
	}
}

// clipText cuts s to at most max characters (runes; a byte that is not
// UTF-8 counts as one) and reports whether it cut anything.
func clipText(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}
