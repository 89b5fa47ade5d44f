package labs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/crossroads-learn/crossroads/labs/service"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// errCrashed ends a consumer the way a crash would: no cleanup, no acks, no
// more lease renewals.
var errCrashed = errors.New("consumer crashed (injected)")

// errPaused stops a batch when the group's breaker opened under it.
var errPaused = errors.New("group paused")

// claimEvery is how often an idle consumer looks for retries that came due;
// a group scans for messages whose consumer died (a lease ran out) as often.
const claimEvery = 500 * time.Millisecond

// claimGap is the least time between two claims of one consumer.
const claimGap = 50 * time.Millisecond

// batchWindow is about how long one batch should take, so that a slow
// service does not leave one consumer with a long queue while others idle.
// A batch also fits in a sixth of the lease where it can, so that its last
// messages are handled before their leases need renewing (renewLeases).
const batchWindow = 200 * time.Millisecond

// consumer is one member of a consumer group in this process.
type consumer struct {
	name string
	stop chan struct{} // closed to ask for a graceful stop
	// recovering is set for a consumer restarted after a crash: it first
	// takes back the messages its predecessor held.
	recovering bool
	held       held
	// perMessage is a moving average of how long one message takes here.
	perMessage time.Duration
	nextClaim  time.Time
	ownCursor  string
	// finished is the message handled last, acknowledged together with the
	// start of the next one (or at the end of the batch).
	finished *stream.Finished
	// idleFor is how long the consumer sleeps after its next empty read.
	idleFor time.Duration
}

// firstIdle is the sleep after a first empty read; each further empty read
// doubles it, up to Options.Block.
const firstIdle = 10 * time.Millisecond

// idle sleeps after an empty read: never past the next claim (a retry comes
// due), and not at all once this process appends entries (see wakeup).
func (g *group) idle(ctx context.Context, c *consumer) {
	c.idleFor = min(max(2*c.idleFor, firstIdle), g.sb.opt.Block)
	d := c.idleFor
	if wait := time.Until(c.nextClaim); wait < d {
		d = max(wait, time.Millisecond)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-g.wake.c():
	case <-ctx.Done():
	case <-c.stop:
	}
}

func (c *consumer) stopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// batchSize is how many messages to take at once: about a window's worth
// (batchWindow or a sixth of the lease, the shorter) at the pace seen so
// far, at least one, at most limit.
func (c *consumer) batchSize(limit int, lease time.Duration) int {
	if c.perMessage <= 0 {
		return limit
	}
	window := min(batchWindow, lease/6)
	return max(1, min(limit, int(window/c.perMessage)))
}

// timed folds one message's handling time into the moving average.
func (c *consumer) timed(d time.Duration) {
	if c.perMessage == 0 {
		c.perMessage = d
		return
	}
	c.perMessage = (c.perMessage*7 + d) / 8
}

// held is the set of entries in a consumer's hands, whose leases it renews;
// an entry another consumer took meanwhile is marked lost.
type held struct {
	mu  sync.Mutex
	ids map[string]holding
}

// holding is one entry in a consumer's hands: since when its lease runs
// (it was read, claimed or last renewed) and whether another took it.
type holding struct {
	since time.Time
	lost  bool
}

// add takes ds into the consumer's hands; at is when the read or claim
// that handed them over was sent, which is no later than Redis reset their
// idle time.
func (h *held) add(ds []stream.Delivery, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids == nil {
		h.ids = map[string]holding{}
	}
	for _, d := range ds {
		h.ids[d.ID] = holding{since: at}
	}
}

func (h *held) remove(id string) {
	h.mu.Lock()
	delete(h.ids, id)
	h.mu.Unlock()
}

// aged lists the entries still held whose lease has run for at least age:
// work finished sooner never costs a renewal.
func (h *held) aged(now time.Time, age time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for id, e := range h.ids {
		if !e.lost && now.Sub(e.since) >= age {
			out = append(out, id)
		}
	}
	return out
}

