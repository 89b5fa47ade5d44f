// Package server is the web face of Crossroads: a thin gin adapter that turns
// HTTP requests into calls on the lessons, labs and decide packages and renders
// their answers as server-side HTML.
//
// It owns everything that is about the web and nothing that is about the
// subject: routing, templates, static assets, security headers, cookies,
// metrics and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
)

// ShutdownTimeout is how long in-flight requests get to finish after a stop
// signal before the server closes their connections.
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
	// Redis stores per-learner state (progress, answers, sandboxes).
	Redis *redis.Client
	// Lessons is the parsed course (lessons.Load). Nil shows a placeholder
	// under /lessons.
	Lessons *lessons.Catalog
	// Labs keeps one lab sandbox per learner (labs.NewManager). Nil shows
	// "not available" under /labs.
	Labs *labs.Manager
	// Recordings are the recorded scenario runs that texts quote and
	// /labs/results shows (labs.LoadRecordings). Nil reads the ones shipped
	// in content/labs/results.
	Recordings labs.Recordings
}

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
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		engine:  gin.New(),
		closing: make(chan struct{}),
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = loadPages(s.assets); err != nil {
		return nil, err
	}
	if s.site, err = loadSite(); err != nil {
		return nil, err
	}
	if s.metrics, err = newHTTPMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	if cfg.Labs != nil {
		if cfg.Recordings == nil {
			if cfg.Recordings, err = shippedRecordings(); err != nil {
				return nil, err
			}
		}
		if s.lab, err = newLabWeb(cfg.Labs, cfg.Recordings); err != nil {
			return nil, err
		}
	}
	s.engine.ContextWithFallback = true
	s.engine.HandleMethodNotAllowed = false
	s.engine.Use(s.recoverer, s.securityHeaders, s.logRequests, s.metrics.middleware, s.learnerCookie)
	s.routes()
	return s, nil
}

// Handler is the complete HTTP handler: routes, compression and cross-origin
// request protection for state-changing methods.
func (s *Server) Handler() http.Handler {
	gz, err := gzhttp.NewWrapper(gzhttp.ExceptContentTypes([]string{"text/event-stream"}))
	if err != nil {
		panic(fmt.Sprintf("gzip wrapper: %v", err)) // options are constant; cannot fail
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Forbidden: cross-origin request refused.", http.StatusForbidden)
	}))
	return gz(csrf.Handler(s.engine))
}

// Closing is closed when the server starts to shut down. Streaming handlers
// select on it so they end instead of holding shutdown open.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Serve answers on ln until ctx is done, then stops taking new connections and
// gives in-flight requests up to ShutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
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
	s.log.Info("shutting down", "timeout", ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
