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
	cmd.AddCommand(newLabRunCmd(), newLabRecordCmd())
	return cmd
}

// faultFlags are the per-service fault flags shared by `lab run` and `worker`.
type faultFlags struct {
	latency, jitter time.Duration
	errorRate       float64
	down, hang      bool
}

func addFaultFlags(fs *pflag.FlagSet, service string, f *faultFlags, withDown bool) {
	fs.DurationVar(&f.latency, service+"-latency", 0, "added latency of every "+service+" call, e.g. 50ms")
	fs.DurationVar(&f.jitter, service+"-jitter", 0, "up to this much more latency, at random, on every "+service+" call")
	fs.Float64Var(&f.errorRate, service+"-error-rate", 0, "share of "+service+" calls that fail, 0..1")
	if withDown {
		fs.BoolVar(&f.down, service+"-down", false, "the "+service+" service refuses connections")
		fs.BoolVar(&f.hang, service+"-hang", false, "the "+service+" service accepts calls and never answers")
	}
}

func (f faultFlags) faults() labs.Faults {
	return labs.Faults{Latency: f.latency, Jitter: f.jitter, ErrorRate: f.errorRate, Down: f.down, Hang: f.hang}
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
	fs.BoolVar(&c.settings.NoLeaseRenewal, "no-lease-renewal", false, prefix+"consumers stop renewing their leases, so work slower than --lease is taken over while it runs")
}

// apply copies the consumer flags into s.
func (c *consumerFlags) apply(s *labs.Settings) {
	s.CrashRate, s.Idempotency = c.settings.CrashRate, !c.noIdem
	s.MaxDeliveries, s.MaxRetryAge = c.settings.MaxDeliveries, c.settings.MaxRetryAge
	s.RetryAfter, s.RetryMaxBackoff, s.Lease = c.settings.RetryAfter, c.settings.RetryMaxBackoff, c.settings.Lease
	s.NoLeaseRenewal = c.settings.NoLeaseRenewal
}

// settingFlags maps a setting or load field (labs.FieldError.Field) to the
// flag that sets it, so a refused value is reported by its flag name.
var settingFlags = map[string]string{
	"mode": "--mode", "publish": "--publish", "timeout": "--timeout", "crash_rate": "--crash-rate",
	"publish_error_rate": "--publish-error-rate", "email_consumers": "--email-consumers", "analytics_consumers": "--analytics-consumers",
	"max_deliveries": "--max-deliveries", "max_retry_age": "--max-retry-age", "retry_after": "--retry-after",
	"retry_max_backoff": "--retry-max-backoff", "lease": "--lease", "breaker": "--breaker", "fallback": "--fallback",
	"email.latency": "--email-latency", "email.error_rate": "--email-error-rate", "email.jitter": "--email-jitter",
	"analytics.latency": "--analytics-latency", "analytics.error_rate": "--analytics-error-rate", "analytics.jitter": "--analytics-jitter",
	"signups": "--signups", "concurrency": "--concurrency", "rate": "--rate", "duration": "--duration",
	"recover_after": "--recover-after", "drain_timeout": "--drain-timeout", "poison": "--poison", "sandbox": "--sandbox",
	"chain_depth": "--chain-depth", "chain.latency": "--chain-latency", "chain.error_rate": "--chain-error-rate",
	"chain.jitter": "--chain-jitter",
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

// runFlags are the settings and load flags of `lab run`: every setting a
// scenario can name, so any run of the web lab has a command line.
type runFlags struct {
	mode, publish                 string
	signups, concurrency          int
	rate, publishErr              float64
	duration, timeout             time.Duration
	recoverAfter, drainTimeout    time.Duration
	email, analytics, chain       faultFlags
	breaker, fallback             bool
	chainDepth, poison, consumers int
	emailConsumers                int
	analyticsConsumers            int
	consumerOpts                  consumerFlags
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.mode, "mode", "async", "sync (wait for email and analytics) or async (publish an event)")
	fs.IntVar(&f.signups, "signups", 200, "how many signups to send (1..100000)")
	fs.IntVar(&f.concurrency, "concurrency", 16, "signups in flight at once (1..1000)")
	fs.Float64Var(&f.rate, "rate", 0, "send this many signups per second (open loop, 0.1..10000); 0 sends back to back")
	fs.DurationVar(&f.duration, "duration", 0, "stop sending after this long (at most 10m); 0 sends all --signups")
	addFaultFlags(fs, "email", &f.email, true)
	addFaultFlags(fs, "analytics", &f.analytics, true)
	fs.DurationVar(&f.timeout, "timeout", time.Second, "how long each downstream call may take before it fails")
	fs.BoolVar(&f.breaker, "breaker", false, "sync: a circuit breaker per service fails fast after 5 failures in a row")
	fs.BoolVar(&f.fallback, "fallback", false, "sync: a signup succeeds when only analytics failed")
	fs.IntVar(&f.chainDepth, "chain-depth", 0, "put this many more services behind email, each calling the next and waiting (0..4)")
	addFaultFlags(fs, "chain", &f.chain, false)
	addConsumerFlags(fs, &f.consumerOpts, "async: ")
	fs.StringVar(&f.publish, "publish", "outbox", "async: outbox (user + event in one atomic write) or naive (two separate writes)")
	fs.Float64Var(&f.publishErr, "publish-error-rate", 0, "async: share of publishes that fail, 0..1")
	fs.IntVar(&f.poison, "poison", 0, "add this many unreadable messages to the stream before the load (0..100)")
	fs.DurationVar(&f.recoverAfter, "recover-after", 0, "bring downed services back after this long")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 2*time.Minute, "wait at most this long for the work to finish, counted from the end of the load or --recover-after, whichever is later (sooner when a service is down for good)")
	fs.IntVar(&f.consumers, "consumers", 2, "async: consumers per group in this process (0..64)")
	fs.IntVar(&f.emailConsumers, "email-consumers", -1, "async: email consumers, when not --consumers (0..64)")
	fs.IntVar(&f.analyticsConsumers, "analytics-consumers", -1, "async: analytics consumers, when not --consumers (0..64)")
}

