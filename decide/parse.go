package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Parse reads answers from YAML or JSON (JSON is detected by its leading
// brace) and validates them. Every problem is reported by its field path in a
// *ValidationError, including unknown fields, values of the wrong type and
// keys given twice; past MaxErrors problems the rest are only counted. A file
// larger than MaxInputBytes, nested too deep or holding absurdly many fields
// is refused before its fields are read.
func Parse(data []byte) (Answers, error) {
	if len(data) > MaxInputBytes {
		return Answers{}, &ValidationError{Fields: []FieldError{{Path: "(file)", Msg: fmt.Sprintf("is larger than %d bytes", MaxInputBytes)}}}
	}
	var raw any
	var err error
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		raw, err = readJSONAnswers(trimmed)
	} else {
		raw, err = readYAMLAnswers(trimmed)
	}
	if err != nil {
		return Answers{}, err
	}
	var d decoder
	a := d.answers(raw)
	if len(d.errs) > 0 {
		return a, capped(d.errs)
	}
	if err := Validate(a); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return a, capped(ve.Fields)
		}
		return a, err
	}
	return a, nil
}

// decoder turns the generic tree of YAML or JSON into Answers, collecting a
// path-named error for each unknown field or wrong type instead of stopping
// at the first.
type decoder struct{ errs []FieldError }

func (d *decoder) fail(path, format string, a ...any) {
	d.errs = append(d.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks v is a mapping and that it has only the known keys.
func (d *decoder) object(path string, v any, known ...string) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		if path == "" {
			path = "(file)"
		}
		d.fail(path, "must be an object with fields")
		return nil
	}
	var unknown []string
	for k := range m {
		found := false
		for _, kk := range known {
			if k == kk {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if k == "" {
			k = `""` // an empty key still gets a path the error can show
		}
		d.fail(join(path, k), "is not a known field")
	}
	return m
}

func (d *decoder) str(path string, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time: // YAML reads an unquoted 2026-11-25 as a timestamp
		return x.Format("2006-01-02")
	case int, int64, uint64, float64, json.Number, bool:
		return fmt.Sprint(x)
	}
	d.fail(path, "must be text")
	return ""
}

func (d *decoder) boolean(path string, v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	}
	d.fail(path, "must be true or false")
	return false
}

func (d *decoder) integer(path string, v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case int:
		return x
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return int(x)
		}
	case uint64:
		if x <= math.MaxInt32 {
			return int(x)
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32 {
			return int(x)
		}
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 32); err == nil {
			return int(n)
		}
	}
	d.fail(path, "must be a whole number")
	return 0
}

func (d *decoder) list(path string, v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	d.fail(path, "must be a list")
	return nil
}

// strList accepts a list of names or one comma-separated string.
func (d *decoder) strList(path string, v any) []string {
	if s, ok := v.(string); ok {
		return SplitNames(s)
	}
	var out []string
	for i, x := range d.list(path, v) {
		out = append(out, d.str(fmt.Sprintf("%s[%d]", path, i), x))
	}
	return out
}

// SplitNames splits "alice, bob" into its trimmed, non-empty names.
func SplitNames(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) answers(v any) Answers {
	m := d.object("", v, "title", "status", "date", "deciders", "consulted", "informed", "context", "journeys", "observability", "fallback")
	if m == nil && v == nil {
		d.fail("(file)", "is empty")
	}
	var a Answers
	a.Title = d.str("title", m["title"])
	a.Status = d.str("status", m["status"])
	a.Date = d.str("date", m["date"])
	a.Deciders = d.strList("deciders", m["deciders"])
	a.Consulted = d.strList("consulted", m["consulted"])
	a.Informed = d.strList("informed", m["informed"])
	a.Context = d.str("context", m["context"])
	for j, jv := range d.list("journeys", m["journeys"]) {
		if j >= MaxJourneys {
			d.fail("journeys", "must list at most %d journeys", MaxJourneys)
			break
		}
		jp := fmt.Sprintf("journeys[%d]", j)
		jm := d.object(jp, jv, "name", "interactions")
		jr := Journey{Name: d.str(jp+".name", jm["name"])}
		for i, iv := range d.list(jp+".interactions", jm["interactions"]) {
			if i >= MaxInteractions {
				d.fail(jp+".interactions", "must list at most %d interactions", MaxInteractions)
				break
			}
			jr.Interactions = append(jr.Interactions, d.interaction(fmt.Sprintf("%s.interactions[%d]", jp, i), iv))
		}
		a.Journeys = append(a.Journeys, jr)
	}
	om := d.object("observability", m["observability"], "tracing", "publish_rate", "consume_rate", "consumer_lag", "dead_letter_alerts")
	a.Observability = Observability{
		Tracing:          d.boolean("observability.tracing", om["tracing"]),
		PublishRate:      d.boolean("observability.publish_rate", om["publish_rate"]),
		ConsumeRate:      d.boolean("observability.consume_rate", om["consume_rate"]),
		ConsumerLag:      d.boolean("observability.consumer_lag", om["consumer_lag"]),
		DeadLetterAlerts: d.boolean("observability.dead_letter_alerts", om["dead_letter_alerts"]),
	}
	fm := d.object("fallback", m["fallback"], "retry", "max_attempts", "dead_letter_destination", "runbook", "on_exhausted")
	a.Fallback = Fallback{
		Retry:                 d.str("fallback.retry", fm["retry"]),
		MaxAttempts:           d.integer("fallback.max_attempts", fm["max_attempts"]),
		DeadLetterDestination: d.str("fallback.dead_letter_destination", fm["dead_letter_destination"]),
		Runbook:               d.str("fallback.runbook", fm["runbook"]),
		OnExhausted:           d.str("fallback.on_exhausted", fm["on_exhausted"]),
	}
	return a
}

func (d *decoder) interaction(p string, v any) Interaction {
	m := d.object(p, v, "name", "from", "to", "needs_response", "consistency", "user_waiting", "consumers", "peak_rps",
		"choice", "event", "idempotency", "dead_letter", "timeout_ms", "circuit_breaker")
	return Interaction{
		Name:          d.str(p+".name", m["name"]),
		From:          d.str(p+".from", m["from"]),
		To:            d.str(p+".to", m["to"]),
		NeedsResponse: d.boolean(p+".needs_response", m["needs_response"]),
		Consistency:   d.str(p+".consistency", m["consistency"]),
		UserWaiting:   d.boolean(p+".user_waiting", m["user_waiting"]),
		Consumers:     d.integer(p+".consumers", m["consumers"]),
		PeakRPS:       d.integer(p+".peak_rps", m["peak_rps"]),
		Choice:        d.str(p+".choice", m["choice"]),
		Event:         d.str(p+".event", m["event"]),
		Idempotency:   d.str(p+".idempotency", m["idempotency"]),
		DeadLetter:    d.boolean(p+".dead_letter", m["dead_letter"]),
		TimeoutMS:     d.integer(p+".timeout_ms", m["timeout_ms"]),
		Breaker:       d.boolean(p+".circuit_breaker", m["circuit_breaker"]),
	}
}
