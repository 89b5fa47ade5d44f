package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
	"github.com/crossroads-learn/crossroads/server"
)

type webOpts struct {
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"-"`
	DurationS   float64       `json:"duration_s"`
	Rounds      int           `json:"rounds"`
	Lesson      string        `json:"lesson"`
}

type webRun struct {
	Target string  `json:"target"`
	Page   string  `json:"page"`
	Round  int     `json:"round"`
	Reqs   int64   `json:"requests"`
	Errors int64   `json:"errors"`
	PerS   float64 `json:"req_per_s"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Bytes  int64   `json:"bytes_per_response"`
}

type webSummary struct {
	Page      string  `json:"page"`
	AppPerS   float64 `json:"app_req_per_s"`
	BarePerS  float64 `json:"bare_req_per_s"`
	Ratio     float64 `json:"ratio"`
	AppP50    float64 `json:"app_p50_ms"`
	AppP99    float64 `json:"app_p99_ms"`
	BareP50   float64 `json:"bare_p50_ms"`
	BareP99   float64 `json:"bare_p99_ms"`
	GoalRatio bool    `json:"goal_ratio_0_8"`
	GoalP99   bool    `json:"goal_p99_20ms"`
	// ReadPerS is the bare handler that also reads the learner's progress
	// from Redis as the app does (lesson page only): the app's cost beyond
	// its one round trip to Redis.
	ReadPerS  float64 `json:"bare_read_req_per_s,omitempty"`
	ReadRatio float64 `json:"ratio_to_bare_read,omitempty"`
}

type webReport struct {
	Machine machine      `json:"machine"`
	Options webOpts      `json:"options"`
	Runs    []webRun     `json:"runs"`
	Summary []webSummary `json:"summary"`
}