// parse turns the flags into checked settings and load; a bad value is a
// usage error naming its flag.
func (f *runFlags) parse(fs *pflag.FlagSet) (labs.Settings, labs.LoadSpec, error) {
	s := labs.DefaultSettings()
	s.Mode = labs.Mode(f.mode)
	s.Email, s.Analytics, s.Chain = f.email.faults(), f.analytics.faults(), f.chain.faults()
	s.Timeout, s.Breaker, s.Fallback, s.ChainDepth = f.timeout, f.breaker, f.fallback, f.chainDepth
	f.consumerOpts.apply(&s)
	s.Publish, s.PublishErrorRate = labs.Publish(f.publish), f.publishErr
	s.EmailConsumers, s.AnalyticsConsumers = f.consumers, f.consumers
	if fs.Changed("email-consumers") {
		s.EmailConsumers = f.emailConsumers
	}
	if fs.Changed("analytics-consumers") {
		s.AnalyticsConsumers = f.analyticsConsumers
	}
	if err := s.Validate(); err != nil {
		var fe *labs.FieldError
		if errors.As(err, &fe) && strings.HasSuffix(fe.Field, "_consumers") &&
			!fs.Changed(strings.ReplaceAll(strings.TrimPrefix(flagName(fe.Field), "--"), "_", "-")) {
			return s, labs.LoadSpec{}, usagef("--consumers: %s", fe.Reason) // the shared flag set it
		}
		return s, labs.LoadSpec{}, flagError(err)
	}
	spec := labs.LoadSpec{Signups: f.signups, Concurrency: f.concurrency, Rate: f.rate, Duration: f.duration,
		RecoverAfter: f.recoverAfter, DrainTimeout: f.drainTimeout, Poison: f.poison}
	if err := spec.Validate(); err != nil {
		return s, spec, flagError(err)
	}
	if f.drainTimeout <= 0 {
		return s, spec, usagef("--drain-timeout: %v must be positive", f.drainTimeout)
	}
	return s, spec, nil
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
	var rf runFlags
	rf.register(fs)
	sandbox := fs.String("sandbox", "", "use this sandbox id and keep its keys (default: a fresh one, deleted after)")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the summary")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s, spec, err := rf.parse(fs)
		if err != nil {
			return err
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
		// A headless run has the process to itself: its one pool has room
		// for every signup in flight and the consumers besides, so the
		// figures measure the lab, not a pool sized for a shared server
		// (up to the 320 connections a sandbox had when it had a pool of its
		// own: beyond that, file descriptors run short before Redis does).
		db, err := redisdb.Open(ctx, *redisURL, redisdb.Options{PoolSize: min(spec.Concurrency, 256) + 64})
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
