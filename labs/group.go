package labs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/crossroads-learn/crossroads/labs/service"
)

// Group states, as a snapshot reports them.
const (
	// GroupRunning takes and handles messages.
	GroupRunning = "running"
	// GroupBackingOff runs, with messages waiting out a backoff.
	GroupBackingOff = "backing_off"
	// GroupPaused stopped taking messages because its service kept failing;
	// it probes with one message at a time and resumes when one succeeds.
	GroupPaused = "paused"
)

// errNotTried reports to the breaker a probe slot that found nothing to
// try: neither a success nor a failure.
var errNotTried = errors.New("nothing was tried")

// group runs this process's consumers of one consumer group: it keeps the
// size the settings ask for (replacing any that crash), and holds the
// group's circuit breaker, which pauses every consumer of the group while
// its service keeps failing.
type group struct {
	name    string
	url     string
	sb      *Sandbox
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	paused  pauseClock

	mu      sync.Mutex
	alive   map[string]*consumer
	retired []string // consumers scaled away, removed from the group once they hold nothing
	seq     int
	closing bool
	wg      sync.WaitGroup

	cursorMu sync.Mutex
	cursor   string    // where the scan for abandoned entries goes on
	nextScan time.Time // when one of this process's consumers scans next

	// wake rouses one idle consumer: new entries may be waiting.
	wake wakeup
}

// wakeup hands out wake-up calls one at a time: signal leaves one (at most
// one waits), and the first idle consumer to look takes it. One call wakes
// one consumer, not all: a consumer whose read came back full signals again,
// so a burst wakes as many as it needs, one round trip each, while a single
// signup costs one read rather than one per idle consumer.
type wakeup struct {
	once sync.Once
	ch   chan struct{}
}

func (w *wakeup) c() chan struct{} {
	w.once.Do(func() { w.ch = make(chan struct{}, 1) })
	return w.ch
}

func (w *wakeup) signal() {
	select {
	case w.c() <- struct{}{}:
	default: // one is waiting already
	}
}

func newGroup(sb *Sandbox, name, url string) *group {
	g := &group{name: name, url: url, sb: sb, alive: map[string]*consumer{}}
	st := sb.opt.GroupBreaker.settings(name, g.breakerChanged)
	// A request the service rejected is an answer: the service is up.
	st.IsSuccessful = func(err error) bool { return err == nil || service.Permanent(err) }
	st.IsExcluded = func(err error) bool { return errors.Is(err, errNotTried) || errors.Is(err, context.Canceled) }
	g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return g
}

func (g *group) breakerChanged(from, to gobreaker.State) {
	switch to {
	case gobreaker.StateOpen:
		if g.paused.pause() {
			g.sb.metrics.pausedGroups.WithLabelValues(g.name).Inc()
			g.sb.flows.add(Flow{Kind: FlowPaused, Where: g.name, Group: g.name, Detail: "its service keeps failing"})
			g.sb.runs.mark(g.name + " group paused")
			g.sb.log.Info("consumer group paused: its service keeps failing", "group", g.name)
		}
	case gobreaker.StateClosed:
		if d, was := g.paused.resume(); was {
			g.sb.metrics.pausedGroups.WithLabelValues(g.name).Dec()
			g.sb.metrics.pausedTime.WithLabelValues(g.name).Add(d.Seconds())
			g.sb.flows.add(Flow{Kind: FlowResumed, Where: g.name, Group: g.name, OK: true, Detail: fmt.Sprintf("after %.1f s", d.Seconds())})
			g.sb.runs.mark(g.name + " group resumed")
			g.sb.log.Info("consumer group resumed", "group", g.name, "paused", d.Round(time.Millisecond))
		}
	}
}

// state is the group's state as a learner should see it; waiting is how
// many of its messages wait out a backoff.
func (g *group) state(waiting int64) string {
	switch {
	case g.paused.is():
		return GroupPaused
	case waiting > 0:
		return GroupBackingOff
	}
	return GroupRunning
}