// renewed notes the outcome of a renewal sent at at: lost entries are
// another consumer's now, the rest run a fresh lease.
func (h *held) renewed(ids, lost []string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if e, ok := h.ids[id]; ok {
			e.since = at
			h.ids[id] = e
		}
	}
	for _, id := range lost {
		if e, ok := h.ids[id]; ok {
			e.lost = true
			h.ids[id] = e
		}
	}
}

func (h *held) lost(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id].lost
}

// renewLeases keeps the consumer's hold on the entries in its hands fresh,
// however long the service takes; it stops when the returned function is
// called (as a crash does, abruptly). It looks every sixth of the lease and
// renews the entries held for a sixth of it or more, so, as when every entry
// was renewed every third, none goes a third of its lease unrenewed; but a
// consumer whose messages take milliseconds (most of them) sends no renewals.
func (g *group) renewLeases(ctx context.Context, c *consumer) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			every := max(g.sb.Settings().Lease/6, 5*time.Millisecond)
			if !sleep(ctx, done, every) {
				return
			}
			now := time.Now()
			ids := c.held.aged(now, every)
			if len(ids) == 0 || g.sb.Settings().NoLeaseRenewal {
				continue
			}
			lost, err := g.sb.store.Renew(ctx, g.name, c.name, ids)
			if err != nil {
				if ctx.Err() == nil {
					g.sb.log.Debug("renew leases", "group", g.name, "consumer", c.name, "err", err)
				}
				continue
			}
			c.held.renewed(ids, lost, now)
		}
	})
	return func() { close(done); wg.Wait() }
}

// run is one consumer: take messages (retries that came due, messages a
// crashed consumer left, or new ones) and handle them, until a graceful stop
// or a crash. While the group is paused it takes nothing, except one message
// at a time to probe the service.
func (g *group) run(c *consumer) error {
	ctx := g.sb.ctx
	log := g.sb.log.With("group", g.name, "consumer", c.name)
	stopRenewing := g.renewLeases(ctx, c)
	defer stopRenewing()
	poll := min(max(g.sb.opt.GroupBreaker.Cooldown/10, 5*time.Millisecond), 100*time.Millisecond)
	errWait := 50 * time.Millisecond
	for !c.stopping() && ctx.Err() == nil {
		s := g.sb.Settings()
		var probe func(error)
		switch g.breaker.State() {
		case gobreaker.StateOpen:
			g.flush(c)
			sleep(ctx, c.stop, poll)
			continue
		case gobreaker.StateHalfOpen:
			done, err := g.breaker.Allow()
			if err != nil { // another consumer is probing
				g.flush(c)
				sleep(ctx, c.stop, poll)
				continue
			}
			probe = done
		}
		took := time.Now() // no later than Redis starts the batch's leases
		batch, err := g.take(ctx, c, s, probe != nil)
		if probe != nil && (err != nil || len(batch) == 0) {
			probe(errNotTried)
		}
		if err != nil || len(batch) == 0 {
			g.flush(c) // nothing to start: the last message is acknowledged alone
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if stream.IsNoGroup(err) {
				if err := g.sb.store.EnsureGroups(ctx, g.name); err != nil {
					log.Warn("recreate group", "err", err)
				}
			} else {
				log.Warn("read stream", "err", err)
			}
			sleep(ctx, c.stop, errWait)
			errWait = min(errWait*2, time.Second)
			continue
		}
		errWait = 50 * time.Millisecond
		if len(batch) == 0 {
			if probe != nil {
				sleep(ctx, c.stop, poll)
			} else {
				g.idle(ctx, c)
			}
			continue
		}
		c.idleFor = 0
		if err := g.handle(ctx, c, s, batch, took, probe); err != nil {
			if errors.Is(err, errCrashed) {
				log.Debug("consumer crashed before acknowledging")
				return err
			}
			log.Warn("handle batch", "err", err)
			sleep(ctx, c.stop, errWait)
		}
	}
	g.flush(c)
	return nil
}

