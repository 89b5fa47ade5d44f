// Package server is the web face of Crossroads: a thin gin adapter that turns
// HTTP requests into calls on the lessons, labs and decide packages and renders
// their answers as server-side HTML.
//
// It owns everything that is about the web and nothing that is about the
// subject: routing, templates, static assets, security headers, cookies,
// metrics and graceful shutdown.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/decide"
	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
	"github.com/crossroads-learn/crossroads/workshops"
)

// ShutdownTimeout is how long in-flight requests get to finish after a stop
// signal before the server closes their connections, unless
// Config.ShutdownTimeout says otherwise.
const ShutdownTimeout = 10 * time.Second

// Config is what the server needs from the program that wires it.
type Config struct {
	// RedisLabel says which Redis is in use; the footer shows it.
	RedisLabel string
	// Ready reports whether the server's dependencies answer; /readyz uses it.
	Ready func(context.Context) error
	// Registry receives the HTTP metrics and serves /metrics. A nil Registry
	// gets a fresh one with the Go runtime collectors.
	Registry *prometheus.Registry
	// Logger receives one line per request. Nil means slog.Default().
	Logger *slog.Logger
	// Version is shown in the footer.
	Version string
	// Content is the tree of words the server shows (content.FS in the
	// binary, passed in by cmd): the home page, the lab's scenarios and
	// recordings, the workshops' and the decide wizard's text. Required.
	Content fs.FS
	// Redis stores per-learner state (progress, answers, sandboxes).
	Redis redis.UniversalClient
	// Lessons is the parsed course (lessons.Load). Nil shows a placeholder
	// under /lessons.
	Lessons *lessons.Catalog
	// Labs keeps one lab sandbox per learner (labs.NewManager). Nil shows
	// "not available" under /labs.
	Labs *labs.Manager
	// Workshops keeps workshops (workshops.NewStore). Nil shows "not
	// available" under /workshops and /join.
	Workshops *workshops.Store
	// Recordings are the recorded scenario runs that texts quote and
	// /labs/results shows (labs.LoadRecordings). Nil reads the ones shipped
	// in content/labs/results.
	Recordings labs.Recordings
	// Decisions is a folder of decision records (decide.OpenLog) shown
	// under /decisions, read again when its records change. Nil: no
	// /decisions and no link to it.
	Decisions *decide.Log

	// ReadTimeout bounds reading one whole request, body included, so a
	// client that trickles its body is cut off; zero means
	// DefaultReadTimeout. WriteTimeout bounds handling and answering it
	// (DefaultWriteTimeout); IdleTimeout bounds a kept-alive connection
	// between requests (DefaultIdleTimeout); ReadHeaderTimeout bounds the
	// request line and headers (DefaultReadHeaderTimeout). The lab's live
	// stream is exempt from the read and write timeouts and bounds itself.
	ReadTimeout, WriteTimeout, IdleTimeout, ReadHeaderTimeout time.Duration
	// RateLimits bound the costly requests per client address; the zero
	// value limits nothing.
	RateLimits RateLimits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed. Empty: none is, and the client
	// is the peer of the connection.
	TrustedProxies []netip.Prefix
	// SecureCookies marks the learner cookie Secure on every answer, for a
	// server that is only reached over HTTPS (through a proxy that does not
	// send X-Forwarded-Proto).
	SecureCookies bool
	// ShutdownTimeout is how long in-flight requests get to finish after a
	// stop signal (zero: ShutdownTimeout).
	ShutdownTimeout time.Duration
	// DraftTimeout bounds each Redis call for a decide draft (zero:
	// decide.DraftTimeout).
	DraftTimeout time.Duration
}

// Server timeouts when Config leaves them zero. The longest handler (a traced
// signup) takes up to 20 s, well inside WriteTimeout.
const (
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
)

// Server is the web application. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	engine  *gin.Engine
	pages   *pages
	assets  *assets
	site    *site
	metrics *httpMetrics
	lab     *labWeb // nil without Config.Labs
	// decisions shows Config.Decisions; nil without it.
	decisions *decisionsWeb
	// decideText is the questionnaire; drafts keeps learners' answers.
	decideText *decide.Text
	drafts     *decide.Drafts
	homePage   *cachedPage
	// lessonFrames keeps lesson pages' frames by progress state.
	lessonFrames lessonFrames
	// chapterPieces keeps each chapter's text compressed.
	chapterPieces chapterPieces
	quizSegments  quizSegments
	// wsHub and wsStreams serve the workshops' live views.
	wsHub     *wsHub
	wsStreams *streamSlots
	wsText    labText
	// roomRuns are the room runs this instance is starting, by workshop
	// and scenario.
	roomRunsMu sync.Mutex
	roomRuns   map[string]bool
	rates      *rateLimiters
	// closing is closed when shutdown starts, so long-lived streams end and
	// let graceful shutdown finish.
	closing chan struct{}
}

