package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs"
)

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the signup lab headless",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newLabRunCmd())
	return cmd
}

// faultFlags are the per-service fault flags shared by `lab run` and `worker`.
type faultFlags struct {
	latency   time.Duration
	errorRate float64
	down      bool
}

func addFaultFlags(fs *pflag.FlagSet, service string, f *faultFlags, withDown bool) {
	fs.DurationVar(&f.latency, service+"-latency", 0, "added latency of every "+service+" call, e.g. 50ms")
	fs.Float64Var(&f.errorRate, service+"-error-rate", 0, "share of "+service+" calls that fail, 0..1")
	if withDown {
		fs.BoolVar(&f.down, service+"-down", false, "the "+service+" service refuses connections")
	}
}

// consumerFlags are the consumer settings shared by `lab run` and `worker`:
// the retry budget, backoff, lease, crashes and idempotency.
type consumerFlags struct {
	settings labs.Settings
	noIdem   bool
}

func addConsumerFlags(fs *pflag.FlagSet, c *consumerFlags, prefix string) {
	d := labs.DefaultSettings()
	c.settings = d
	fs.Float64Var(&c.settings.CrashRate, "crash-rate", 0, prefix+"chance a consumer dies after the email took effect, before acking (0..0.5)")
	fs.BoolVar(&c.noIdem, "no-idempotency", false, prefix+"consumers and services ignore the idempotency key, so redeliveries duplicate")
	fs.IntVar(&c.settings.MaxDeliveries, "max-deliveries", d.MaxDeliveries, prefix+"dead-letter a message after this many deliveries (0..100; 0: no limit by count)")
	fs.DurationVar(&c.settings.MaxRetryAge, "max-retry-age", d.MaxRetryAge, prefix+"dead-letter a message still failing this long after its first failure (0: no limit by age)")
	fs.DurationVar(&c.settings.RetryAfter, "retry-after", d.RetryAfter, prefix+"base of the exponential backoff before a failed message is retried")
	fs.DurationVar(&c.settings.RetryMaxBackoff, "retry-max-backoff", d.RetryMaxBackoff, prefix+"longest backoff between two retries")
	fs.DurationVar(&c.settings.Lease, "lease", d.Lease, prefix+"how long a consumer's hold on a message lasts without renewal; a crashed consumer's messages are taken over after it")
}

// apply copies the consumer flags into s.
func (c *consumerFlags) apply(s *labs.Settings) {
	s.CrashRate, s.Idempotency = c.settings.CrashRate, !c.noIdem
	s.MaxDeliveries, s.MaxRetryAge = c.settings.MaxDeliveries, c.settings.MaxRetryAge
	s.RetryAfter, s.RetryMaxBackoff, s.Lease = c.settings.RetryAfter, c.settings.RetryMaxBackoff, c.settings.Lease
}

// settingFlags maps a setting or load field (labs.FieldError.Field) to the
// flag that sets it, so a refused value is reported by its flag name.
var settingFlags = map[string]string{
	"mode": "--mode", "publish": "--publish", "timeout": "--timeout", "crash_rate": "--crash-rate",
	"publish_error_rate": "--publish-error-rate", "email_consumers": "--consumers", "analytics_consumers": "--consumers",
	"max_deliveries": "--max-deliveries", "max_retry_age": "--max-retry-age", "retry_after": "--retry-after",
	"retry_max_backoff": "--retry-max-backoff", "lease": "--lease", "breaker": "--breaker", "fallback": "--fallback",
	"email.latency": "--email-latency", "email.error_rate": "--email-error-rate",
	"analytics.latency": "--analytics-latency", "analytics.error_rate": "--analytics-error-rate",
	"signups": "--signups", "concurrency": "--concurrency", "rate": "--rate", "duration": "--duration",
	"recover_after": "--recover-after", "drain_timeout": "--drain-timeout", "poison": "--poison", "sandbox": "--sandbox",
}

// flagName is the flag that sets a setting or load field.
func flagName(field string) string {
	if name, ok := settingFlags[field]; ok {
		return name
	}
	return field
}

// flagError turns a *labs.FieldError into a one-line usage error naming the
// flag; other errors pass through.
func flagError(err error) error {
	var fe *labs.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	return usagef("%s: %s", flagName(fe.Field), fe.Reason)
}

// warn prints one line on stderr for each setting that does nothing in the
// chosen mode.
func warn(w io.Writer, s labs.Settings) {
	for _, fw := range s.Warnings() {
		fmt.Fprintf(w, "warning: %s: %s\n", flagName(fw.Field), fw.Reason)
	}
}

func newLabRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Send signups through the lab once and report what happened",
		Long: `Run the signup lab once, headless: start the signup API, the email and
analytics services and their consumers, send a bounded load, wait for the
work to drain, then print a summary (or one JSON object with --json).

In sync mode the signup calls email and analytics over HTTP and waits; in
async mode it stores the user and a user.signedup event in one atomic write
and returns, and consumer groups do the rest. Inject faults with the
--email-* and --analytics-* flags and compare.

Async consumers retry a failed message after an exponential backoff with
jitter (--retry-after up to --retry-max-backoff), and dead-letter it after
--max-deliveries deliveries or --max-retry-age, whichever comes first. When
a service keeps failing, its consumer group pauses and probes it with one
message at a time; paused deliveries spend nothing, so the defaults carry a
ten-minute outage without a dead letter. A message that takes down the
consumer handling it is dead-lettered once it has crashed --max-deliveries
consumers; a working consumer renews its lease so slow work is never taken
over by another.

Every figure is this run's alone, whatever the sandbox held before:
  signups_*             what the load generator saw (attempted, succeeded, failed)
  latency_ms            answer times of the signup API; throughput_per_s counts successes
  effect_latency_ms     from a signup request to its welcome email taking effect
  emails_sent           the run's users whose welcome email took effect
  email_duplicates      emails beyond the first per user (0 with idempotency)
  emails_for_failed_signups  emails sent although the signup reported failure
                        (a call that timed out still took effect)
  analytics_events      the run's users tracked
  retries               failed attempts scheduled for another try
  redeliveries          messages handed out again (a due retry, or taken from
                        a consumer that crashed or stopped)
  consumer_crashes      injected crashes between effect and acknowledgement
  dead_lettered         the run's messages a group gave up on (one per group,
                        --poison included); dlq_total is the sandbox's whole
                        dead-letter stream
  in_flight             the run's events some group had neither finished nor
                        dead-lettered when the drain ended: late, not lost
  lost                  users stored in async mode whose event never reached
                        the stream (--publish naive): nothing will ever send
                        their email
  orphaned_users        users stored for a signup that reported failure
  max_consumer_lag      most entries any group had not yet been handed
  max_pending           most entries any group held unacknowledged
  paused_s              seconds each group spent paused
  drain_s, drained      how long the consumers took after the load, and
                        whether they finished within --drain-timeout (a run
                        whose work waits for a service that is down, with no
                        --recover-after, stops waiting once the group pauses)

Redis: REDIS_URL (or --redis-url) names a real Redis 7; unset, an embedded
one runs in memory. Each run uses a fresh sandbox whose keys are deleted
afterwards, unless --sandbox names one (for instance to share the work with
'crossroads worker' processes); then the keys stay.`,
		Example: `  crossroads lab run --mode sync --email-latency 50ms --analytics-latency 50ms
  crossroads lab run --mode async --email-down --recover-after 2m --signups 500
  crossroads lab run --email-error-rate 0.3 --crash-rate 0.05 --signups 2000 --no-idempotency
  crossroads lab run --poison 3 --json`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	mode := fs.String("mode", "async", "sync (wait for email and analytics) or async (publish an event)")
	signups := fs.Int("signups", 200, "how many signups to send (1..100000)")
	concurrency := fs.Int("concurrency", 16, "signups in flight at once (1..1000)")
	rate := fs.Float64("rate", 0, "send this many signups per second (open loop, 0.1..10000); 0 sends back to back")
	duration := fs.Duration("duration", 0, "stop sending after this long (at most 10m); 0 sends all --signups")
	var email, analytics faultFlags
	addFaultFlags(fs, "email", &email, true)
	addFaultFlags(fs, "analytics", &analytics, true)
	timeout := fs.Duration("timeout", time.Second, "how long each downstream call may take before it fails")
	breaker := fs.Bool("breaker", false, "sync: a circuit breaker per service fails fast after 5 failures in a row")
	var consumerOpts consumerFlags
	addConsumerFlags(fs, &consumerOpts, "async: ")
	publish := fs.String("publish", "outbox", "async: outbox (user + event in one atomic write) or naive (two separate writes)")
	publishErr := fs.Float64("publish-error-rate", 0, "async: share of publishes that fail, 0..1")
	poison := fs.Int("poison", 0, "add this many unreadable messages to the stream before the load (0..100)")
	recoverAfter := fs.Duration("recover-after", 0, "bring downed services back after this long")
	drainTimeout := fs.Duration("drain-timeout", 2*time.Minute, "wait at most this long for the work to finish, counted from the end of the load or --recover-after, whichever is later (sooner when a service is down for good)")
	consumers := fs.Int("consumers", 2, "async: consumers per group in this process (0..64)")
	sandbox := fs.String("sandbox", "", "use this sandbox id and keep its keys (default: a fresh one, deleted after)")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the summary")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s := labs.DefaultSettings()
		s.Mode = labs.Mode(*mode)
		s.Email = labs.Faults{Latency: email.latency, ErrorRate: email.errorRate, Down: email.down}
		s.Analytics = labs.Faults{Latency: analytics.latency, ErrorRate: analytics.errorRate, Down: analytics.down}
		s.Timeout, s.Breaker = *timeout, *breaker
		consumerOpts.apply(&s)
		s.Publish, s.PublishErrorRate = labs.Publish(*publish), *publishErr
		s.EmailConsumers, s.AnalyticsConsumers = *consumers, *consumers
		if err := s.Validate(); err != nil {
			return flagError(err)
		}
		spec := labs.LoadSpec{Signups: *signups, Concurrency: *concurrency, Rate: *rate, Duration: *duration,
			RecoverAfter: *recoverAfter, DrainTimeout: *drainTimeout, Poison: *poison}
		if err := spec.Validate(); err != nil {
			return flagError(err)
		}
		if *drainTimeout <= 0 {
			return usagef("--drain-timeout: %v must be positive", *drainTimeout)
		}
		id, keep := *sandbox, *sandbox != ""
		if !keep {
			id = fmt.Sprintf("run-%d", time.Now().UnixNano())
		}
		if err := labs.ValidateID(id); err != nil {
			return flagError(err)
		}
		warn(cmd.ErrOrStderr(), s)

		ctx := cmd.Context()
		db, err := redisdb.Open(ctx, *redisURL, redisdb.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		// The sandbox outlives a Ctrl-C long enough to stop gracefully and
		// report what the interrupted run did.
		sb, err := labs.New(context.WithoutCancel(ctx), db.Client, id, labs.Options{
			Settings: &s, Logger: slog.Default(), DeleteOnClose: !keep,
		})
		if err != nil {
			return flagError(err)
		}
		res, runErr := sb.Run(ctx, spec)
		if err := sb.Close(); err != nil {
			slog.Warn("close lab sandbox", "err", err)
		}
		if runErr != nil {
			return fmt.Errorf("lab run: %w", runErr)
		}
		out := cmd.OutOrStdout()
		if *asJSON {
			if err := json.NewEncoder(out).Encode(runJSON{Result: res, Sandbox: id, Redis: db.Describe()}); err != nil {
				return err
			}
		} else {
			printSummary(out, res, db.Describe())
		}
		if res.Cancelled {
			return errors.New("interrupted: the figures above cover the signups sent before the stop")
		}
		return nil
	}
	return cmd
}

