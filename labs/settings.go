package labs

import (
	"errors"
	"fmt"
	"time"
)

// Mode is how the signup API reaches the email and analytics services.
type Mode string

const (
	// ModeSync calls each service over HTTP and waits for it.
	ModeSync Mode = "sync"
	// ModeAsync records a user.signedup fact on a stream and returns.
	ModeAsync Mode = "async"
)

// Publish is how async signups write the user and its event.
type Publish string

const (
	// PublishOutbox writes both in one MULTI/EXEC.
	PublishOutbox Publish = "outbox"
	// PublishNaive writes the user, then publishes in a second call.
	PublishNaive Publish = "naive"
)

// Names of the simulated downstream services and of their consumer groups.
const (
	ServiceEmail     = "email"
	ServiceAnalytics = "analytics"
)

// Groups are the consumer groups reading the signup stream.
var Groups = []string{ServiceEmail, ServiceAnalytics}

// Bounds on what a setting or a load may ask for, so that nothing a learner
// does can exhaust the server.
const (
	MaxSignups     = 100_000
	MaxConcurrency = 1_000
	MaxDuration    = 10 * time.Minute
	MaxRate        = 10_000 // signups per second, open loop
	MaxLatency     = 30 * time.Second
	MaxTimeout     = 30 * time.Second
	MaxConsumers   = 64
	MaxDeliveries  = 100
)

// Faults are the live fault settings of one downstream service.
type Faults struct {
	// Latency is added to every request; Jitter adds up to that much more.
	Latency time.Duration `json:"latency"`
	Jitter  time.Duration `json:"jitter"`
	// ErrorRate is the share of requests answered with an error (0..1).
	ErrorRate float64 `json:"error_rate"`
	// Down refuses connections; Hang accepts and never answers.
	Down bool `json:"down"`
	Hang bool `json:"hang"`
}

// Settings are everything a learner can change while the lab runs.
type Settings struct {
	Mode      Mode   `json:"mode"`
	Email     Faults `json:"email"`
	Analytics Faults `json:"analytics"`
	// Timeout bounds each downstream call (sync calls and consumer calls).
	Timeout time.Duration `json:"timeout"`
	// Breaker puts a circuit breaker in front of each service in sync mode.
	Breaker bool `json:"breaker"`
	// Fallback lets a sync signup succeed when only analytics failed.
	Fallback bool `json:"fallback"`
	// CrashRate is the chance a consumer dies after the downstream call took
	// effect and before it acknowledged the message (async).
	CrashRate float64 `json:"crash_rate"`
	// Idempotency makes consumers and services honour the event id as an
	// idempotency key; off, redeliveries show up as duplicates.
	Idempotency bool `json:"idempotency"`
	// Publish chooses the outbox or the naive dual write; PublishErrorRate
	// makes that many publishes fail.
	Publish          Publish `json:"publish"`
	PublishErrorRate float64 `json:"publish_error_rate"`
	// EmailConsumers and AnalyticsConsumers run in this process for each group.
	EmailConsumers     int `json:"email_consumers"`
	AnalyticsConsumers int `json:"analytics_consumers"`
	// MaxDeliveries is how often a message is tried before it is dead-lettered.
	MaxDeliveries int `json:"max_deliveries"`
	// RetryAfter is how long a failed message stays pending before any
	// consumer may claim it again (XAUTOCLAIM min-idle time).
	RetryAfter time.Duration `json:"retry_after"`
}

// DefaultSettings are a healthy system in async mode.
func DefaultSettings() Settings {
	return Settings{
		Mode:               ModeAsync,
		Timeout:            time.Second,
		Idempotency:        true,
		Publish:            PublishOutbox,
		EmailConsumers:     2,
		AnalyticsConsumers: 2,
		MaxDeliveries:      8,
		RetryAfter:         time.Second,
	}
}

// consumers returns the configured number of consumers of a group.
func (s Settings) consumers(group string) int {
	if group == ServiceEmail {
		return s.EmailConsumers
	}
	return s.AnalyticsConsumers
}

func (s Settings) faults(service string) Faults {
	if service == ServiceEmail {
		return s.Email
	}
	return s.Analytics
}

// FieldError says which setting or input is wrong and why. Field is the JSON
// name (dotted for nested settings, such as "email.error_rate"); the command
// line maps it to a flag and the web to a form field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Validate returns a *FieldError for the first setting out of range.
func (s Settings) Validate() error {
	switch s.Mode {
	case ModeSync, ModeAsync:
	default:
		return fieldErr("mode", "%q is not sync or async", s.Mode)
	}
	switch s.Publish {
	case PublishOutbox, PublishNaive:
	default:
		return fieldErr("publish", "%q is not outbox or naive", s.Publish)
	}
	for _, svc := range []struct {
		name string
		f    Faults
	}{{ServiceEmail, s.Email}, {ServiceAnalytics, s.Analytics}} {
		if err := checkDuration(svc.name+".latency", svc.f.Latency, 0, MaxLatency); err != nil {
			return err
		}
		if err := checkDuration(svc.name+".jitter", svc.f.Jitter, 0, MaxLatency); err != nil {
			return err
		}
		if err := checkRate(svc.name+".error_rate", svc.f.ErrorRate); err != nil {
			return err
		}
	}
	if err := checkDuration("timeout", s.Timeout, time.Millisecond, MaxTimeout); err != nil {
		return err
	}
	if err := checkRate("crash_rate", s.CrashRate); err != nil {
		return err
	}
	if s.CrashRate > 0.5 {
		return fieldErr("crash_rate", "%v is above 0.5; consumers would do little but restart", s.CrashRate)
	}
	if err := checkRate("publish_error_rate", s.PublishErrorRate); err != nil {
		return err
	}
	if err := checkInt("email_consumers", s.EmailConsumers, 0, MaxConsumers); err != nil {
		return err
	}
	if err := checkInt("analytics_consumers", s.AnalyticsConsumers, 0, MaxConsumers); err != nil {
		return err
	}
	if err := checkInt("max_deliveries", s.MaxDeliveries, 1, MaxDeliveries); err != nil {
		return err
	}
	return checkDuration("retry_after", s.RetryAfter, time.Millisecond, time.Minute)
}

func checkRate(field string, v float64) error {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		return fieldErr(field, "%v is not between 0 and 1", v)
	}
	return nil
}

func checkDuration(field string, v, lo, hi time.Duration) error {
	if v < lo || v > hi {
		return fieldErr(field, "%v is not between %v and %v", v, lo, hi)
	}
	return nil
}

func checkInt(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fieldErr(field, "%d is not between %d and %d", v, lo, hi)
	}
	return nil
}

// ErrNotFound is returned for a dead letter or trace that does not exist.
var ErrNotFound = errors.New("not found")

// ErrBusy is returned when a load is started while another one runs.
var ErrBusy = errors.New("a load is already running in this sandbox")

// ErrClosed is returned by a sandbox that has been closed.
var ErrClosed = errors.New("sandbox is closed")