// New builds the server and its routes. It parses every template and content
// file now, so a broken one stops start-up rather than a request.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Content == nil {
		return nil, errors.New("server config: Content is required (the content tree, content.FS)")
	}
	for _, d := range []*time.Duration{&cfg.ReadTimeout, &cfg.WriteTimeout, &cfg.IdleTimeout, &cfg.ReadHeaderTimeout, &cfg.ShutdownTimeout} {
		if *d < 0 {
			return nil, fmt.Errorf("server config: negative timeout %v", *d)
		}
	}
	cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, DefaultWriteTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, ShutdownTimeout)
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		engine:  gin.New(),
		closing: make(chan struct{}),
		rates:   newRateLimiters(cfg.RateLimits),
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	var decisionsNav string
	if cfg.Decisions != nil {
		if s.decisions, err = newDecisionsWeb(cfg.Content, cfg.Decisions); err != nil {
			return nil, err
		}
		decisionsNav = string(s.decisions.text.Get("nav"))
	}
	if s.pages, err = loadPages(s.assets, decisionsNav); err != nil {
		return nil, err
	}
	if s.site, err = loadSite(cfg.Content); err != nil {
		return nil, err
	}
	if s.decideText, err = decide.Load(cfg.Content); err != nil {
		return nil, fmt.Errorf("content/decide: %w", err)
	}
	s.drafts = decide.NewDrafts(cfg.Redis, cfg.Logger)
	if cfg.DraftTimeout > 0 {
		s.drafts.Timeout = cfg.DraftTimeout
	}
	if s.homePage, err = s.cachePage("home", s.homeView()); err != nil {
		return nil, err
	}
	if s.metrics, err = newHTTPMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	if cfg.Labs != nil {
		if cfg.Recordings == nil {
			if cfg.Recordings, err = shippedRecordings(cfg.Content); err != nil {
				return nil, err
			}
		}
		if s.lab, err = newLabWeb(cfg.Content, cfg.Labs, cfg.Recordings); err != nil {
			return nil, err
		}
	}
	if cfg.Workshops != nil {
		s.wsHub = newWSHub(cfg.Workshops, s.onWorkshopNotice)
		s.wsStreams = newStreamSlots()
		s.roomRuns = map[string]bool{}
		if s.lab != nil {
			cfg.Labs.OnScenarioDone(s.recordOutcome)
		}
		r := strings.NewReplacer("{participants}", strconv.Itoa(cfg.Workshops.Limits().MaxParticipants))
		if s.wsText, err = loadPageText(cfg.Content, "workshops/text.yaml", r); err != nil {
			return nil, err
		}
	}
	s.engine.ContextWithFallback = true
	// A known address asked with the wrong method gets 405 and an Allow
	// header naming the right ones.
	s.engine.HandleMethodNotAllowed = true
	// gin's own ClientIP believes the same proxies as clientIP.
	proxies := make([]string, 0, len(cfg.TrustedProxies))
	for _, p := range cfg.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	if err := s.engine.SetTrustedProxies(proxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	s.engine.RemoteIPHeaders = []string{"X-Forwarded-For"}
	s.engine.Use(s.recoverer, s.securityHeaders, s.logRequests, s.metrics.middleware,
		s.streamDeadlines, s.rateLimit, s.limitBody, s.learnerCookie, s.workshopBar)
	s.routes()
	return s, nil
}

// Handler is the complete HTTP handler: routes, compression and cross-origin
// request protection for state-changing methods. HEAD is answered for every
// GET route (see headAsGet).
func (s *Server) Handler() http.Handler {
	// The fastest level: a lesson page is ~15 % larger than at the default
	// level, and compressing it costs a third of the CPU (BenchmarkLessonPage),
	// which a room of learners on one small server needs more than the bytes.
	gz, err := gzhttp.NewWrapper(gzhttp.ExceptContentTypes([]string{"text/event-stream"}), gzhttp.CompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic(fmt.Sprintf("gzip wrapper: %v", err)) // options are constant; cannot fail
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Forbidden: cross-origin request refused.", http.StatusForbidden)
	}))
	return headAsGet(gz(csrf.Handler(s.engine)))
}

// MetricsHandler serves the Prometheus metrics of Config.Registry. It is not
// on the public router: serve puts it on its own, loopback-only listener
// (--metrics-addr).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	// The Go profiler sits beside the metrics, on the listener kept off the
	// public one, so that an operator can see where a busy room's CPU goes.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Closing is closed when the server starts to shut down. Streaming handlers
// select on it so they end instead of holding shutdown open.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Serve answers on ln until ctx is done, then stops taking new connections and
// gives in-flight requests up to Config.ShutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(s.closing) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if s.wsHub != nil {
		// The live views ended with the shutdown; this only waits for
		// the subscription they held to let go.
		s.wsHub.close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// ServeMetrics answers GET /metrics on ln until ctx is done. Scrapes are
// small and quick, so the timeouts are short.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.MetricsHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if s.wsHub != nil {
		// The live views ended with the shutdown; this only waits for
		// the subscription they held to let go.
		s.wsHub.close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shut down metrics: %w", err)
	}
	return nil
}

// headKey marks a HEAD request that headAsGet passes on as a GET.
type headKey struct{}

// isHead reports whether r was a HEAD request before headAsGet turned it
// into a GET.
func isHead(r *http.Request) bool {
	v, _ := r.Context().Value(headKey{}).(bool)
	return v
}

// headAsGet answers HEAD for every GET route, as link checkers and uptime
// probes expect: the request goes on as a GET, and net/http, which still sees
// the original HEAD, sends the headers and drops the body. A streaming answer
// ends at its first flush: its headers are all a HEAD gets.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), headKey{}, true))
		defer cancel()
		g := r.Clone(ctx)
		g.Method = http.MethodGet
		next.ServeHTTP(&headWriter{ResponseWriter: w, done: cancel}, g)
	})
}

// headWriter ends a HEAD request's handler once its headers are flushed.
type headWriter struct {
	http.ResponseWriter
	done context.CancelFunc
}

func (w *headWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	w.done()
}

func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
