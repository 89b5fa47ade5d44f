package labs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrFull is returned when a new lab would exceed the manager's bound.
var ErrFull = errors.New("every lab sandbox is in use; try again later")

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
	// Sandbox is the template every lab's sandbox starts from: settings,
	// metrics registerer, logger, breaker policy. DeleteOnClose is forced on
	// so an expired lab leaves no keys behind.
	Sandbox Options
}

// Manager keeps one lab per owner (a learner), creates it on first use,
// bounds how many exist, and closes those left idle. It exists so that a
// web server with many visitors can offer each a private sandbox without any
// visitor being able to exhaust it.
type Manager struct {
	rc   *redis.Client
	opt  ManagerOptions
	log  *slog.Logger
	base Settings

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	labs   map[string]*Lab // by owner
	closed bool

	janitor sync.WaitGroup
}

// NewManager starts a manager and its janitor. Close stops both and every lab.
func NewManager(rc *redis.Client, opt ManagerOptions) (*Manager, error) {
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
	m := &Manager{rc: rc, opt: opt, log: opt.Sandbox.Logger, base: base, labs: map[string]*Lab{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.janitor.Add(1)
	go m.sweepLoop()
	return m, nil
}

// Base returns the settings a new lab starts with; guided scenarios start
// from them too, so their runs are reproducible.
func (m *Manager) Base() Settings { return m.base }

// Max is the bound on labs alive at once.
func (m *Manager) Max() int { return m.opt.Max }

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

// Get returns owner's lab, creating it (with a fresh, unguessable sandbox id)
// when it has none. It returns ErrFull when the bound is reached.
func (m *Manager) Get(ctx context.Context, owner string) (*Lab, error) {
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
	if len(m.labs) >= m.opt.Max {
		return nil, ErrFull
	}
	id := "lab-" + randomHex(16)
	opt := m.opt.Sandbox
	settings := m.base
	opt.Settings = &settings
	sb, err := New(m.ctx, m.rc, id, opt)
	if err != nil {
		return nil, fmt.Errorf("create lab sandbox: %w", err)
	}
	l := newLab(sb, owner)
	m.labs[owner] = l
	m.log.Info("lab created", "sandbox", id, "labs", len(m.labs))
	return l, nil
}

// Reset closes owner's lab and deletes its keys; the next Get starts afresh.
func (m *Manager) Reset(owner string) error {
	m.mu.Lock()
	l := m.labs[owner]
	delete(m.labs, owner)
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.close()
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
			delete(m.labs, owner)
		}
	}
	m.mu.Unlock()
	for _, l := range idle {
		if err := l.close(); err != nil {
			m.log.Warn("close idle lab", "sandbox", l.ID(), "err", err)
		} else {
			m.log.Info("lab expired", "sandbox", l.ID())
		}
	}
	return len(idle)
}

func (m *Manager) sweepLoop() {
	defer m.janitor.Done()
	t := time.NewTicker(m.opt.JanitorEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Close stops the janitor and closes every lab, deleting its keys.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	all := make([]*Lab, 0, len(m.labs))
	for _, l := range m.labs {
		all = append(all, l)
	}
	m.labs = map[string]*Lab{}
	m.mu.Unlock()
	m.cancel()
	m.janitor.Wait()
	var errs []error
	for _, l := range all {
		errs = append(errs, l.close())
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
