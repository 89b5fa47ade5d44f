package labs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/crossroads-learn/crossroads/labs/load"
	"github.com/crossroads-learn/crossroads/labs/service"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// Options configure a sandbox; the zero value is ready to use.
type Options struct {
	// Settings are the initial settings; the zero value means DefaultSettings.
	Settings *Settings
	// Registerer receives the lab metrics (nil: none). Any number of
	// sandboxes may share one; series are labelled by mode, service and
	// group only.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Worker runs only the consumers and the services they call, no signup
	// API: `crossroads worker` joining another process's sandbox.
	Worker bool
	// DeleteOnClose removes the sandbox's Redis keys when it closes.
	DeleteOnClose bool
	// Breaker tunes the sync-mode circuit breakers (default: open after 5
	// failures in a row, try again after 1 s).
	Breaker BreakerPolicy
	// GroupBreaker tunes when a consumer group pauses (default: after 10
	// failed attempts in a row) and how often a paused group probes its
	// service (default every second).
	GroupBreaker BreakerPolicy
	// BatchSize is the most messages a consumer takes at once (default 10).
	BatchSize int
	// Block is how long XREADGROUP waits for new entries (default 200 ms);
	// it also bounds how long a graceful stop can take.
	Block time.Duration
	// History is how many run results are kept (default 20).
	History int
}

// Sandbox is one learner's (or one command's) copy of the signup system: a
// signup API, email and analytics services and their consumer groups, all
// sharing the Redis keys cr:{id}:... Its settings change live; Close stops
// everything it started.
type Sandbox struct {
	id       string
	instance string // tells this process's consumers apart from others'
	opt      Options
	log      *slog.Logger
	rc       *redis.Client
	store    *stream.Store
	settings atomic.Pointer[Settings]
	setMu    sync.Mutex // serialises settings changes

	ctx    context.Context
	cancel context.CancelFunc

	count   counters
	metrics *promMetrics
	trace   *tracer
	runs    runs
	stats   statsCache
	flows   flowLog

	client    *service.Client
	email     *service.Service
	analytics *service.Service
	hopMu     sync.Mutex
	hops      []*service.Service // the chain behind email, started as deep as it was asked
	api       *apiServer         // nil for a worker
	groups    map[string]*group

	counted   bool // included in the sandboxes gauge
	closeOnce sync.Once
	closeErr  error
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateID checks a sandbox id: 1 to 64 letters, digits, '-' or '_'.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fieldErr("sandbox", "%q must be 1 to 64 letters, digits, '-' or '_'", id)
	}
	return nil
}

// New starts a sandbox on Redis client c: it creates the stream and groups,
// starts the services, the signup API and the consumers. The sandbox dials its
// own connection pool from c's options, so its blocking reads never starve
// the caller's pool. ctx bounds the sandbox's whole life; Close ends it sooner.
func New(ctx context.Context, c *redis.Client, id string, opt Options) (*Sandbox, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("new lab sandbox: no Redis client")
	}
	settings := DefaultSettings()
	if opt.Settings != nil {
		settings = *opt.Settings
	}
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 10
	}
	if opt.Block <= 0 {
		opt.Block = 200 * time.Millisecond
	}
	if opt.History <= 0 {
		opt.History = 20
	}
	opt.Breaker = opt.Breaker.withDefaults(5)
	// A group pauses only when its service fails again and again: ten
	// attempts in a row fail about once in six million for a service that
	// fails 30 % of the time, and at once for one that is down.
	opt.GroupBreaker = opt.GroupBreaker.withDefaults(10)
	metrics, err := newPromMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	co := c.Options()
	ro := redis.Options{
		Network: co.Network, Addr: co.Addr, Dialer: co.Dialer, Username: co.Username, Password: co.Password,
		DB: co.DB, TLSConfig: co.TLSConfig, Protocol: co.Protocol,
		DialTimeout: co.DialTimeout, ReadTimeout: co.ReadTimeout, WriteTimeout: co.WriteTimeout,
		PoolSize: max(co.PoolSize, 4*MaxConsumers+64),
	}
	s := &Sandbox{
		id: id, instance: newID("")[:8], opt: opt, log: opt.Logger.With("sandbox", id),
		rc: redis.NewClient(&ro), metrics: metrics, trace: newTracer(), client: service.NewClient(),
		groups: map[string]*group{},
	}
	s.store = stream.New(s.rc, id)
	s.settings.Store(&settings)
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.start(settings); err != nil {
		s.Close()
		return nil, err
	}
	metrics.sandboxes.Inc()
	s.counted = true
	return s, nil
}