func webCmd(c *common) *cobra.Command {
	o := webOpts{}
	cmd := &cobra.Command{
		Use:   "web",
		Short: "the home page and a lesson page vs a bare gin handler returning the same bytes",
		Long: `web serves the app exactly as "crossroads serve" does (every middleware, gzip, cross-origin
protection, metrics, request log formatted but discarded, progress read from Redis) and, in
the same process, a bare gin engine with no middleware that answers with the very bytes the
app sends (gzipped, as the app sends them to a browser that takes gzip). For the lesson page a
third target, bare+read, is the bare handler that first reads the learner's progress from
Redis as the app does: the app's own cost beyond that round trip. A built-in closed-loop load
(--concurrency clients back to back, each a browser that sent its learner cookie and accepts
gzip) hits each for --duration, interleaved.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWeb(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Concurrency, "concurrency", 64, "clients sending back to back")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "how long each target is loaded per round")
	f.IntVar(&o.Rounds, "rounds", 2, "interleaved rounds")
	f.StringVar(&o.Lesson, "lesson", "", "the lesson page's slug (default: the second chapter)")
	return cmd
}

func runWeb(ctx context.Context, c *common, o webOpts) error {
	if o.Concurrency < 1 || o.Rounds < 1 || o.Duration <= 0 || o.Duration > 5*time.Minute {
		return errors.New("web: --concurrency and --rounds must be at least 1, --duration between 0 and 5m")
	}
	o.DurationS = o.Duration.Seconds()
	r, err := openRedis(ctx, c.redisURL)
	if err != nil {
		return err
	}
	defer r.stop()
	rc, err := r.client(o.Concurrency + 8)
	if err != nil {
		return err
	}
	defer rc.Close()
	recs, err := labs.LoadRecordings(content.FS, "labs/results")
	if err != nil {
		return fmt.Errorf("load recorded runs: %w", err)
	}
	catalog, err := lessons.Load(content.FS, lessons.Options{Source: labs.Source, Figures: server.QuoteFigures(recs)})
	if err != nil {
		return fmt.Errorf("load lessons: %w", err)
	}
	if o.Lesson == "" {
		o.Lesson = catalog.Chapters[min(1, len(catalog.Chapters)-1)].Slug
	}
	app, err := server.New(server.Config{Content: content.FS, RedisLabel: "Redis " + r.Version, Version: "bench", Redis: rc, Lessons: catalog,
		Recordings: recs, Ready: func(context.Context) error { return nil }})
	if err != nil {
		return fmt.Errorf("build the app's server: %w", err)
	}
	appURL, stopApp, err := serveLoopback(app.Handler())
	if err != nil {
		return err
	}
	defer stopApp()
	pages := map[string]string{"home": "/", "lesson": "/lessons/" + o.Lesson}
	// The bare engine answers with exactly the bytes the app sends.
	gin.SetMode(gin.ReleaseMode)
	bare := gin.New()
	progress := lessons.NewStore(rc, catalog)
	for _, name := range []string{"home", "lesson"} {
		body, enc, err := fetch(ctx, appURL+pages[name])
		if err != nil {
			return fmt.Errorf("fetch the %s page: %w", name, err)
		}
		send := func(c *gin.Context) {
			if enc != "" {
				c.Header("Content-Encoding", enc)
			}
			c.Data(http.StatusOK, "text/html; charset=utf-8", body)
		}
		bare.GET(pages[name], send)
		bare.GET("/read"+pages[name], func(c *gin.Context) {
			cookie, _ := c.Cookie("cr_learner")
			if _, err := progress.Get(c.Request.Context(), cookie); err != nil {
				c.Status(http.StatusServiceUnavailable)
				return
			}
			send(c)
		})
	}
	bareURL, stopBare, err := serveLoopback(bare)
	if err != nil {
		return err
	}
	defer stopBare()

	rep := webReport{Machine: describeMachine(r.Version), Options: o}
	lats := map[string]*latencies{}
	rates := map[string][]float64{}
	for round := 1; round <= o.Rounds; round++ {
		for _, page := range []string{"home", "lesson"} {
			targets := []string{"app", "bare"}
			if page == "lesson" {
				targets = append(targets, "bare+read")
			}
			for _, target := range targets {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				url := appURL + pages[page]
				switch target {
				case "bare":
					url = bareURL + pages[page]
				case "bare+read":
					url = bareURL + "/read" + pages[page]
				}
				run, lat := closedLoop(ctx, url, o)
				run.Target, run.Page, run.Round = target, page, round
				fmt.Fprintf(os.Stderr, "round %d %-6s %-9s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n",
					round, page, target, run.PerS, run.P50, run.P99, run.Errors)
				rep.Runs = append(rep.Runs, run)
				k := page + "/" + target
				if lats[k] == nil {
					lats[k] = &latencies{}
				}
				lats[k].addAll(lat.ds)
				rates[k] = append(rates[k], run.PerS)
			}
		}
	}
	for _, page := range []string{"home", "lesson"} {
		a, b := page+"/app", page+"/bare"
		s := webSummary{Page: pages[page], AppPerS: round(median(rates[a]), 0), BarePerS: round(median(rates[b]), 0),
			AppP50: lats[a].quantile(0.5), AppP99: lats[a].quantile(0.99), BareP50: lats[b].quantile(0.5), BareP99: lats[b].quantile(0.99)}
		if s.BarePerS > 0 {
			s.Ratio = round(s.AppPerS/s.BarePerS, 2)
		}
		if r := rates[page+"/bare+read"]; len(r) > 0 {
			s.ReadPerS = round(median(r), 0)
			if s.ReadPerS > 0 {
				s.ReadRatio = round(s.AppPerS/s.ReadPerS, 2)
			}
		}
		s.GoalRatio, s.GoalP99 = s.Ratio >= 0.8, s.AppP99 < 20
		rep.Summary = append(rep.Summary, s)
	}
	if c.json {
		return printJSON(os.Stdout, rep)
	}
	rep.Machine.print(os.Stdout)
	fmt.Printf("closed loop, %d connections, %s per target and round, %d interleaved rounds (medians; latency over all rounds)\n\n",
		o.Concurrency, o.Duration, o.Rounds)
	t := table{head: []string{"page", "app req/s", "bare req/s", "app ÷ bare", "app p50 ms", "app p99 ms", "bare p50 ms", "bare p99 ms", "bare+read req/s", "app ÷ bare+read"}}
	for _, s := range rep.Summary {
		if s.ReadPerS > 0 {
			t.add(s.Page, s.AppPerS, s.BarePerS, s.Ratio, s.AppP50, s.AppP99, s.BareP50, s.BareP99, s.ReadPerS, s.ReadRatio)
		} else {
			t.add(s.Page, s.AppPerS, s.BarePerS, s.Ratio, s.AppP50, s.AppP99, s.BareP50, s.BareP99, "", "")
		}
	}
	t.print(os.Stdout)
	for _, s := range rep.Summary {
		fmt.Printf("%s: goal ≥ 0.8× bare %s (%.2f×), goal p99 < 20 ms %s (%.1f ms)\n", s.Page, yes(s.GoalRatio), s.Ratio, yes(s.GoalP99), s.AppP99)
	}
	return nil
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// fetch gets url as a returning browser does (a learner cookie, gzip
// accepted) and returns the body as sent, undecoded, and its encoding.
func fetch(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Cookie", "cr_learner="+fmt.Sprintf("%032x", 1))
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	return body, resp.Header.Get("Content-Encoding"), err
}

// closedLoop sends requests from o.Concurrency clients back to back for
// o.Duration. Each client is a returning browser: it sends its own learner
// cookie and accepts gzip, and reads the body as it comes (no decompression:
// the client's work is the same whatever the server sends).
func closedLoop(ctx context.Context, url string, o webOpts) (webRun, *latencies) {
	tr := &http.Transport{MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	lat := &latencies{}
	var reqs, errs, size atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		cookie := fmt.Sprintf("%032x", w+1)
		wg.Go(func() {
			var mine []time.Duration
			defer func() { lat.addAll(mine) }()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				req.Header.Set("Cookie", "cr_learner="+cookie)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
				reqs.Add(1)
				size.Store(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := reqs.Load()
	return webRun{Reqs: n, Errors: errs.Load(), PerS: round(float64(n)/elapsed.Seconds(), 0),
		P50: lat.quantile(0.5), P99: lat.quantile(0.99), Bytes: size.Load()}, lat
}