// take hands the consumer its next messages: first what is the group's to
// take over (due retries, entries of crashed consumers), looked for every
// claimEvery or when a retry comes due, then new entries. A probe takes one.
func (g *group) take(ctx context.Context, c *consumer, s Settings, probe bool) ([]stream.Delivery, error) {
	n := 1
	if !probe {
		n = c.batchSize(g.sb.opt.BatchSize, s.Lease)
	}
	now := time.Now()
	if c.recovering {
		cl, err := g.sb.store.Claim(ctx, stream.ClaimArgs{Group: g.name, Consumer: c.name, Count: n,
			MaxDeliveries: s.MaxDeliveries, Cursor: c.ownCursor, Own: true})
		if err != nil {
			return nil, err
		}
		c.ownCursor, c.recovering = cl.Cursor, cl.Cursor != "" || len(cl.Deliveries) == n
		if len(cl.Deliveries) > 0 {
			return cl.Deliveries, nil
		}
	}
	if probe || !now.Before(c.nextClaim) {
		scan := g.scanDue(now)
		cl, err := g.sb.store.Claim(ctx, stream.ClaimArgs{Group: g.name, Consumer: c.name, Lease: s.Lease, Count: n,
			MaxDeliveries: s.MaxDeliveries, Cursor: g.scanCursor(), Probe: probe, Abandoned: scan})
		if err == nil {
			if scan {
				g.setScanCursor(cl.Cursor)
			}
			c.nextClaim = now.Add(claimEvery)
			if len(cl.Deliveries) == n {
				c.nextClaim = now // there may be more to take at once
			} else if !cl.NextDue.IsZero() && cl.NextDue.Before(c.nextClaim) {
				// Retries come due one by one (their backoffs are random);
				// gathering those of the next claimGap costs one claim, not one each.
				c.nextClaim = later(cl.NextDue, now.Add(claimGap))
			}
			g.forgetRetired(ctx)
			if len(cl.Deliveries) > 0 {
				return cl.Deliveries, nil
			}
		} else if ctx.Err() == nil {
			// A missing group shows up as NOGROUP on the read below.
			g.sb.log.Debug("claim", "group", g.name, "err", err)
		}
	}
	// Never BLOCK: the wait would hold a connection of the shared pool (see
	// Options.Block); idle does the waiting instead.
	ds, err := g.sb.store.Read(ctx, g.name, c.name, n, 0)
	if err == nil && len(ds) == n {
		g.wake.signal() // there may be more than this consumer took
	}
	return ds, err
}

// handle works through a batch in order, each message settled (acked,
// scheduled for a retry or dead-lettered) before the service is called with
// the next, so a crash loses no finished work. A graceful stop, or the group pausing, hands
// the untried rest back without spending their deliveries.
func (g *group) handle(ctx context.Context, c *consumer, s Settings, batch []stream.Delivery, at time.Time, probe func(error)) error {
	c.held.add(batch, at)
	defer func() { // a probe slot nothing used must be given back
		if probe != nil {
			probe(errNotTried)
		}
	}()
	settled := false
	defer func() {
		if !settled {
			g.flush(c)
		}
	}()
	events := make([]stream.Event, len(batch))
	bad := make([]error, len(batch))
	var ids []string
	for i, d := range batch {
		events[i], bad[i] = stream.Decode(d.Values)
		if bad[i] == nil {
			ids = append(ids, events[i].ID)
		}
	}
	done := map[string]bool{}
	if s.Idempotency {
		seen, err := g.sb.store.DoneAlready(ctx, g.name, ids)
		if err != nil {
			g.release(c, batch)
			return fmt.Errorf("check idempotency records: %w", err)
		}
		for i, id := range ids {
			done[id] = seen[i]
		}
	}
	for i, d := range batch {
		if c.stopping() || ctx.Err() != nil {
			g.flush(c)
			g.release(c, batch[i:])
			return nil
		}
		if c.held.lost(d.ID) { // renewal failed and another consumer has it
			c.held.remove(d.ID)
			continue
		}
		m := message{Delivery: d, event: events[i], bad: bad[i], done: done[events[i].ID]}
		err := g.handleOne(ctx, c, s, m, &probe)
		switch {
		case errors.Is(err, errPaused):
			g.flush(c)
			g.release(c, batch[i:])
			return nil
		case errors.Is(err, errCrashed):
			settled = true // a crash acknowledges nothing more
			return err
		case err != nil: // Redis failed us: hand this one and the rest back
			g.flush(c)
			g.release(c, batch[i:])
			return err
		}
		if c.finished == nil || c.finished.ID != d.ID {
			c.held.remove(d.ID) // settled; a finished one is held until acknowledged
		}
	}
	// The last message is acknowledged with the start of the next batch's
	// first, or by run before the consumer waits for anything.
	settled = true
	return nil
}

