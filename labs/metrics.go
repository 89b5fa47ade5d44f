package labs

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are one sandbox's running totals, kept in process so a snapshot
// costs no Redis round trip for them.
type counters struct {
	signups, succeeded, failed, orphaned atomic.Int64
	published, publishFailed             atomic.Int64
	emailsSent, emailDuplicates          atomic.Int64
	analyticsEvents, deduplicated        atomic.Int64
	processed, skipped                   atomic.Int64
	retries, redeliveries, deadLettered  atomic.Int64
	crashes, poison                      atomic.Int64
}

// Counters is a copy of a sandbox's totals since it started.
type Counters struct {
	Signups   int64 `json:"signups"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Orphaned signups failed although their user record was written (sync).
	Orphaned      int64 `json:"orphaned"`
	Published     int64 `json:"published"`
	PublishFailed int64 `json:"publish_failed"`
	// EmailsSent and AnalyticsEvents count first effects per user applied by
	// this process's services; EmailDuplicates the repeated ones.
	EmailsSent      int64 `json:"emails_sent"`
	EmailDuplicates int64 `json:"email_duplicates"`
	AnalyticsEvents int64 `json:"analytics_events"`
	// Deduplicated calls were recognised by their idempotency key and skipped.
	Deduplicated int64 `json:"deduplicated"`
	// Processed messages were acknowledged after their effect; Skipped ones
	// were acknowledged because the group had finished them before.
	Processed int64 `json:"processed"`
	Skipped   int64 `json:"skipped"`
	// Retries are failed attempts scheduled to be tried again;
	// Redeliveries are messages handed out again after a failure, a crash
	// or a stop.
	Retries      int64 `json:"retries"`
	Redeliveries int64 `json:"redeliveries"`
	DeadLettered int64 `json:"dead_lettered"`
	Crashes      int64 `json:"crashes"`
	// Poison messages could not be read.
	Poison int64 `json:"poison"`
}

func (c *counters) copy() Counters {
	return Counters{
		Signups: c.signups.Load(), Succeeded: c.succeeded.Load(), Failed: c.failed.Load(), Orphaned: c.orphaned.Load(),
		Published: c.published.Load(), PublishFailed: c.publishFailed.Load(),
		EmailsSent: c.emailsSent.Load(), EmailDuplicates: c.emailDuplicates.Load(), AnalyticsEvents: c.analyticsEvents.Load(),
		Deduplicated: c.deduplicated.Load(), Processed: c.processed.Load(), Skipped: c.skipped.Load(),
		Retries: c.retries.Load(), Redeliveries: c.redeliveries.Load(), DeadLettered: c.deadLettered.Load(),
		Crashes: c.crashes.Load(), Poison: c.poison.Load(),
	}
}

// promMetrics are shared by every sandbox registered with one Registerer.
// Labels are bounded (mode, service, group, outcome): never a sandbox id.
type promMetrics struct {
	signups      *prometheus.CounterVec   // mode, outcome
	signupTime   *prometheus.HistogramVec // mode
	effectTime   *prometheus.HistogramVec // service
	calls        *prometheus.CounterVec   // service, outcome
	messages     *prometheus.CounterVec   // group, outcome
	redeliveries *prometheus.CounterVec   // group
	crashes      *prometheus.CounterVec   // group
	pausedGroups *prometheus.GaugeVec     // group
	pausedTime   *prometheus.CounterVec   // group
	sandboxes    prometheus.Gauge
}

func newPromMetrics(reg prometheus.Registerer) (*promMetrics, error) {
	m := &promMetrics{
		signups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_signups_total", Help: "Signups answered by lab signup APIs, by mode and outcome (ok, invalid, conflict, failed).",
		}, []string{"mode", "outcome"}),
		signupTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crossroads_lab_signup_duration_seconds", Help: "Time the lab signup API took to answer, by mode.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"mode"}),
		effectTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crossroads_lab_effect_latency_seconds", Help: "Time from a signup request to its first effect in a downstream service.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"service"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_downstream_calls_total", Help: "Calls to the simulated services, by service and outcome (ok, error, breaker_open).",
		}, []string{"service", "outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_messages_total", Help: "Stream messages handled by consumers, by group and outcome (processed, skipped, retried, dead_lettered, poison, released).",
		}, []string{"group", "outcome"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_redeliveries_total", Help: "Messages claimed again after their consumer failed, crashed or stopped.",
		}, []string{"group"}),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_consumer_crashes_total", Help: "Simulated consumer crashes between effect and acknowledgement.",
		}, []string{"group"}),
		pausedGroups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crossroads_lab_consumer_groups_paused", Help: "Consumer groups paused because their service keeps failing, across sandboxes.",
		}, []string{"group"}),
		pausedTime: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossroads_lab_consumer_group_paused_seconds_total", Help: "Time consumer groups spent paused, summed over sandboxes.",
		}, []string{"group"}),
		sandboxes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crossroads_lab_sandboxes", Help: "Lab sandboxes currently open in this process.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.signups = register(reg, m.signups, &err)
	m.signupTime = register(reg, m.signupTime, &err)
	m.effectTime = register(reg, m.effectTime, &err)
	m.calls = register(reg, m.calls, &err)
	m.messages = register(reg, m.messages, &err)
	m.redeliveries = register(reg, m.redeliveries, &err)
	m.crashes = register(reg, m.crashes, &err)
	m.pausedGroups = register(reg, m.pausedGroups, &err)
	m.pausedTime = register(reg, m.pausedTime, &err)
	m.sandboxes = register(reg, m.sandboxes, &err)
	if err != nil {
		return nil, fmt.Errorf("register lab metrics: %w", err)
	}
	return m, nil
}

// register adds c to reg, or returns the collector a sandbox registered
// before, so any number of sandboxes share one set of series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

func (m *promMetrics) signup(mode Mode, outcome string, d time.Duration) {
	m.signups.WithLabelValues(string(mode), outcome).Inc()
	m.signupTime.WithLabelValues(string(mode)).Observe(d.Seconds())
}
