package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs"
)

func newWorkerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run lab consumers alone, sharing a sandbox's consumer groups",
		Long: `Run the email and analytics consumers of one lab sandbox, and the simulated
services they call, without a signup API. Start several (docker compose up
--scale worker=3) and they share the messages of the same consumer groups:
each message goes to one worker, and a worker's unfinished messages are
claimed by the others.

It needs a real Redis in REDIS_URL (or --redis-url): an embedded Redis would
live inside this process, where no other process could publish to it, so the
command refuses to start without one (exit code 2). A worker often starts
alongside its Redis, or while it restarts, so it keeps trying an unreachable
one for --redis-wait before it gives up (exit code 1).

Ctrl-C or SIGTERM stops it gracefully: each consumer finishes the message in
hand and acknowledges only what it finished; it hands the rest back to its
group, where another worker takes them at once.`,
		Example: `  REDIS_URL=redis://localhost:6379/0 crossroads worker --sandbox default --consumers 4
  crossroads lab run --sandbox default --consumers 0   # publish; the workers consume`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	sandbox := fs.String("sandbox", "default", "sandbox whose consumer groups to join")
	consumers := fs.Int("consumers", 2, "consumers per group in this process (1..64)")
	var email, analytics faultFlags
	addFaultFlags(fs, "email", &email, false)
	addFaultFlags(fs, "analytics", &analytics, false)
	timeout := fs.Duration("timeout", time.Second, "how long each call to a service may take")
	var consumerOpts consumerFlags
	addConsumerFlags(fs, &consumerOpts, "")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db (env REDIS_URL); required")
	redisWait := fs.Duration("redis-wait", 30*time.Second, "how long to keep trying an unreachable Redis at start (0: give up at once)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *redisURL == "" {
			return usagef("crossroads worker needs REDIS_URL (or --redis-url): an embedded Redis would be private to this process")
		}
		if err := labs.ValidateID(*sandbox); err != nil {
			return flagError(err)
		}
		if *redisWait < 0 {
			return usagef("--redis-wait: %v must not be negative", *redisWait)
		}
		if *consumers < 1 {
			return usagef("--consumers: %d must be at least 1", *consumers)
		}
		s := labs.DefaultSettings()
		s.Email = email.faults()
		s.Analytics = analytics.faults()
		s.Timeout = *timeout
		consumerOpts.apply(&s)
		s.EmailConsumers, s.AnalyticsConsumers = *consumers, *consumers
		if err := s.Validate(); err != nil {
			return flagError(err)
		}
		log := slog.Default()
		ctx := cmd.Context()
		db, err := openWaiting(ctx, *redisURL, *redisWait, log)
		if err != nil {
			return err
		}
		defer db.Close()
		// The sandbox is not tied to ctx: a signal asks for a graceful Close
		// instead of cancelling the calls in flight.
		sb, err := labs.New(context.WithoutCancel(ctx), db.Client, *sandbox, labs.Options{
			Settings: &s, Logger: log, Worker: true,
		})
		if err != nil {
			return flagError(err)
		}
		log.Info("worker joined", "sandbox", *sandbox, "consumers_per_group", *consumers, "redis", db.Describe())
		<-ctx.Done()
		log.Info("worker stopping: finishing messages in hand")
		if err := sb.Close(); err != nil {
			return fmt.Errorf("stop worker: %w", err)
		}
		c := sb.Counters()
		log.Info("worker stopped", "processed", c.Processed, "skipped", c.Skipped, "retries", c.Retries,
			"redeliveries", c.Redeliveries, "dead_lettered", c.DeadLettered, "emails_sent", c.EmailsSent)
		return nil
	}
	return cmd
}

// openWaiting opens the Redis at url, trying again while it does not answer,
// until wait has passed: a worker started by an orchestrator next to its
// Redis, or while that Redis restarts, should join once it is up rather than
// die and leave the restart to someone else. An answer that is wrong (a bad
// URL, too old a version) ends the wait at once.
func openWaiting(ctx context.Context, url string, wait time.Duration, log *slog.Logger) (*redisdb.DB, error) {
	deadline := time.Now().Add(wait)
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		db, err := redisdb.Open(ctx, url, redisdb.Options{})
		if err == nil || !errors.Is(err, redisdb.ErrUnreachable) || time.Now().Add(pause).After(deadline) {
			return db, err
		}
		if attempt == 1 {
			log.Warn("waiting for redis", "error", err, "for_at_most", wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for redis: %w", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}