// flush acknowledges the message the consumer finished last, if it was not
// acknowledged with the start of another.
func (g *group) flush(c *consumer) error {
	if c.finished == nil {
		return nil
	}
	// The work is done: the ack must land even when a stop came meanwhile
	// (unless the close ran out of time).
	ctx, cancel := context.WithTimeout(g.sb.hard, 5*time.Second)
	defer cancel()
	err := g.sb.store.Ack(ctx, g.name, *c.finished)
	c.held.remove(c.finished.ID)
	c.finished = nil
	return err
}

// message is one delivery with its decoded event.
type message struct {
	stream.Delivery
	event stream.Event
	bad   error // why the entry is poison, or nil
	done  bool  // the group finished this event before
	shown bool  // drawn in the live picture
}

// flow records f for the picture when the message is shown.
func (g *group) flow(m message, f Flow) {
	if m.shown {
		f.Group, f.ID = g.name, m.ID
		g.sb.flows.add(f)
	}
}

// deliveryWord says how a message came to its consumer.
func deliveryWord(k stream.Kind) string {
	switch k {
	case stream.KindDue:
		return "retry"
	case stream.KindCrashed, stream.KindAbandoned:
		return "recovered"
	}
	return "new"
}

// handleOne settles one message. probe, when set, is the breaker's verdict
// for a paused group's trial; it is used (and cleared) by the first call.
func (g *group) handleOne(ctx context.Context, c *consumer, s Settings, m message, probe *func(error)) error {
	ev := m.event
	tally := g.sb.runs.tally(ev.Run)
	m.shown = g.sb.flows.admit(g.name)
	g.flow(m, Flow{Kind: FlowDelivered, Where: "stream", OK: true, Detail: deliveryWord(m.Kind)})
	if m.Kind != stream.KindNew {
		tally.redeliveries.Add(1)
		g.sb.count.redeliveries.Add(1)
		g.sb.metrics.redeliveries.WithLabelValues(g.name).Inc()
	}
	if m.Over {
		return g.deadLetter(ctx, c, m, overVerdict(m.Delivery))
	}
	// A replayed dead letter is for one group; the others ack it unread.
	if only, _ := m.Values["only"].(string); only != "" && only != g.name {
		return g.sb.store.Ack(ctx, g.name, stream.Finished{ID: m.ID})
	}
	if m.bad != nil { // poison: no retry can help, park it at once
		g.sb.count.poison.Add(1)
		g.sb.metrics.messages.WithLabelValues(g.name, "poison").Inc()
		return g.deadLetter(ctx, c, m, stream.Verdict{Code: stream.CodePoison, Reason: m.bad.Error()})
	}
	if m.done {
		g.sb.count.skipped.Add(1)
		g.sb.metrics.messages.WithLabelValues(g.name, "skipped").Inc()
		g.sb.trace.add(ev.TraceParent, g.name+" consumer", "already done; acknowledged without calling again")
		return g.sb.store.Ack(ctx, g.name, stream.Finished{ID: m.ID, EventID: ev.ID})
	}
	report, probing := *probe, *probe != nil
	*probe = nil
	if !probing {
		var err error
		if report, err = g.breaker.Allow(); err != nil {
			return errPaused
		}
	}
	g.sb.trace.add(ev.TraceParent, g.name+" consumer", fmt.Sprintf("received %s (delivery %d)", m.ID, m.Deliveries))
	if err := g.sb.store.Begin(ctx, g.name, c.name, m.ID, c.finished); err != nil {
		report(errNotTried)
		return err
	}
	if c.finished != nil {
		c.held.remove(c.finished.ID)
		c.finished = nil
	}
	req := service.Request{UserID: ev.UserID, Email: ev.Email, RequestedAt: ev.RequestedAt, Run: ev.Run}
	start := time.Now()
	_, err := g.sb.client.Call(ctx, g.name, g.url, s.Timeout, req, ev.ID, ev.TraceParent)
	c.timed(time.Since(start))
	g.flow(m, Flow{Kind: FlowCall, Where: g.name, OK: err == nil, MS: msSince(start), Detail: failureWord(err)})
	if err == nil {
		report(nil)
		g.sb.metrics.calls.WithLabelValues(g.name, "ok").Inc()
		if s.CrashRate > 0 && rand.Float64() < s.CrashRate {
			g.flow(m, Flow{Kind: FlowCrash, Where: g.name, Detail: "crashed before acknowledging"})
			g.sb.trace.add(ev.TraceParent, g.name+" consumer", "crashed after the effect, before acknowledging")
			g.sb.count.crashes.Add(1)
			tally.crashes.Add(1)
			g.sb.metrics.crashes.WithLabelValues(g.name).Inc()
			return errCrashed
		}
		c.finished = &stream.Finished{ID: m.ID, EventID: ev.ID}
		g.sb.count.processed.Add(1)
		g.sb.metrics.messages.WithLabelValues(g.name, "processed").Inc()
		g.sb.trace.add(ev.TraceParent, g.name+" consumer", "acknowledged")
		if probing && g.breaker.State() == gobreaker.StateClosed {
			g.sb.trace.add(ev.TraceParent, g.name+" consumer", "the probe succeeded: group resumed")
			if err := g.flush(c); err != nil {
				return err
			}
			return g.sb.store.Resume(ctx, g.name)
		}
		return nil
	}
	g.sb.metrics.calls.WithLabelValues(g.name, "error").Inc()
	if ctx.Err() != nil {
		report(context.Canceled)
		return ctx.Err()
	}
	report(err)
	if service.Permanent(err) {
		return g.deadLetter(ctx, c, m, stream.Verdict{Code: stream.CodeRejected, Reason: err.Error(), Detail: rawError(err)})
	}
	if probing { // a paused group's probe spends nothing
		g.sb.trace.add(ev.TraceParent, g.name+" consumer", "probe failed, group stays paused: "+err.Error())
		return g.sb.store.Retry(ctx, g.name, c.name, m.Delivery, time.Now(), time.Time{})
	}
	return g.failed(ctx, c, s, m, err, tally)
}

