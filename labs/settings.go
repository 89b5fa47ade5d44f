package labs

import (
	"errors"
	"fmt"
	"time"

	"github.com/crossroads-learn/crossroads/labs/service"
	"github.com/crossroads-learn/crossroads/labs/stream"
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
	// PublishOutbox writes both in one atomic script.
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
	MinRate        = 0.1
	MaxLatency     = 30 * time.Second
	MaxTimeout     = 30 * time.Second
	MaxConsumers   = 64
	MaxDeliveries  = 100
	MaxRetryAge    = 24 * time.Hour
	MinLease       = 100 * time.Millisecond
	MaxChain       = 4
)

// Faults are the live fault settings of one downstream service.
type Faults = service.Faults

// EventSignedUp is the type of the one fact the lab publishes.
const EventSignedUp = stream.TypeSignedUp

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
	// RetryAfter is the base of the exponential backoff after a failed
	// attempt; RetryMaxBackoff caps it. Each wait is drawn at random between
	// zero and min(cap, base·2^(n-1)) ("full jitter"), so retries of many
	// messages spread out instead of arriving together.
	RetryAfter      time.Duration `json:"retry_after"`
	RetryMaxBackoff time.Duration `json:"retry_max_backoff"`
	// MaxDeliveries and MaxRetryAge are the retry budget: a message is
	// dead-lettered when it has been delivered MaxDeliveries times, or when
	// it still fails MaxRetryAge after its first failure. Zero switches one
	// of them off. Deliveries to a paused group's probe and messages handed
	// back untried do not count.
	MaxDeliveries int           `json:"max_deliveries"`
	MaxRetryAge   time.Duration `json:"max_retry_age"`
	// Lease is how long a consumer's hold on a message lasts without
	// renewal. A working consumer renews it before a third of it has gone
	// (work done within a sixth of it costs none), however slow
	// the service; a crashed one stops, and after Lease another consumer
	// takes its messages over.
	Lease time.Duration `json:"lease"`
	// NoLeaseRenewal stops consumers renewing their leases, to show what
	// renewal prevents: work slower than the lease is taken over by a
	// second consumer while the first still does it.
	NoLeaseRenewal bool `json:"no_lease_renewal"`
	// ChainDepth puts that many more services behind the email service,
	// each calling the next and waiting for it (a synchronous chain); Chain
	// are the faults of every one of them. Latencies add up and the chances
	// of success multiply.
	ChainDepth int    `json:"chain_depth"`
	Chain      Faults `json:"chain"`
}

// DefaultSettings are a healthy system in async mode. Their retry budget
// carries a ten-minute outage without a dead letter: the group pauses after
// a few failures and its probes spend nothing.
func DefaultSettings() Settings {
	return Settings{
		Mode:               ModeAsync,
		Timeout:            time.Second,
		Idempotency:        true,
		Publish:            PublishOutbox,
		EmailConsumers:     2,
		AnalyticsConsumers: 2,
		RetryAfter:         time.Second,
		RetryMaxBackoff:    30 * time.Second,
		MaxDeliveries:      8,
		MaxRetryAge:        10 * time.Minute,
		Lease:              time.Second,
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

// Validate returns a *FieldError for the first setting out of range, or for
// two settings that cannot hold together (naming both).
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
	}{{ServiceEmail, s.Email}, {ServiceAnalytics, s.Analytics}, {"chain", s.Chain}} {
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
	if err := checkDuration("retry_after", s.RetryAfter, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if err := checkDuration("retry_max_backoff", s.RetryMaxBackoff, time.Millisecond, MaxDuration); err != nil {
		return err
	}
	if s.RetryMaxBackoff < s.RetryAfter {
		return fieldErr("retry_max_backoff", "%v is below retry_after %v: the cap of the backoff cannot be less than its base", s.RetryMaxBackoff, s.RetryAfter)
	}
	if err := checkInt("max_deliveries", s.MaxDeliveries, 0, MaxDeliveries); err != nil {
		return err
	}
	if err := checkDuration("max_retry_age", s.MaxRetryAge, 0, MaxRetryAge); err != nil {
		return err
	}
	if s.MaxDeliveries == 0 && s.MaxRetryAge == 0 {
		return fieldErr("max_deliveries", "0 with max_retry_age 0 would retry a failing message forever: set at least one of them")
	}
	if s.MaxRetryAge > 0 && s.MaxRetryAge < s.RetryAfter {
		return fieldErr("max_retry_age", "%v is below retry_after %v: a message would give up before its first retry", s.MaxRetryAge, s.RetryAfter)
	}
	if err := checkInt("chain_depth", s.ChainDepth, 0, MaxChain); err != nil {
		return err
	}
	if err := checkDuration("lease", s.Lease, MinLease, time.Minute); err != nil {
		return fieldErr("lease", "%v is not between %v and 1m0s: a consumer renews its lease before a third of it has gone, and renewals much faster than that cannot be trusted", s.Lease, MinLease)
	}
	return nil
}

// Warnings name settings that do nothing in the current mode, so a learner
// who sets them is told rather than misled.
func (s Settings) Warnings() []FieldError {
	var out []FieldError
	if s.Mode == ModeSync {
		if s.CrashRate > 0 {
			out = append(out, FieldError{"crash_rate", "only async consumers crash; sync mode has none"})
		}
		if s.Publish == PublishNaive {
			out = append(out, FieldError{"publish", "naive publishing only happens in async mode; sync mode publishes nothing"})
		}
		if s.PublishErrorRate > 0 {
			out = append(out, FieldError{"publish_error_rate", "sync mode publishes nothing, so no publish can fail"})
		}
	} else {
		if s.Breaker {
			out = append(out, FieldError{"breaker", "the breaker guards sync calls; in async mode each consumer group pauses on its own when its service keeps failing"})
		}
		if s.Fallback {
			out = append(out, FieldError{"fallback", "the analytics fallback is for sync signups; async signups never wait for analytics"})
		}
	}
	return out
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
var ErrNotFound = stream.ErrNotFound

// ErrBusy is returned when a load is started while another one runs.
var ErrBusy = errors.New("a load is already running in this sandbox")

// ErrClosed is returned by a sandbox that has been closed.
var ErrClosed = errors.New("sandbox is closed")
