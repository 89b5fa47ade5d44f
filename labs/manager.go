package labs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrFull is returned when a new lab would exceed the manager's bound.
var ErrFull = errors.New("every lab sandbox is in use; try again later")

// ErrAddressFull is returned when the address asking for a new lab already
// has as many as ManagerOptions.PerAddress allows.
var ErrAddressFull = errors.New("this address already has as many lab sandboxes as one address may have")

// ManagerOptions bound and tune a Manager; the zero value is ready to use.
type ManagerOptions struct {
	// Max is how many labs may exist at once (default 200).
	Max int
	// IdleTimeout closes a lab nobody touched for this long (default 2 h).
	IdleTimeout time.Duration
	// UnusedTimeout closes sooner a lab that was never used after the visit
	// that created it (a crawler, a visitor who left at once), so drive-by
	// visits cannot hold every place for hours (default 10 minutes, never
	// more than IdleTimeout).
	UnusedTimeout time.Duration
	// JanitorEvery is how often idle labs are looked for (default a quarter
	// of the shorter timeout, at most a minute).
	JanitorEvery time.Duration
	// PerAddress is how many labs one client address may hold at once
	// (0: no bound), so one visitor changing cookies cannot take every
	// place. Closing or expiring a lab frees its place.
	PerAddress int
	// CloseTimeout bounds Close: labs close in parallel, and whatever has
	// not finished by then (a hung Redis) is abandoned (default 10 s).
	CloseTimeout time.Duration
	// Advertise is the base URL other app instances sharing this Redis can
	// reach this one on (--advertise-url), so a request for a lab running
	// here that reaches another instance can be passed on ("" for none).
	Advertise string
	// Scope keeps apart managers that share a Redis but must not share
	// labs (tests running side by side); the instances of one app leave it
	// empty, so they find each other's labs.
	Scope string
	// KeepOnClose makes Close hand every lab over rather than delete it:
	// its lease is released and its keys live on (Options.DataTTL), so
	// another instance, or this one restarted, takes it up as it was. Set
	// it when Redis outlives the process; an expired or reset lab is
	// deleted all the same.
	KeepOnClose bool
	// Sandbox is the template every lab's sandbox starts from: settings,
	// metrics registerer, logger, breaker policy, room and storage budgets.
	// DeleteOnClose is forced on so an expired lab leaves no keys behind.
	Sandbox Options
}

// Manager keeps one lab per owner (a learner), creates it on first use,
// bounds how many exist, and closes those left idle. It exists so that a
// web server with many visitors can offer each a private sandbox without any
// visitor being able to exhaust it.
type Manager struct {
	rc       redis.UniversalClient
	instance string // this process, as named in the labs' leases
	opt      ManagerOptions
	log      *slog.Logger
	base     Settings

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	labs   map[string]*Lab // by owner
	per    map[string]int  // labs per client address
	closed bool

	janitor sync.WaitGroup
	memory  releaser // hands closed labs' memory back to the OS

	scenarioDone atomic.Pointer[func(owner, scenario string, results []Result)]
}

// OnScenarioDone sets what labs opened from now on tell each time a
// learner's guided scenario finishes all its runs (a workshop keeps the
// room's outcomes). f runs on the lab's goroutine and must not block long.
func (m *Manager) OnScenarioDone(f func(owner, scenario string, results []Result)) {
	m.scenarioDone.Store(&f)
}