// failed decides what a failed attempt of a running group leads to: a retry
// after a backoff, or the dead-letter stream once the budget is spent.
func (g *group) failed(ctx context.Context, c *consumer, s Settings, m message, cause error, tally *runTally) error {
	now := time.Now()
	first := m.FirstFailure
	if first.IsZero() {
		first = now
	}
	switch {
	case s.MaxDeliveries > 0 && m.Deliveries >= int64(s.MaxDeliveries):
		return g.deadLetter(ctx, c, m, stream.Verdict{Code: stream.CodeGaveUp, Detail: rawError(cause),
			Reason: fmt.Sprintf("gave up after %d tries over %s: %v", m.Deliveries, roughly(now.Sub(first)), cause)})
	case s.MaxRetryAge > 0 && now.Sub(first) >= s.MaxRetryAge:
		return g.deadLetter(ctx, c, m, stream.Verdict{Code: stream.CodeTooOld, Detail: rawError(cause),
			Reason: fmt.Sprintf("still failing %s after its first try, longer than the %s allowed: %v", roughly(now.Sub(first)), roughly(s.MaxRetryAge), cause)})
	}
	wait := backoff(s, m.Deliveries)
	g.sb.trace.add(m.event.TraceParent, g.name+" consumer",
		fmt.Sprintf("attempt %d failed: %v; retry in %v", m.Deliveries, cause, wait.Round(time.Millisecond)))
	if err := g.sb.store.Retry(ctx, g.name, c.name, m.Delivery, now.Add(wait), now); err != nil {
		return err
	}
	g.flow(m, Flow{Kind: FlowRetry, Where: "stream", Detail: fmt.Sprintf("retry in %.1f s", wait.Seconds())})
	g.sb.count.retries.Add(1)
	tally.retries.Add(1)
	g.sb.metrics.messages.WithLabelValues(g.name, "retried").Inc()
	return nil
}

