package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/netutil"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/decide"
	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
	"github.com/crossroads-learn/crossroads/server"
	"github.com/crossroads-learn/crossroads/workshops"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Crossroads web app",
		Long: `Serve the web app: lessons, labs and the decision wizard.

Without REDIS_URL an embedded, in-memory Redis starts inside the process.
Stop with Ctrl-C (SIGINT) or SIGTERM: requests in flight and the lab
sandboxes (closed in parallel) get --shutdown-timeout, 10 seconds by default,
and the process exits then even when Redis hangs.

A shared server bounds what a room can do to it: one Redis connection pool
(--redis-pool), a budget of lab signups in flight for the whole room
(--lab-inflight), lab sandboxes per client address (--lab-per-address) and
users per sandbox (--lab-max-users), besides --lab-max and the --rate-* limits.

Several instances may share one REDIS_URL (a Redis server or a Redis
Cluster) behind a proxy: each learner's lab runs in one instance at a time,
held by a lease in Redis, and moves to another within 10 seconds when its
instance stops; workshops, progress and decide drafts live in Redis alone.
Give each instance --advertise-url, the address the others reach it on, so
a request that lands on the wrong instance is passed on rather than asked to
wait. With a real Redis, stopping an instance hands its labs over instead of
deleting them.

--decisions DIR adds a browsable decision log at /decisions: the records of
an adr-tools or MADR folder (such as docs/decisions), with their status,
date, supersede links and a search. The folder is read at start and again
within seconds after a record changes; write records with "crossroads
decide" or the wizard.`,
		Args: noArgs,
	}
	addr := cmd.Flags().String("addr", envOr("CROSSROADS_ADDR", "127.0.0.1:8080"), "address to listen on (env CROSSROADS_ADDR)")
	redisURL := cmd.Flags().String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")
	labMax := cmd.Flags().Int("lab-max", defaultLabMax(fileLimit()), "most lab sandboxes alive at once; beyond it visitors see \"lab is full\"; 200 unless the open-file limit is low")
	labIdle := cmd.Flags().Duration("lab-idle", 2*time.Hour, "close a lab sandbox (and delete its keys) after this long unused")
	labPerAddress := cmd.Flags().Int("lab-per-address", 3, "most lab sandboxes one client address may hold at once (0: no bound; raise it for a room behind one NAT address)")
	labInflight := cmd.Flags().Int("lab-inflight", defaultLabInflight(fileLimit()), "most lab signups in flight at once across every learner's load; a run takes its whole concurrency from it or waits, and is refused with \"the room is busy\" if none is free; 512 unless the open-file limit is low")
	maxConns := cmd.Flags().Int("max-conns", defaultMaxConns(fileLimit()), "most connections the public listener holds at once; more wait in the kernel's queue; 4096 unless the open-file limit is low")
	labMaxUsers := cmd.Flags().Int("lab-max-users", int(labs.DefaultStorage.Users), "most users one lab sandbox keeps in Redis, its next run included; beyond it the data of earlier runs are dropped before a run")
	redisPool := cmd.Flags().Int("redis-pool", defaultRedisPool(), "most connections to Redis the lab sandboxes share; the pages and /readyz keep 8 more of their own, so a busy room never slows them")
	shutdownTimeout := cmd.Flags().Duration("shutdown-timeout", server.ShutdownTimeout, "on SIGINT/SIGTERM, how long requests in flight and the closing lab sandboxes get before the process exits anyway")
	metricsAddr := cmd.Flags().String("metrics-addr", envOr("CROSSROADS_METRICS_ADDR", "127.0.0.1:9464"), "address of the private listener for Prometheus /metrics and the Go profiler (/debug/pprof/), kept off the public one; empty turns it off (env CROSSROADS_METRICS_ADDR)")
	trustedProxies := cmd.Flags().String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	secureCookies := cmd.Flags().Bool("secure-cookies", false, "mark the learner cookie Secure on every answer (the site is only reached over HTTPS)")
	rateSandboxes := cmd.Flags().String("rate-sandboxes", "10/m", "most new lab sandboxes per client address, N/period (s, m, h) or off")
	rateSaves := cmd.Flags().String("rate-saves", "60/m", "most decide saves (start, step) per client address, N/period or off")
	rateImports := cmd.Flags().String("rate-imports", "10/m", "most progress imports per client address, N/period or off")
	rateUploads := cmd.Flags().String("rate-uploads", "10/m", "most answer-file uploads per client address, N/period or off")
	rateJoins := cmd.Flags().String("rate-joins", "20/m", "most workshop joins per client address, N/period or off (a room behind one NAT address needs more)")
	rateWorkshops := cmd.Flags().String("rate-workshops", "10/h", "most new workshops per client address, N/period or off")
	workshopsMax := cmd.Flags().Int("workshops-max", 50, "most workshops open at once on this server (and every instance sharing its Redis)")
	advertise := cmd.Flags().String("advertise-url", os.Getenv("CROSSROADS_ADVERTISE_URL"), "base URL the other instances sharing this Redis reach this one on (http://app1:8080), so they pass on requests for the labs it runs; empty for none (env CROSSROADS_ADVERTISE_URL)")
	workshopPeople := cmd.Flags().Int("workshop-participants", 300, "most participants in one workshop")
	decisionsDir := cmd.Flags().String("decisions", "", "show the decision records in `DIR` (adr-tools or MADR layout) as a decision log at /decisions; read at start and again within seconds after a record changes; empty for none")
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
		if *labPerAddress < 0 || *labPerAddress > 10_000 {
			return usagef("--lab-per-address: %d is not between 0 and 10000", *labPerAddress)
		}
		if *labInflight < 1 || *labInflight > 100_000 {
			return usagef("--lab-inflight: %d is not between 1 and 100000", *labInflight)
		}
		if *labMaxUsers < 1_000 || *labMaxUsers > 10_000_000 {
			return usagef("--lab-max-users: %d is not between 1000 and 10000000", *labMaxUsers)
		}
		if *maxConns < 16 || *maxConns > 1_000_000 {
			return usagef("--max-conns: %d is not between 16 and 1000000", *maxConns)
		}
		if *workshopsMax < 1 || *workshopsMax > 10_000 {
			return usagef("--workshops-max: %d is not between 1 and 10000", *workshopsMax)
		}
		if *workshopPeople < 1 || *workshopPeople > 10_000 {
			return usagef("--workshop-participants: %d is not between 1 and 10000", *workshopPeople)
		}
		if *advertise != "" {
			if u, err := url.Parse(*advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
				return usagef("--advertise-url: %q is not a base URL such as http://app1:8080", *advertise)
			}
		}
		if *redisPool < 4 || *redisPool > 10_000 {
			return usagef("--redis-pool: %d is not between 4 and 10000", *redisPool)
		}
		if *shutdownTimeout < time.Second || *shutdownTimeout > 10*time.Minute {
			return usagef("--shutdown-timeout: %v is not between 1s and 10m", *shutdownTimeout)
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
			{"rate-joins", *rateJoins, &limits.Joins},
			{"rate-workshops", *rateWorkshops, &limits.Workshops},
		} {
			if *f.to, err = server.ParseRate(f.val); err != nil {
				return usagef("--%s: %v", f.name, err)
			}
		}
		ctx := cmd.Context()
		var decisions *decide.Log
		if *decisionsDir != "" {
			if decisions, err = decide.OpenLog(ctx, *decisionsDir); err != nil {
				return usagef("--decisions: %v", err)
			}
			slog.Info("decision log", "dir", *decisionsDir, "records", decisions.Len())
		}
		db, err := redisdb.Open(ctx, *redisURL, redisdb.Options{PoolSize: *redisPool})
		if err != nil {
			return err
		}
		defer db.Close()
		slog.Info("redis", "backend", db.Describe(), "addr", db.Addr, "embedded", db.Embedded, "pool", *redisPool, "pages_pool", db.PagesPoolSize, "cluster", db.Cluster)

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
		users := int64(*labMaxUsers)
		mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{
			Max: *labMax, IdleTimeout: *labIdle, PerAddress: *labPerAddress, CloseTimeout: *shutdownTimeout,
			// Labs outlive this process only in a Redis that does.
			KeepOnClose: !db.Embedded, Advertise: strings.TrimSuffix(*advertise, "/"),
			// An idle consumer looks at the stream once a second at most:
			// this process wakes it the moment it adds a message (signups,
			// replays), so the wait costs no learner any latency, while a
			// room of idle sandboxes sends Redis five times fewer reads.
			Sandbox: labs.Options{Registerer: reg, Logger: slog.Default(), Room: labs.NewRoom(*labInflight), Block: time.Second,
				Storage: labs.Storage{Users: users, Stream: users, Dead: users / 2}},
		})
		if err != nil {
			return fmt.Errorf("start labs: %w", err)
		}
		defer mgr.Close() // a no-op once closeLabs below has run

		srv, err := server.New(server.Config{
			Content:    content.FS,
			RedisLabel: db.Describe(),
			Ready:      db.Ready,
			Version:    buildVersion(),
			Redis:      db.Pages,
			Registry:   reg,
			Labs:       mgr,
			Workshops:  workshops.NewStore(db.Pages, workshops.Options{MaxWorkshops: *workshopsMax, MaxParticipants: *workshopPeople}),
			Lessons:    catalog,
			Recordings: recs,
			Decisions:  decisions,

			RateLimits:      limits,
			TrustedProxies:  proxies,
			SecureCookies:   *secureCookies,
			ShutdownTimeout: *shutdownTimeout,
		})
		if err != nil {
			return fmt.Errorf("build server: %w", err)
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *addr, err)
		}
		// Past --max-conns the listener stops accepting and new visitors
		// queue in the kernel, instead of the process running out of file
		// descriptors that the labs and Redis need too.
		ln = netutil.LimitListener(ln, *maxConns)
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
		// On a stop signal the labs close while the web server drains, both
		// within --shutdown-timeout: a room of labs closes in parallel, and
		// a hung Redis cannot hold the exit (what did not finish is left to
		// expire, see labs.Options.DataTTL).
		serveCtx, stopServing := context.WithCancel(ctx)
		defer stopServing()
		labsClosed := make(chan error, 1)
		go func() {
			<-serveCtx.Done()
			labsClosed <- closeLabs(mgr, *shutdownTimeout)
		}()
		err = srv.Serve(serveCtx, ln)
		stopServing()
		if cerr := <-labsClosed; cerr != nil {
			slog.Warn("labs did not all close in time", "err", cerr)
		}
		return err
	}
	return cmd
}