// scale starts or gracefully stops consumers until n run here.
func (g *group) scale(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return
	}
	for len(g.alive) < n {
		g.startLocked()
	}
	for name, c := range g.alive {
		if len(g.alive) <= n {
			break
		}
		close(c.stop)
		delete(g.alive, name)
	}
}

func (g *group) startLocked() {
	g.seq++
	g.launchLocked(&consumer{name: fmt.Sprintf("%s-%s-%d", g.name, g.sb.instance, g.seq), stop: make(chan struct{})})
}

// launchLocked runs c; when it crashes, a supervisor restarts it under the
// same name, and the new one first takes back what the old one held, as a
// restarted process with a stable consumer name does.
func (g *group) launchLocked(c *consumer) {
	g.alive[c.name] = c
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := g.run(c)
		g.mu.Lock()
		defer g.mu.Unlock()
		_, wanted := g.alive[c.name]
		switch {
		case errors.Is(err, errCrashed) && wanted && !g.closing:
			g.launchLocked(&consumer{name: c.name, stop: c.stop, recovering: true})
		case !wanted && !g.closing:
			g.retired = append(g.retired, c.name)
		}
	}()
}

// stop asks every consumer to finish the message in hand and return; it
// waits for them.
func (g *group) stop() {
	g.mu.Lock()
	g.closing = true
	for name, c := range g.alive {
		close(c.stop)
		delete(g.alive, name)
	}
	g.mu.Unlock()
	g.wg.Wait()
	if d, was := g.paused.resume(); was {
		g.sb.metrics.pausedGroups.WithLabelValues(g.name).Dec()
		g.sb.metrics.pausedTime.WithLabelValues(g.name).Add(d.Seconds())
	}
}

func (g *group) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.alive)
}

// forgetRetired removes consumers that were scaled away once they no longer
// hold messages, so the group's consumer list does not grow.
func (g *group) forgetRetired(ctx context.Context) {
	g.mu.Lock()
	names := g.retired
	g.retired = nil
	g.mu.Unlock()
	var keep []string
	for _, name := range names {
		if ok, err := g.sb.store.ForgetConsumer(ctx, g.name, name); !ok || err != nil {
			keep = append(keep, name)
		}
	}
	if len(keep) > 0 {
		g.mu.Lock()
		g.retired = append(g.retired, keep...)
		g.mu.Unlock()
	}
}

func (g *group) scanCursor() string {
	g.cursorMu.Lock()
	defer g.cursorMu.Unlock()
	return g.cursor
}

// scanDue reports whether it is time for a consumer of the group to scan for
// abandoned entries (once per claimEvery for the whole group, sooner while a
// scan has more pages to read); the caller then does.
func (g *group) scanDue(now time.Time) bool {
	g.cursorMu.Lock()
	defer g.cursorMu.Unlock()
	if now.Before(g.nextScan) && g.cursor == "" {
		return false
	}
	g.nextScan = now.Add(claimEvery)
	return true
}

func (g *group) setScanCursor(c string) {
	g.cursorMu.Lock()
	g.cursor = c
	g.cursorMu.Unlock()
}

// pauseClock measures how long a group has been paused in all.
type pauseClock struct {
	mu    sync.Mutex
	since time.Time // zero while running
	total time.Duration
}

// pause starts a pause and reports whether the group was running.
func (p *pauseClock) pause() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.since.IsZero() {
		return false
	}
	p.since = time.Now()
	return true
}

// resume ends a pause and returns how long it lasted.
func (p *pauseClock) resume() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since.IsZero() {
		return 0, false
	}
	d := time.Since(p.since)
	p.total += d
	p.since = time.Time{}
	return d, true
}

func (p *pauseClock) is() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.since.IsZero()
}

// elapsed is the paused time so far, the current pause included.
func (p *pauseClock) elapsed() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.total
	if !p.since.IsZero() {
		d += time.Since(p.since)
	}
	return d
}