// backoff is the wait before retrying after the n-th delivery failed:
// exponential from RetryAfter, capped at RetryMaxBackoff, drawn at random
// below that ("full jitter") so that retries of many messages spread out.
func backoff(s Settings, n int64) time.Duration {
	ceiling := s.RetryMaxBackoff
	if n < 31 {
		if d := s.RetryAfter << (max(n, 1) - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return rand.N(ceiling) + 1
}

// overReason says why an entry that spent its budget without a failed
// attempt of this consumer's is dead-lettered.
func overVerdict(d stream.Delivery) stream.Verdict {
	if d.Kind == stream.KindCrashed {
		return stream.Verdict{Code: stream.CodeCrashed, Reason: fmt.Sprintf("crashed the consumer %d times", d.Crashes)}
	}
	return stream.Verdict{Code: stream.CodeGaveUp, Reason: fmt.Sprintf("gave up after %d tries", d.Deliveries)}
}

// rawError is the technical form of a call failure, behind its plain words.
func rawError(err error) string {
	var f *service.Failure
	if errors.As(err, &f) {
		return f.Raw()
	}
	return err.Error()
}

// roughly says a duration the way a person would: "0.4 s", "12 s", "2 min 10 s".
func roughly(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d%time.Minute < time.Second:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
}

func (g *group) deadLetter(ctx context.Context, c *consumer, m message, v stream.Verdict) error {
	reason := v.Reason
	if err := g.sb.store.DeadLetter(ctx, g.name, c.name, m.Delivery, m.event.ID, v); err != nil {
		return err
	}
	g.sb.count.deadLettered.Add(1)
	g.sb.runs.tally(m.event.Run).dead.Add(1)
	g.flow(m, Flow{Kind: FlowDead, Where: "dead", Detail: reason})
	g.sb.metrics.messages.WithLabelValues(g.name, "dead_lettered").Inc()
	g.sb.trace.add(m.event.TraceParent, g.name+" consumer", "dead-lettered: "+reason)
	g.sb.log.Debug("dead-lettered", "group", g.name, "entry", m.ID, "reason", reason)
	return nil
}

// release hands untried messages back to the group, due at once and with
// their delivery given back, so another consumer takes them without waiting
// for the lease to run out.
func (g *group) release(c *consumer, ds []stream.Delivery) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(g.sb.hard, 2*time.Second)
	defer cancel()
	for _, d := range ds {
		if err := g.sb.store.Retry(ctx, g.name, c.name, d, time.Now(), time.Time{}); err != nil {
			g.sb.log.Debug("release message", "group", g.name, "entry", d.ID, "err", err)
		}
		c.held.remove(d.ID)
	}
	g.sb.metrics.messages.WithLabelValues(g.name, "released").Add(float64(len(ds)))
}

// sleep waits d unless ctx ends or stop closes; it reports whether to go on.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
