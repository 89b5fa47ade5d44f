package labs

import (
	"strconv"
	"strings"
	"time"
)

// CLI defaults of a load that LoadSpec leaves at zero.
const (
	cliSignups      = 200
	cliConcurrency  = 16
	cliDrainTimeout = 2 * time.Minute
)

// argOrder is the order flags appear in a command line: mode and faults
// first, as a reader looks for them.
var argOrder = []string{
	"mode", "email_latency", "email_jitter", "email_error_rate", "email_down", "email_hang",
	"analytics_latency", "analytics_jitter", "analytics_error_rate", "analytics_down", "analytics_hang",
	"chain_depth", "chain_latency", "chain_error_rate",
	"timeout", "breaker", "fallback",
	"publish", "publish_error_rate", "idempotency", "crash_rate",
	"retry_after", "retry_max_backoff", "max_deliveries", "max_retry_age", "lease", "no_lease_renewal",
	"signups", "concurrency", "rate", "duration", "recover_after", "drain_timeout", "poison",
}

// Args are the `crossroads lab run` flags that set up s and load l, naming
// only what differs from the command's defaults (and always the mode and
// the number of signups), so that any run of the web lab can be repeated
// from a terminal.
func Args(s Settings, l LoadSpec) []string {
	def := DefaultSettings()
	defLoad := LoadSpec{Signups: cliSignups, Concurrency: cliConcurrency, DrainTimeout: cliDrainTimeout}
	if l.DrainTimeout == 0 {
		l.DrainTimeout = cliDrainTimeout
	}
	var out []string
	for _, name := range argOrder {
		v, isBool := fieldText(&s, &l, name)
		was, _ := fieldText(&def, &defLoad, name)
		if v == was && name != "mode" && name != "signups" {
			continue
		}
		flag := "--" + strings.ReplaceAll(name, "_", "-")
		switch {
		case name == "idempotency":
			out = append(out, "--no-idempotency") // the default is on: it differs only when off
		case isBool && v == "true":
			out = append(out, flag)
		case isBool:
			// a default-on flag turned off has its own no- flag (above)
		default:
			out = append(out, flag, v)
		}
	}
	switch {
	case s.EmailConsumers == s.AnalyticsConsumers && s.EmailConsumers != def.EmailConsumers:
		out = append(out, "--consumers", strconv.Itoa(s.EmailConsumers))
	case s.EmailConsumers != s.AnalyticsConsumers:
		out = append(out, "--email-consumers", strconv.Itoa(s.EmailConsumers), "--analytics-consumers", strconv.Itoa(s.AnalyticsConsumers))
	}
	return out
}

// CommandLine is Args as one line a learner can paste into a terminal.
func CommandLine(s Settings, l LoadSpec) string {
	return "crossroads lab run " + strings.Join(Args(s, l), " ")
}

// fieldText reads one setting or load value as its flag writes it.
func fieldText(s *Settings, l *LoadSpec, name string) (string, bool) {
	switch p := fields[name].ptr(s, l).(type) {
	case *Mode:
		return string(*p), false
	case *Publish:
		return string(*p), false
	case *time.Duration:
		return p.String(), false
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64), false
	case *int:
		return strconv.Itoa(*p), false
	case *bool:
		return strconv.FormatBool(*p), true
	}
	return "", false
}