// NewManager starts a manager and its janitor. Close stops both and every lab.
func NewManager(rc redis.UniversalClient, opt ManagerOptions) (*Manager, error) {
	if rc == nil {
		return nil, errors.New("lab manager: no Redis client")
	}
	if opt.Max <= 0 {
		opt.Max = 200
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 2 * time.Hour
	}
	if opt.UnusedTimeout <= 0 {
		opt.UnusedTimeout = 10 * time.Minute
	}
	opt.UnusedTimeout = min(opt.UnusedTimeout, opt.IdleTimeout)
	if opt.CloseTimeout <= 0 {
		opt.CloseTimeout = 10 * time.Second
	}
	if opt.JanitorEvery <= 0 {
		opt.JanitorEvery = min(opt.UnusedTimeout/4, time.Minute)
	}
	if opt.Sandbox.Logger == nil {
		opt.Sandbox.Logger = slog.Default()
	}
	opt.Sandbox.DeleteOnClose = true
	base := DefaultSettings()
	if opt.Sandbox.Settings != nil {
		base = *opt.Sandbox.Settings
	}
	if err := base.Validate(); err != nil {
		return nil, fmt.Errorf("lab manager base settings: %w", err)
	}
	m := &Manager{rc: rc, instance: randomHex(8), opt: opt, log: opt.Sandbox.Logger, base: base, labs: map[string]*Lab{}, per: map[string]int{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.advertise(m.ctx)
	m.janitor.Add(2)
	go m.every(m.opt.JanitorEvery, func() { m.Sweep() })
	go m.every(leaseEvery, m.renew)
	if opt.KeepOnClose {
		m.janitor.Add(1)
		go m.every(adoptEvery, m.adopt)
	}
	return m, nil
}

// Base returns the settings a new lab starts with; guided scenarios start
// from them too, so their runs are reproducible.
func (m *Manager) Base() Settings { return m.base }

// Max is the bound on labs alive at once.
func (m *Manager) Max() int { return m.opt.Max }

// RoomSize is how many signups the whole room may have in flight
// (Options.Room), 0 when unbounded.
func (m *Manager) RoomSize() int {
	if m.opt.Sandbox.Room == nil {
		return 0
	}
	return m.opt.Sandbox.Room.Size()
}

// Len is the number of labs alive.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.labs)
}

// Lookup returns owner's lab and marks it used, or nil when it has none.
func (m *Manager) Lookup(owner string) *Lab {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.labs[owner]
	if l != nil {
		l.touch()
	}
	return l
}

// PerAddress is the bound on labs per client address (0: none).
func (m *Manager) PerAddress() int { return m.opt.PerAddress }

// Get returns owner's lab, creating it (with a fresh, unguessable sandbox id)
// when it has none. It returns ErrFull when the bound is reached. The lab
// counts against no address; servers use Open.
func (m *Manager) Get(ctx context.Context, owner string) (*Lab, error) {
	return m.Open(ctx, owner, "")
}

// Open is Get for a visitor at address (a client IP, or its /64): a new lab
// is refused with ErrAddressFull when the address already holds
// ManagerOptions.PerAddress of them. An existing lab is returned whatever
// the address, so a learner whose address changed keeps theirs.
func (m *Manager) Open(ctx context.Context, owner, address string) (*Lab, error) {
	return m.open(ctx, owner, address, true)
}

// Resume is Open for a lab the owner already has: it returns the lab this
// instance runs, or takes up the one another instance ran (see lease.go),
// and returns nil, nil when the owner has none anywhere.
func (m *Manager) Resume(ctx context.Context, owner, address string) (*Lab, error) {
	return m.open(ctx, owner, address, false)
}

func (m *Manager) open(ctx context.Context, owner, address string, create bool) (*Lab, error) {
	if owner == "" {
		return nil, errors.New("lab manager: empty owner")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if l := m.labs[owner]; l != nil {
		l.touch()
		return l, nil
	}
	if address != "" && m.opt.PerAddress > 0 && m.per[address] >= m.opt.PerAddress {
		return nil, ErrAddressFull
	}
	if len(m.labs) >= m.opt.Max {
		return nil, ErrFull
	}
	id, fresh, err := m.sandboxOf(ctx, owner, create)
	if err != nil || id == "" {
		return nil, err
	}
	if err := m.claim(ctx, id); err != nil {
		return nil, err
	}
	opt := m.opt.Sandbox
	settings := m.base
	var saved savedState
	if !fresh {
		// A lab another instance ran, or this one before a restart.
		if saved, err = loadState(ctx, m.rc, id, opt.History); err != nil {
			m.releaseLease(ctx, id)
			return nil, err
		}
		if saved.settings != nil {
			settings = *saved.settings
		}
	}
	opt.Settings = &settings
	sb, err := New(m.ctx, m.rc, id, opt)
	if err != nil {
		m.releaseLease(ctx, id)
		return nil, fmt.Errorf("create lab sandbox: %w", err)
	}
	l := newLab(sb, owner, address)
	if !fresh {
		sb.runs.histMu.Lock()
		sb.runs.history = saved.history
		sb.runs.histMu.Unlock()
		if saved.scenarios != nil {
			l.scenarios = saved.scenarios
		}
		l.replays = saved.replays
	}
	l.scenarioDone = m.scenarioDone.Load()
	sb.save(stateOwner, labOwner{Owner: owner, Scope: m.opt.Scope})
	m.labs[owner] = l
	if address != "" {
		m.per[address]++
	}
	if fresh {
		m.log.Info("lab created", "sandbox", id, "labs", len(m.labs))
	} else {
		m.log.Info("lab taken up", "sandbox", id, "labs", len(m.labs), "runs", len(saved.history))
	}
	return l, nil
}

// renew renews this instance's leases and lets go of the labs another
// instance took over.
func (m *Manager) renew() {
	m.mu.Lock()
	all := m.allLocked()
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.ctx, leaseEvery)
	lost := m.renewLeases(ctx, all)
	cancel()
	for _, l := range lost {
		m.mu.Lock()
		if m.labs[l.owner] == l {
			m.forgetLocked(l.owner)
		}
		m.mu.Unlock()
		m.log.Warn("lab taken over by another instance; letting go of it here", "sandbox", l.ID())
		l.Sandbox.keepOnClose()
		if err := l.close(); err != nil {
			m.log.Warn("close a lab taken over", "sandbox", l.ID(), "err", err)
		}
	}
}

// allLocked lists the labs alive.
func (m *Manager) allLocked() []*Lab {
	all := make([]*Lab, 0, len(m.labs))
	for _, l := range m.labs {
		all = append(all, l)
	}
	return all
}

// forgetLocked removes owner's lab from the books, freeing its places.
func (m *Manager) forgetLocked(owner string) *Lab {
	l := m.labs[owner]
	if l == nil {
		return nil
	}
	delete(m.labs, owner)
	if l.address != "" {
		if m.per[l.address]--; m.per[l.address] <= 0 {
			delete(m.per, l.address)
		}
	}
	return l
}

// Reset closes owner's lab and deletes its keys; the next Get starts afresh.
func (m *Manager) Reset(owner string) error {
	m.mu.Lock()
	l := m.forgetLocked(owner)
	if l != nil {
		m.dropOwnerLocked(l)
	}
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	defer m.memory.closed()
	err := l.close()
	m.releaseLease(context.Background(), l.ID())
	return err
}

// Sweep closes every lab idle for longer than the idle timeout and returns
// how many it closed. The janitor calls it; tests may too.
func (m *Manager) Sweep() int {
	now := time.Now()
	m.mu.Lock()
	var idle []*Lab
	for owner, l := range m.labs {
		since, used := l.idleSince()
		limit := m.opt.IdleTimeout
		if !used {
			limit = m.opt.UnusedTimeout
		}
		if now.Sub(since) > limit && !l.Status().Running && !l.loading() {
			idle = append(idle, l)
			m.forgetLocked(owner)
			m.dropOwnerLocked(l)
		}
	}
	m.mu.Unlock()
	if len(idle) > 0 {
		defer m.memory.closed()
	}
	for _, l := range idle {
		if err := l.close(); err != nil {
			m.log.Warn("close idle lab", "sandbox", l.ID(), "err", err)
		} else {
			m.log.Info("lab expired", "sandbox", l.ID())
		}
		m.releaseLease(m.ctx, l.ID())
	}
	return len(idle)
}

// every calls f every d until the manager closes.
func (m *Manager) every(d time.Duration, f func()) {
	defer m.janitor.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Close stops the janitor and closes every lab, deleting its keys, within
// ManagerOptions.CloseTimeout.
func (m *Manager) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.opt.CloseTimeout)
	defer cancel()
	return m.CloseContext(ctx)
}

// CloseContext stops the janitor and closes every lab at once, in parallel,
// so that shutting down a room of labs takes as long as the slowest, not
// their sum. When ctx ends first it returns without waiting any longer: the
// labs still closing abandon their Redis commands, and the keys they did not
// delete expire by themselves (Options.DataTTL).
func (m *Manager) CloseContext(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.memory.stop()
	all := m.allLocked()
	m.labs = map[string]*Lab{}
	m.per = map[string]int{}
	m.mu.Unlock()
	m.cancel()
	m.janitor.Wait()
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, l := range all {
		if m.opt.KeepOnClose {
			l.Sandbox.keepOnClose()
		}
		wg.Go(func() {
			errs[i] = l.closeContext(ctx)
			m.releaseLease(ctx, l.ID())
			if !m.opt.KeepOnClose {
				m.forgetOwner(ctx, l.owner, l.ID())
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close labs: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