// closeLabs closes every lab within timeout and says how long it took.
func closeLabs(mgr *labs.Manager, timeout time.Duration) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n := mgr.Len()
	err := mgr.CloseContext(ctx)
	slog.Info("labs closed", "labs", n, "took", time.Since(start).Round(time.Millisecond))
	return err
}

// defaultRedisPool is the default of --redis-pool: go-redis's own default
// of 10 connections per CPU, and at least 20. Redis runs one command at a
// time, so more connections than a few per core add no throughput, only
// file descriptors (two each with the embedded Redis, which lives in this
// process); commands wait for a free connection instead, each within its
// request's deadline.
func defaultRedisPool() int { return max(20, 10*runtime.GOMAXPROCS(0)) }

// defaultLabInflight is the default of --lab-inflight: 512 signups in flight
// for the whole room, fewer when the open-file limit is low. Each one in
// flight holds up to three loopback connections of the lab (the learner's
// call to the signup API, and in sync mode its calls to email and analytics),
// each two file descriptors in this process, one per end: a sixth of what is
// left after 512 descriptors for visitors, Redis, the sandboxes' listeners and
// the process itself keeps a 1,024-file machine (ulimit -n 1024) clear of
// "too many open files".
func defaultLabInflight(files int) int {
	if files <= 0 {
		return 512
	}
	return min(512, max(16, (files-512)/6))
}

// defaultMaxConns is the default of --max-conns: 4,096 visitors' connections
// at once, at most half the open-file limit.
func defaultMaxConns(files int) int {
	if files <= 0 {
		return 4096
	}
	return min(4096, max(16, files/2))
}

// defaultLabMax is the default of --lab-max: 200 sandboxes, fewer when the
// open-file limit is low, since each holds three loopback listeners (its
// signup API, email and analytics) and its consumers' connections to them.
func defaultLabMax(files int) int {
	if files <= 0 {
		return 200
	}
	return min(200, max(8, (files-512)/8))
}
