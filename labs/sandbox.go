package labs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
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
	// BatchSize is the COUNT of each XREADGROUP and XAUTOCLAIM (default 10).
	BatchSize int
	// Block is how long XREADGROUP waits for new entries (default 200 ms);
	// it also bounds how long a graceful stop can take.
	Block time.Duration
	// History is how many run results are kept (default 20).
	History int
}

// Sandbox is one learner's (or one command's) copy of the signup system: a
// signup API, email and analytics services and consumers, all sharing the
// Redis keys cr:{id}:... Its settings change live; Close stops everything.
type Sandbox struct {
	id       string
	instance string // tells this process's consumers apart from others'
	opt      Options
	log      *slog.Logger
	rc       *redis.Client
	store    *store
	settings atomic.Pointer[Settings]
	setMu    sync.Mutex // serialises settings changes

	ctx    context.Context
	cancel context.CancelFunc

	count         counters
	metrics       *promMetrics
	trace         *tracer
	signupLatency histogram
	effectLatency histogram

	httpc     *http.Client
	email     *service
	analytics *service
	api       *signupAPI
	apiSrv    *http.Server
	apiCancel context.CancelFunc // cancels the contexts of signups in flight
	apiURL    string
	groups    map[string]*group

	runMu    sync.Mutex
	closed   bool // guarded by runMu
	progress atomic.Pointer[liveRun]
	histMu   sync.Mutex
	history  []Result
	maxLag   atomic.Int64

	lagMu    sync.Mutex // guards the throttled lag count
	lagAt    time.Time
	lagEvery time.Duration
	lagLast  map[string]int64

	counted   bool // included in the sandboxes gauge
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup
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
	if opt.Breaker.Failures == 0 {
		opt.Breaker.Failures = 5
	}
	if opt.Breaker.Cooldown <= 0 {
		opt.Breaker.Cooldown = time.Second
	}
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
		rc: redis.NewClient(&ro), metrics: metrics, trace: newTracer(), httpc: newHTTPClient(),
		groups: map[string]*group{},
	}
	s.store = &store{c: s.rc, id: id}
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
	if err := s.store.ensureGroups(initCtx, Groups...); err != nil {
		return err
	}
	var err error
	if s.email, err = startService(ServiceEmail, s.store, s.Settings, s.observe, s.log); err != nil {
		return err
	}
	if s.analytics, err = startService(ServiceAnalytics, s.store, s.Settings, s.observe, s.log); err != nil {
		return err
	}
	onBreaker := func(name string, to gobreaker.State) {
		s.log.Info("circuit breaker", "service", name, "state", to.String())
	}
	email := newDownstream(ServiceEmail, s.email.url(), s.httpc, s.opt.Breaker, onBreaker)
	analytics := newDownstream(ServiceAnalytics, s.analytics.url(), s.httpc, s.opt.Breaker, onBreaker)
	if !s.opt.Worker {
		s.api = &signupAPI{store: s.store, email: email, analytics: analytics, settings: s.Settings, count: &s.count, metrics: s.metrics, trace: s.trace}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("start signup API: %w", err)
		}
		s.apiURL = "http://" + ln.Addr().String()
		apiCtx, apiCancel := context.WithCancel(context.WithoutCancel(s.ctx))
		s.apiCancel = apiCancel
		s.apiSrv = &http.Server{
			Handler:           http.HandlerFunc(s.serveAPI),
			ReadHeaderTimeout: 5 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return apiCtx },
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if err := s.apiSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("signup API stopped", "err", err)
			}
		}()
	}
	s.groups[ServiceEmail] = &group{name: ServiceEmail, sb: s, down: email, alive: map[string]*consumer{}}
	s.groups[ServiceAnalytics] = &group{name: ServiceAnalytics, sb: s, down: analytics, alive: map[string]*consumer{}}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	return s.applyLocked(settings)
}

func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.api.ServeHTTP(w, r)
	s.signupLatency.record(time.Since(start))
}

// observe is told of every effect a service applied (count is the user's
// total; -1 means the idempotency key made it a no-op).
func (s *Sandbox) observe(service string, req effectRequest, count int64, traceparent string) {
	switch {
	case count == -1:
		s.count.deduplicated.Add(1)
		s.trace.add(traceparent, service+" service", "idempotency key seen before: nothing done")
		return
	case count > 1 && service == ServiceEmail:
		s.count.emailDuplicates.Add(1)
		s.trace.add(traceparent, service+" service", "DUPLICATE welcome email sent")
		return
	case count > 1:
		s.trace.add(traceparent, service+" service", "signup tracked again")
		return
	}
	if service == ServiceEmail {
		s.count.emailsSent.Add(1)
		s.trace.add(traceparent, service+" service", "welcome email sent")
	} else {
		s.count.analyticsEvents.Add(1)
		s.trace.add(traceparent, service+" service", "signup tracked")
	}
	s.trace.effect(traceparent, service)
	if !req.RequestedAt.IsZero() {
		d := time.Since(req.RequestedAt)
		s.metrics.effectTime.WithLabelValues(service).Observe(d.Seconds())
		if service == ServiceEmail {
			s.effectLatency.record(d)
		}
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
	if s.apiURL == "" {
		return ""
	}
	return s.apiURL + "/signups"
}

// Settings returns the settings in force.
func (s *Sandbox) Settings() Settings { return *s.settings.Load() }

// Apply validates and puts new settings in force at once: faults, mode,
// timeout, breaker, consumers per group, crash rate, idempotency. An invalid
// value is refused with a *FieldError and nothing changes.
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
	s.settings.Store(&next)
	if err := s.email.setDown(next.Email.Down); err != nil {
		return err
	}
	if err := s.analytics.setDown(next.Analytics.Down); err != nil {
		return err
	}
	for name, g := range s.groups {
		g.scale(next.consumers(name))
	}
	return nil
}