// runJSON is the --json contract: the run's result and where it ran.
type runJSON struct {
	labs.Result
	Sandbox string `json:"sandbox"`
	Redis   string `json:"redis"`
}

func printSummary(w io.Writer, r labs.Result, redis string) {
	ms := func(v float64) string { return fmt.Sprintf("%.1f ms", v) }
	q := func(l labs.Quantiles) string {
		return "p50 " + ms(l.P50) + " · p95 " + ms(l.P95) + " · p99 " + ms(l.P99) + " · max " + ms(l.Max)
	}
	fmt.Fprintf(w, "Lab run: %s mode, %d signups at concurrency %d (%s)\n\n", r.Mode, r.Load.Signups, r.Load.Concurrency, redis)
	fmt.Fprintf(w, "  Signups     %d sent · %d succeeded · %d failed in %.2f s (%.0f succeeded/s)\n",
		r.SignupsAttempted, r.SignupsSucceeded, r.SignupsFailed, r.DurationS, r.ThroughputPerS)
	fmt.Fprintf(w, "  Latency     %s\n", q(r.Latency))
	if r.EffectLatency.Count > 0 {
		fmt.Fprintf(w, "  Email after %s (from request to welcome email)\n", q(r.EffectLatency))
	}
	fmt.Fprintf(w, "  Email       %d users emailed · %d duplicate emails", r.EmailsSent, r.EmailDuplicates)
	if r.EmailsForFailedSignups > 0 {
		fmt.Fprintf(w, " · %d sent for signups that reported failure", r.EmailsForFailedSignups)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Analytics   %d users tracked\n", r.AnalyticsEvents)
	fmt.Fprintf(w, "  Orphans     %d users exist although their signup returned an error\n", r.OrphanedUsers)
	if r.Mode == labs.ModeAsync || r.Poison > 0 {
		fmt.Fprintf(w, "  Stream      %d retries · %d redeliveries · %d consumer crashes · max lag %d · max pending %d\n",
			r.Retries, r.Redeliveries, r.Crashes, r.MaxConsumerLag, r.MaxPending)
		var paused []string
		for _, g := range labs.Groups {
			if p := r.PausedS[g]; p > 0 {
				paused = append(paused, fmt.Sprintf("%s %.2f s", g, p))
			}
		}
		if len(paused) > 0 {
			fmt.Fprintf(w, "  Paused      %s (the service kept failing; probes spent nothing)\n", strings.Join(paused, " · "))
		}
		fmt.Fprintf(w, "  Outcome     %d dead-lettered (%d in the sandbox) · %d in flight · %d lost\n",
			r.DeadLettered, r.DLQTotal, r.InFlight, r.Lost)
	}
	fmt.Fprintf(w, "  Drain       %.2f s after the load", r.DrainS)
	if !r.Drained {
		fmt.Fprintf(w, ", not finished: in flight counts what was still waiting")
	}
	fmt.Fprintln(w)
	var notes []string
	if r.EmailDuplicates > 0 {
		notes = append(notes, "duplicates: a message was redelivered and handled again without its idempotency key")
	}
	if r.Lost > 0 {
		notes = append(notes, "lost: users were stored but their event never reached the stream")
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n  Note: %s.\n", strings.Join(notes, "; "))
	}
}