func (s *Sandbox) start(settings Settings) error {
	initCtx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.store.EnsureGroups(initCtx, Groups...); err != nil {
		return err
	}
	var err error
	if s.email, err = s.startService(ServiceEmail); err != nil {
		return err
	}
	if s.analytics, err = s.startService(ServiceAnalytics); err != nil {
		return err
	}
	if !s.opt.Worker {
		onChange := func(name string) func(_, to gobreaker.State) {
			return func(_, to gobreaker.State) { s.log.Info("circuit breaker", "service", name, "state", to.String()) }
		}
		api := &signupAPI{store: s.store, settings: s.Settings, count: &s.count, latency: &s.runs.signupLatency, metrics: s.metrics, trace: s.trace, flows: &s.flows,
			email:     newDownstream(ServiceEmail, s.email.URL(), s.client, s.opt.Breaker, onChange(ServiceEmail)),
			analytics: newDownstream(ServiceAnalytics, s.analytics.URL(), s.client, s.opt.Breaker, onChange(ServiceAnalytics))}
		if s.api, err = startAPI(s.ctx, api, s.log); err != nil {
			return err
		}
	}
	s.groups[ServiceEmail] = newGroup(s, ServiceEmail, s.email.URL())
	s.groups[ServiceAnalytics] = newGroup(s, ServiceAnalytics, s.analytics.URL())
	s.setMu.Lock()
	defer s.setMu.Unlock()
	return s.applyLocked(settings)
}

func (s *Sandbox) startService(name string) (*service.Service, error) {
	cfg := service.Config{
		Name: name, Ledger: s.store, Log: s.log, Observe: s.observe,
		Faults:     func() Faults { return s.Settings().faults(name) },
		Idempotent: func() bool { return s.Settings().Idempotency },
	}
	if name == ServiceEmail {
		cfg.Next, cfg.Client = s.hop(1), s.client
	}
	return service.Start(cfg)
}

// hop returns the next-service function of the chain's n-1th service: the
// n-th hop while the settings make the chain that deep, nothing otherwise.
func (s *Sandbox) hop(n int) func() (string, string) {
	return func() (string, string) {
		if s.Settings().ChainDepth < n {
			return "", ""
		}
		s.hopMu.Lock()
		defer s.hopMu.Unlock()
		if n > len(s.hops) {
			return "", ""
		}
		return fmt.Sprintf("hop %d", n), s.hops[n-1].URL()
	}
}

// growChain starts the chain's services up to depth; they stay until Close.
func (s *Sandbox) growChain(depth int) error {
	s.hopMu.Lock()
	defer s.hopMu.Unlock()
	for n := len(s.hops) + 1; n <= depth; n++ {
		h, err := service.Start(service.Config{
			Name: fmt.Sprintf("hop %d", n), Log: s.log, Client: s.client, Next: s.hop(n + 1),
			Faults: func() Faults { return s.Settings().Chain },
		})
		if err != nil {
			return err
		}
		s.hops = append(s.hops, h)
	}
	return nil
}

// apiServer serves the signup API on loopback.
type apiServer struct {
	*signupAPI
	srv    *http.Server
	url    string
	cancel context.CancelFunc // cancels the contexts of signups in flight
	done   chan struct{}
}

func startAPI(ctx context.Context, api *signupAPI, log *slog.Logger) (*apiServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start signup API: %w", err)
	}
	a := &apiServer{signupAPI: api, url: "http://" + ln.Addr().String() + "/signups", done: make(chan struct{})}
	apiCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.srv = &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return apiCtx }}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("signup API stopped", "err", err)
		}
	}()
	return a, nil
}

func (a *apiServer) stop() {
	a.cancel()
	service.StopServer(a.srv)
	<-a.done
}

