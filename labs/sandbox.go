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
	// Block is the longest an idle consumer waits before it looks at the
	// stream again (default 200 ms). Consumers never block in Redis: a
	// blocking XREADGROUP holds a connection of the process's one shared
	// pool for its whole wait, and a room of idle sandboxes would hold them
	// all. Instead an empty read is followed by a short sleep, 10 ms at
	// first and twice as long after each further empty read, up to Block;
	// a non-empty read is followed at once by the next; and entries this
	// process appends (signups, replays, poison) wake one idle consumer of
	// each group at once, so the lab's effect latency does not include the
	// sleep. Only entries appended by another process (a `crossroads
	// worker` setup) wait for a sleep to end.
	Block time.Duration
	// History is how many run results are kept (default 20).
	History int
	// Room is the server's budget of signups in flight that this sandbox's
	// loads draw from (nil: no budget, as for the command line). RoomWait is
	// how long a load waits for it before it is refused (default 30 s).
	Room     *Room
	RoomWait time.Duration
	// Storage bounds what the sandbox keeps in Redis; it is checked before
	// every run (the zero value: DefaultStorage).
	Storage Storage
	// DataTTL is how long the sandbox's keys outlive its last sign of life
	// (default 24 h). A live sandbox renews them as it works and every few
	// minutes, so they only expire after its process died without deleting
	// them.
	DataTTL time.Duration
}

// defaultHistory is how many run results a sandbox keeps by default.
const defaultHistory = 20

// keepEvery is how often a live sandbox renews the TTL of its keys, at most.
const keepEvery = 10 * time.Minute

// Sandbox is one learner's (or one command's) copy of the signup system: a
// signup API, email and analytics services and their consumer groups, all
// sharing the Redis keys cr:{id}:... Its settings change live; Close stops
// everything it started.
type Sandbox struct {
	id       string
	instance string // tells this process's consumers apart from others'
	opt      Options
	log      *slog.Logger
	rc       redis.UniversalClient // the process's shared client: Close leaves it open
	store    *stream.Store
	settings atomic.Pointer[Settings]
	setMu    sync.Mutex // serialises settings changes
	// dataMu is held for reading by every write that appends to the stream
	// from outside a run's load (a traced signup, a replay, poison) and for
	// writing while the storage budget drops old runs' data, so no entry is
	// written half into the old data and half into the new.
	dataMu sync.RWMutex

	ctx    context.Context
	cancel context.CancelFunc
	// hard is cancelled when a close runs out of time: the writes that must
	// land even during a graceful stop (acks, hand-backs) give up too.
	hard       context.Context
	hardCancel context.CancelFunc
	keeper     sync.WaitGroup

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

	counted   bool        // included in the sandboxes gauge
	handOver  atomic.Bool // Close keeps the keys whatever DeleteOnClose says
	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
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
// starts the services, the signup API and the consumers. Every sandbox of a
// process shares c, the process's one bounded pool (its consumers never
// block in Redis, see Options.Block), and Close leaves c open. ctx bounds
// the sandbox's whole life; Close ends it sooner.
func New(ctx context.Context, c redis.UniversalClient, id string, opt Options) (*Sandbox, error) {
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
		opt.History = defaultHistory
	}
	if opt.RoomWait <= 0 {
		opt.RoomWait = 30 * time.Second
	}
	opt.Storage = opt.Storage.withDefaults()
	if opt.DataTTL <= 0 {
		opt.DataTTL = DefaultDataTTL
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
	s := &Sandbox{
		id: id, instance: newID("")[:8], opt: opt, log: opt.Logger.With("sandbox", id), rc: c,
		metrics: metrics, trace: newTracer(), client: service.NewClient(),
		groups: map[string]*group{}, closed: make(chan struct{}),
	}
	s.store = stream.New(c, id)
	s.settings.Store(&settings)
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.hard, s.hardCancel = context.WithCancel(context.WithoutCancel(ctx))
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
	if err := s.keepData(initCtx); err != nil {
		return err
	}
	s.keeper.Go(s.keepLoop)
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
			data: &s.dataMu, appended: s.appended,
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
	s.save(stateSettings, next)
	return nil
}

// Close stops the load, the consumers (gracefully: each finishes the message
// in hand and hands back the rest), the services and the API, and deletes the
// keys when Options.DeleteOnClose is set. It is safe to call more than once.
// It waits as long as that takes; CloseContext bounds the wait.
func (s *Sandbox) Close() error { return s.CloseContext(context.Background()) }

// CloseContext closes the sandbox as Close does, but gives up when ctx ends:
// then every Redis command still running for the sandbox is abandoned (a
// hung Redis cannot hold a shutdown) and the keys not yet deleted are left to
// expire (Options.DataTTL). The close goes on in the background.
func (s *Sandbox) CloseContext(ctx context.Context) error {
	s.closeOnce.Do(func() {
		go func() {
			defer close(s.closed)
			s.closeErr = s.shutdown(ctx)
		}()
	})
	select {
	case <-s.closed:
		return s.closeErr
	case <-ctx.Done():
		s.cancel()
		s.hardCancel()
		return fmt.Errorf("close sandbox %s: gave up waiting: %w", s.id, ctx.Err())
	}
}

func (s *Sandbox) shutdown(ctx context.Context) error {
	var closeErr error
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
	s.keeper.Wait()
	s.runs.close() // waits for a running load to notice, and refuses new ones
	s.client.CloseIdleConnections()
	if s.opt.DeleteOnClose && !s.handOver.Load() {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		stop := context.AfterFunc(s.hard, cancel)
		if err := s.store.DeleteAll(dctx); err != nil {
			closeErr = fmt.Errorf("delete sandbox keys: %w", err)
		}
		stop()
		cancel()
	}
	if s.counted {
		s.metrics.sandboxes.Dec()
	}
	s.hardCancel()
	return closeErr
}

// keepOnClose makes the coming Close leave the sandbox's keys for the
// instance that takes the lab over.
func (s *Sandbox) keepOnClose() { s.handOver.Store(true) }

// Totals audits the sandbox's Redis records: users, effects, duplicates and
// unfinished events, across every process and run that worked on it.
func (s *Sandbox) Totals(ctx context.Context) (stream.Totals, error) {
	return s.store.Totals(ctx, ServiceEmail, ServiceAnalytics)
}

// Quantiles are latencies in milliseconds.
type Quantiles = load.Quantiles
