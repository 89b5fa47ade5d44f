package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
	"github.com/crossroads-learn/crossroads/server"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Crossroads web app",
		Long: `Serve the web app: lessons, labs and the decision wizard.

Without REDIS_URL an embedded, in-memory Redis starts inside the process.
Stop with Ctrl-C (SIGINT) or SIGTERM: requests in flight get up to 10 seconds.`,
		Args: noArgs,
	}
	addr := cmd.Flags().String("addr", envOr("CROSSROADS_ADDR", "127.0.0.1:8080"), "address to listen on (env CROSSROADS_ADDR)")
	redisURL := cmd.Flags().String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")
	labMax := cmd.Flags().Int("lab-max", 200, "most lab sandboxes alive at once; beyond it visitors see \"lab is full\"")
	labIdle := cmd.Flags().Duration("lab-idle", 2*time.Hour, "close a lab sandbox (and delete its keys) after this long unused")
	metricsAddr := cmd.Flags().String("metrics-addr", envOr("CROSSROADS_METRICS_ADDR", "127.0.0.1:9464"), "address of the Prometheus /metrics listener, kept off the public one; empty turns it off (env CROSSROADS_METRICS_ADDR)")
	trustedProxies := cmd.Flags().String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	secureCookies := cmd.Flags().Bool("secure-cookies", false, "mark the learner cookie Secure on every answer (the site is only reached over HTTPS)")
	rateSandboxes := cmd.Flags().String("rate-sandboxes", "10/m", "most new lab sandboxes per client address, N/period (s, m, h) or off")
	rateSaves := cmd.Flags().String("rate-saves", "60/m", "most decide saves (start, step) per client address, N/period or off")
	rateImports := cmd.Flags().String("rate-imports", "10/m", "most progress imports per client address, N/period or off")
	rateUploads := cmd.Flags().String("rate-uploads", "10/m", "most answer-file uploads per client address, N/period or off")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if _, _, err := net.SplitHostPort(*addr); err != nil {
			return usagef("--addr: %q is not host:port", *addr)
		}
		if *labMax < 1 || *labMax > 10_000 {
			return usagef("--lab-max: %d is not between 1 and 10000", *labMax)
		}
		if *labIdle < time.Minute || *labIdle > 7*24*time.Hour {
			return usagef("--lab-idle: %v is not between 1m and 168h", *labIdle)
		}
		if *metricsAddr != "" {
			if _, _, err := net.SplitHostPort(*metricsAddr); err != nil {
				return usagef("--metrics-addr: %q is not host:port (or empty for none)", *metricsAddr)
			}
		}
		proxies, err := server.ParseTrustedProxies(*trustedProxies)
		if err != nil {
			return usagef("--trusted-proxies: %v", err)
		}
		var limits server.RateLimits
		for _, f := range []struct {
			name string
			val  string
			to   *server.Rate
		}{
			{"rate-sandboxes", *rateSandboxes, &limits.Sandboxes},
			{"rate-saves", *rateSaves, &limits.Saves},
			{"rate-imports", *rateImports, &limits.Imports},
			{"rate-uploads", *rateUploads, &limits.Uploads},
		} {
			if *f.to, err = server.ParseRate(f.val); err != nil {
				return usagef("--%s: %v", f.name, err)
			}
		}
		ctx := cmd.Context()
		db, err := redisdb.Open(ctx, *redisURL, redisdb.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		slog.Info("redis", "backend", db.Describe(), "addr", db.Addr, "embedded", db.Embedded)

		// The course is parsed once, now: a broken chapter stops start-up
		// with its file and line instead of failing a learner later. Source
		// blocks quote the lab's own code, so a renamed function fails here;
		// figures quote the recorded runs, so a figure never recorded does.
		recs, err := labs.LoadRecordings(content.FS, "labs/results")
		if err != nil {
			return fmt.Errorf("load recorded runs: %w", err)
		}
		catalog, err := lessons.Load(content.FS, lessons.Options{Source: labs.Source, Figures: server.QuoteFigures(recs)})
		if err != nil {
			return fmt.Errorf("load lessons: %w", err)
		}

		// One registry for the web and the lab metrics, so /metrics shows both.
		reg := server.NewRegistry()
		mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{
			Max: *labMax, IdleTimeout: *labIdle,
			Sandbox: labs.Options{Registerer: reg, Logger: slog.Default()},
		})
		if err != nil {
			return fmt.Errorf("start labs: %w", err)
		}
		defer mgr.Close()

		srv, err := server.New(server.Config{
			RedisLabel: db.Describe(),
			Ready:      db.Ready,
			Version:    buildVersion(),
			Redis:      db.Client,
			Registry:   reg,
			Labs:       mgr,
			Lessons:    catalog,
			Recordings: recs,

			RateLimits:     limits,
			TrustedProxies: proxies,
			SecureCookies:  *secureCookies,
		})
		if err != nil {
			return fmt.Errorf("build server: %w", err)
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *addr, err)
		}
		if *metricsAddr != "" {
			mln, err := net.Listen("tcp", *metricsAddr)
			if err != nil {
				ln.Close()
				return fmt.Errorf("--metrics-addr: listen on %s: %w (pick another address, or --metrics-addr \"\" for none)", *metricsAddr, err)
			}
			slog.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
			mctx, stopMetrics := context.WithCancel(ctx)
			metricsDone := make(chan struct{})
			go func() {
				defer close(metricsDone)
				if err := srv.ServeMetrics(mctx, mln); err != nil {
					slog.Error("metrics listener stopped", "err", err)
				}
			}()
			defer func() { stopMetrics(); <-metricsDone }()
		}
		slog.Info("serving", "url", "http://"+ln.Addr().String())
		fmt.Fprintf(cmd.OutOrStdout(), "Crossroads is running at http://%s (Ctrl-C to stop)\n", ln.Addr())
		return srv.Serve(ctx, ln)
	}
	return cmd
}