// observe is told of every effect a service applied (count is the user's
// total; -1 means the idempotency key made it a no-op).
func (s *Sandbox) observe(svc string, req service.Request, count int64, traceparent string) {
	where := svc + " service"
	switch {
	case count == -1:
		s.count.deduplicated.Add(1)
		s.trace.add(traceparent, where, "idempotency key seen before: nothing done")
		return
	case count > 1 && svc == ServiceEmail:
		s.count.emailDuplicates.Add(1)
		s.trace.add(traceparent, where, "DUPLICATE welcome email sent")
		return
	case count > 1:
		s.trace.add(traceparent, where, "signup tracked again")
		return
	}
	tally := s.runs.tally(req.Run)
	if svc == ServiceEmail {
		s.count.emailsSent.Add(1)
		tally.emails.Add(1)
		s.trace.add(traceparent, where, "welcome email sent")
	} else {
		s.count.analyticsEvents.Add(1)
		tally.analytics.Add(1)
		s.trace.add(traceparent, where, "signup tracked")
	}
	s.trace.effect(traceparent, svc)
	if req.RequestedAt.IsZero() {
		return
	}
	d := time.Since(req.RequestedAt)
	s.metrics.effectTime.WithLabelValues(svc).Observe(d.Seconds())
	if svc == ServiceEmail {
		s.runs.effectLatency.Record(d)
		tally.effectLatency.Record(d)
	}
}

// Counters returns this process's running totals; unlike Snapshot it also
// works after Close.
func (s *Sandbox) Counters() Counters { return s.count.copy() }

// ID is the sandbox id.
func (s *Sandbox) ID() string { return s.id }

// SignupURL is the signup API's endpoint (POST JSON {email, name}); "" for a
// worker.
func (s *Sandbox) SignupURL() string {
	if s.api == nil {
		return ""
	}
	return s.api.url
}

// Settings returns the settings in force.
func (s *Sandbox) Settings() Settings { return *s.settings.Load() }

// Apply validates and puts new settings in force at once: faults, mode,
// timeout, breaker, consumers per group, crash rate, idempotency, retry
// budget. An invalid value is refused with a *FieldError and nothing changes.
func (s *Sandbox) Apply(next Settings) error {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	return s.applyLocked(next)
}

// Update changes the current settings with change and applies the result as
// Apply does; concurrent updates never undo each other.
func (s *Sandbox) Update(change func(*Settings)) (Settings, error) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	next := s.Settings()
	change(&next)
	if err := s.applyLocked(next); err != nil {
		return s.Settings(), err
	}
	return next, nil
}

func (s *Sandbox) applyLocked(next Settings) error {
	if err := next.Validate(); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	if was := s.settings.Load(); was != nil && *was != next {
		if change := describeChange(*was, next); change != "" {
			s.runs.mark(change)
		}
	}
	s.settings.Store(&next)
	if err := s.email.SetDown(next.Email.Down); err != nil {
		return err
	}
	if err := s.analytics.SetDown(next.Analytics.Down); err != nil {
		return err
	}
	if err := s.growChain(next.ChainDepth); err != nil {
		return err
	}
	for name, g := range s.groups {
		g.scale(next.consumers(name))
	}
	return nil
}

// Close stops the load, the consumers (gracefully: each finishes the message
// in hand and hands back the rest), the services and the API, and deletes the
// keys when Options.DeleteOnClose is set. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		for _, g := range s.groups {
			g.stop()
		}
		// Our own client's idle keep-alive connections would count as
		// unfinished for a graceful shutdown; close them first, then stop the
		// servers and wait for requests in flight.
		s.client.CloseIdleConnections()
		if s.api != nil {
			s.api.stop()
		}
		s.client.CloseIdleConnections()
		if s.email != nil {
			s.email.Close()
		}
		if s.analytics != nil {
			s.analytics.Close()
		}
		s.hopMu.Lock()
		for _, h := range s.hops {
			h.Close()
		}
		s.hopMu.Unlock()
		s.cancel()
		s.runs.close() // waits for a running load to notice, and refuses new ones
		s.client.CloseIdleConnections()
		if s.opt.DeleteOnClose {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.store.DeleteAll(ctx); err != nil {
				s.closeErr = fmt.Errorf("delete sandbox keys: %w", err)
			}
			cancel()
		}
		if s.counted {
			s.metrics.sandboxes.Dec()
		}
		s.rc.Close()
	})
	return s.closeErr
}

// Totals audits the sandbox's Redis records: users, effects, duplicates and
// unfinished events, across every process and run that worked on it.
func (s *Sandbox) Totals(ctx context.Context) (stream.Totals, error) {
	return s.store.Totals(ctx, ServiceEmail, ServiceAnalytics)
}

// Quantiles are latencies in milliseconds.
type Quantiles = load.Quantiles
