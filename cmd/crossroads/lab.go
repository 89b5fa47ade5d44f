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

// settingFlags maps a setting or load field (labs.FieldError.Field) to the
// flag that sets it, so a refused value is reported by its flag name.
var settingFlags = map[string]string{
	"mode": "--mode", "publish": "--publish", "timeout": "--timeout", "crash_rate": "--crash-rate",
	"publish_error_rate": "--publish-error-rate", "email_consumers": "--consumers", "analytics_consumers": "--consumers",
	"max_deliveries": "--max-deliveries", "retry_after": "--retry-after",
	"email.latency": "--email-latency", "email.error_rate": "--email-error-rate",
	"analytics.latency": "--analytics-latency", "analytics.error_rate": "--analytics-error-rate",
	"signups": "--signups", "concurrency": "--concurrency", "rate": "--rate", "duration": "--duration",
	"recover_after": "--recover-after", "drain_timeout": "--drain-timeout", "sandbox": "--sandbox",
}

// flagError turns a *labs.FieldError into a one-line usage error naming the
// flag; other errors pass through.
func flagError(err error) error {
	var fe *labs.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name, ok := settingFlags[fe.Field]
	if !ok {
		name = fe.Field
	}
	return usagef("%s: %s", name, fe.Reason)
}

func newLabRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Send signups through the lab once and report what happened",
		Long: `Run the signup lab once, headless: start the signup API, the email and
analytics services and their consumers, send a bounded load, wait for async
work to drain, then print a summary (or one JSON object with --json).

In sync mode the signup calls email and analytics over HTTP and waits; in
async mode it stores the user and a user.signedup event in one MULTI/EXEC
and returns, and consumer groups do the rest. Inject faults with the
--email-* and --analytics-* flags and compare.

Redis: REDIS_URL (or --redis-url) names a real Redis 7; unset, an embedded
one runs in memory. Each run uses a fresh sandbox whose keys are deleted
afterwards, unless --sandbox names one (for instance to share the work with
'crossroads worker' processes); then the keys stay.`,
		Example: `  crossroads lab run --mode sync --email-latency 50ms --analytics-latency 50ms
  crossroads lab run --mode async --email-down --recover-after 3s --json
  crossroads lab run --email-error-rate 0.3 --crash-rate 0.05 --signups 2000 --no-idempotency`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	mode := fs.String("mode", "async", "sync (wait for email and analytics) or async (publish an event)")
	signups := fs.Int("signups", 200, "how many signups to send (1..100000)")
	concurrency := fs.Int("concurrency", 16, "signups in flight at once (1..1000)")
	rate := fs.Float64("rate", 0, "send this many signups per second (open loop); 0 sends back to back")
	duration := fs.Duration("duration", 0, "stop sending after this long (at most 10m); 0 sends all --signups")
	var email, analytics faultFlags
	addFaultFlags(fs, "email", &email, true)
	addFaultFlags(fs, "analytics", &analytics, true)
	timeout := fs.Duration("timeout", time.Second, "how long each downstream call may take before it fails")
	breaker := fs.Bool("breaker", false, "sync: a circuit breaker per service fails fast after 5 failures in a row")
	crashRate := fs.Float64("crash-rate", 0, "async: chance a consumer dies after the email took effect, before acking (0..0.5)")
	noIdem := fs.Bool("no-idempotency", false, "async: consumers and services ignore the idempotency key, so redeliveries duplicate")
	publish := fs.String("publish", "outbox", "async: outbox (user + event in one MULTI/EXEC) or naive (two separate writes)")
	publishErr := fs.Float64("publish-error-rate", 0, "async: share of publishes that fail, 0..1")
	recoverAfter := fs.Duration("recover-after", 0, "bring downed services back after this long")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "async: wait at most this long for consumers to finish")
	consumers := fs.Int("consumers", 2, "async: consumers per group in this process (0..64)")
	maxDeliveries := fs.Int("max-deliveries", labs.DefaultSettings().MaxDeliveries, "async: deliveries before a message is dead-lettered (1..100)")
	retryAfter := fs.Duration("retry-after", labs.DefaultSettings().RetryAfter, "async: how long a failed message waits before it is retried")
	sandbox := fs.String("sandbox", "", "use this sandbox id and keep its keys (default: a fresh one, deleted after)")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the summary")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s := labs.DefaultSettings()
		s.Mode = labs.Mode(*mode)
		s.Email = labs.Faults{Latency: email.latency, ErrorRate: email.errorRate, Down: email.down}
		s.Analytics = labs.Faults{Latency: analytics.latency, ErrorRate: analytics.errorRate, Down: analytics.down}
		s.Timeout, s.Breaker, s.CrashRate, s.Idempotency = *timeout, *breaker, *crashRate, !*noIdem
		s.Publish, s.PublishErrorRate = labs.Publish(*publish), *publishErr
		s.EmailConsumers, s.AnalyticsConsumers = *consumers, *consumers
		s.MaxDeliveries, s.RetryAfter = *maxDeliveries, *retryAfter
		if err := s.Validate(); err != nil {
			return flagError(err)
		}
		spec := labs.LoadSpec{Signups: *signups, Concurrency: *concurrency, Rate: *rate, Duration: *duration,
			RecoverAfter: *recoverAfter, DrainTimeout: *drainTimeout}
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
			if err := json.NewEncoder(out).Encode(newRunJSON(res, id, db)); err != nil {
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

// runJSON is the --json contract of DESIGN.md (plus orphaned_users and a few
// fields that say how the run ended).
type runJSON struct {
	Mode             labs.Mode      `json:"mode"`
	SignupsAttempted int64          `json:"signups_attempted"`
	SignupsSucceeded int64          `json:"signups_succeeded"`
	SignupsFailed    int64          `json:"signups_failed"`
	Latency          labs.Quantiles `json:"latency_ms"`
	ThroughputPerS   float64        `json:"throughput_per_s"`
	DurationS        float64        `json:"duration_s"`
	EffectLatency    labs.Quantiles `json:"effect_latency_ms"`
	EmailsSent       int64          `json:"emails_sent"`
	EmailDuplicates  int64          `json:"email_duplicates"`
	AnalyticsEvents  int64          `json:"analytics_events"`
	Retries          int64          `json:"retries"`
	Redeliveries     int64          `json:"redeliveries"`
	DLQSize          int64          `json:"dlq_size"`
	MaxConsumerLag   int64          `json:"max_consumer_lag"`
	Lost             int64          `json:"lost"`
	OrphanedUsers    int64          `json:"orphaned_users"`
	TrimmedPending   int64          `json:"trimmed_pending"`
	ConsumerCrashes  int64          `json:"consumer_crashes"`
	Drained          bool           `json:"drained"`
	Cancelled        bool           `json:"cancelled"`
	Sandbox          string         `json:"sandbox"`
	Redis            string         `json:"redis"`
}

func newRunJSON(r labs.Result, sandbox string, db *redisdb.DB) runJSON {
	redis := "embedded"
	if !db.Embedded {
		redis = "redis " + db.Version
	}
	return runJSON{
		Mode: r.Mode, SignupsAttempted: r.SignupsAttempted, SignupsSucceeded: r.SignupsSucceeded, SignupsFailed: r.SignupsFailed,
		Latency: r.Latency, ThroughputPerS: r.ThroughputPerS, DurationS: r.DurationS, EffectLatency: r.EffectLatency,
		EmailsSent: r.EmailsSent, EmailDuplicates: r.EmailDuplicates, AnalyticsEvents: r.AnalyticsEvents,
		Retries: r.Retries, Redeliveries: r.Redeliveries, DLQSize: r.DLQSize, MaxConsumerLag: r.MaxConsumerLag,
		Lost: r.Lost, OrphanedUsers: r.OrphanedUsers, TrimmedPending: r.TrimmedPending, ConsumerCrashes: r.Crashes,
		Drained: r.Drained, Cancelled: r.Cancelled, Sandbox: sandbox, Redis: redis,
	}
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
	fmt.Fprintf(w, "  Email       %d users emailed · %d duplicate emails\n", r.EmailsSent, r.EmailDuplicates)
	fmt.Fprintf(w, "  Analytics   %d users tracked\n", r.AnalyticsEvents)
	if r.Mode == labs.ModeSync {
		fmt.Fprintf(w, "  Orphans     %d users exist although their signup returned an error\n", r.OrphanedUsers)
	} else {
		fmt.Fprintf(w, "  Stream      %d retries · %d redeliveries · %d consumer crashes · max lag %d\n",
			r.Retries, r.Redeliveries, r.Crashes, r.MaxConsumerLag)
		fmt.Fprintf(w, "  Outcome     %d dead letters · %d lost", r.DLQSize, r.Lost)
		if r.TrimmedPending > 0 {
			fmt.Fprintf(w, " · %d pending entries trimmed before processing", r.TrimmedPending)
		}
		fmt.Fprintln(w)
		if !r.Drained {
			fmt.Fprintf(w, "\n  The consumers had not finished after --drain-timeout %v: lost counts what was still in flight.\n", r.Load.DrainTimeout)
		}
	}
	var notes []string
	if r.EmailDuplicates > 0 {
		notes = append(notes, "duplicates: a message was redelivered and handled again without its idempotency key")
	}
	if r.Lost > 0 {
		notes = append(notes, "lost: users whose event was never processed nor dead-lettered")
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n  Note: %s.\n", strings.Join(notes, "; "))
	}
}