// Close stops the load, the consumers (gracefully: each finishes and acks the
// message in hand), the services and the API, and deletes the keys when
// Options.DeleteOnClose is set. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		for _, g := range s.groups {
			g.stop()
		}
		// Our own client's idle keep-alive connections would count as
		// unfinished for a graceful shutdown; close them first, then stop the
		// servers and wait for requests in flight.
		s.httpc.CloseIdleConnections()
		if s.apiSrv != nil {
			s.apiCancel()
			stopServer(s.apiSrv)
		}
		s.httpc.CloseIdleConnections()
		if s.email != nil {
			s.email.close()
		}
		if s.analytics != nil {
			s.analytics.close()
		}
		s.cancel()
		s.runMu.Lock() // wait for a running load to notice, and refuse new ones
		s.closed = true
		s.runMu.Unlock()
		s.bg.Wait()
		s.httpc.CloseIdleConnections()
		if s.opt.DeleteOnClose {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.store.deleteAll(ctx); err != nil {
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

// GroupState is a consumer group as a snapshot shows it.
type GroupState struct {
	GroupStats
	// ConsumersHere run in this process (the rest belong to workers).
	ConsumersHere int `json:"consumers_here"`
}

// Snapshot is the state of a sandbox at one moment, cheap enough to poll a
// few times a second: in-process counters plus one pipelined Redis read.
type Snapshot struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Settings Settings  `json:"settings"`
	Counters Counters  `json:"counters"`
	// StreamLength is XLEN of the event stream (after retention trimming).
	StreamLength int64        `json:"stream_length"`
	DeadLetters  int64        `json:"dead_letters"`
	Groups       []GroupState `json:"groups"`
	// Breakers is the state of each sync circuit breaker (closed, open,
	// half-open).
	Breakers      map[string]string `json:"breakers"`
	SignupLatency Quantiles         `json:"signup_latency_ms"`
	EffectLatency Quantiles         `json:"effect_latency_ms"`
	// Run is the load in progress, or nil.
	Run *RunProgress `json:"run,omitempty"`
}

// Snapshot reads the current state.
func (s *Sandbox) Snapshot(ctx context.Context) (Snapshot, error) {
	if s.ctx.Err() != nil {
		return Snapshot{}, ErrClosed
	}
	snap := Snapshot{
		ID: s.id, At: time.Now().UTC(), Settings: s.Settings(), Counters: s.count.copy(),
		SignupLatency: s.signupLatency.quantiles(), EffectLatency: s.effectLatency.quantiles(),
		Breakers: map[string]string{},
	}
	if s.api != nil {
		snap.Breakers[ServiceEmail] = s.api.email.breaker.State().String()
		snap.Breakers[ServiceAnalytics] = s.api.analytics.breaker.State().String()
	}
	if p := s.progress.Load(); p != nil {
		snap.Run = p.progress()
	}
	st, err := s.stats(ctx, false)
	if err != nil {
		return snap, err
	}
	snap.StreamLength, snap.DeadLetters = st.Length, st.Dead
	for _, g := range st.Groups {
		gs := GroupState{GroupStats: g}
		if local := s.groups[g.Name]; local != nil {
			gs.ConsumersHere = local.size()
		}
		snap.Groups = append(snap.Groups, gs)
	}
	return snap, nil
}

// DeadLetter is a message a group gave up on.
type DeadLetter struct {
	ID      string    `json:"id"`
	Group   string    `json:"group"`
	EntryID string    `json:"entry_id"`
	EventID string    `json:"event_id"`
	Reason  string    `json:"reason"`
	Payload string    `json:"payload"`
	At      time.Time `json:"at"`
	// Deliveries is how often the message was delivered before it was
	// dead-lettered (1 for a poison message, parked at first sight).
	Deliveries int64 `json:"deliveries"`
}

func deadLetterFrom(m redis.XMessage) DeadLetter {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	var at time.Time
	var ms int64
	if _, err := fmt.Sscan(str("at"), &ms); err == nil {
		at = time.UnixMilli(ms).UTC()
	}
	deliveries := int64(1)
	if n, err := strconv.ParseInt(str("deliveries"), 10, 64); err == nil && n > 0 {
		deliveries = n
	}
	return DeadLetter{ID: m.ID, Group: str("group"), EntryID: str("entry"), EventID: str("event_id"), Reason: str("reason"), Payload: str("payload"), At: at, Deliveries: deliveries}
}

// DeadLetters lists up to limit dead letters, newest first (limit 1..1000).
func (s *Sandbox) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit < 1 || limit > 1000 {
		return nil, fieldErr("limit", "%d is not between 1 and 1000", limit)
	}
	return s.store.deadLetters(ctx, limit)
}

// Replay puts a dead letter back on the stream for its group only. Replaying
// the same letter twice gives ErrNotFound the second time; a replayed event
// the group already finished is skipped by its idempotency record.
func (s *Sandbox) Replay(ctx context.Context, deadID string) (DeadLetter, error) {
	if !streamIDPattern.MatchString(deadID) {
		return DeadLetter{}, fieldErr("id", "%q is not a stream entry id", deadID)
	}
	return s.store.replay(ctx, deadID)
}

var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// Totals audits the sandbox's Redis records: users, effects, duplicates and
// lost events, across every process that works on it.
func (s *Sandbox) Totals(ctx context.Context) (Totals, error) {
	return s.store.totals(ctx, Groups)
}
