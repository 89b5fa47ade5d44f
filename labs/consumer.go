package labs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errCrashed ends a consumer the way a crash would: no cleanup, no acks.
var errCrashed = errors.New("consumer crashed (injected)")

// group runs this process's consumers of one consumer group and replaces any
// that crash, so the group keeps the size the settings ask for.
type group struct {
	name string
	sb   *Sandbox
	down *downstream

	mu      sync.Mutex
	alive   map[string]*consumer
	crashed []string // names to remove from the group once they hold nothing
	seq     int
	closing bool
	wg      sync.WaitGroup
}

type consumer struct {
	name string
	stop chan struct{} // closed to ask for a graceful stop
	// perMessage is a moving average of how long one message takes here.
	perMessage time.Duration
}

// batchSize is how many messages to take at once: no more than can be
// handled in half the retry time, so that no message waits in this
// consumer's hands long enough to look abandoned and be claimed by another
// consumer while it is still being worked on.
func (c *consumer) batchSize(limit int, retryAfter time.Duration) int {
	if c.perMessage <= 0 {
		return limit
	}
	return max(1, min(limit, int(retryAfter/2/c.perMessage)))
}

// timed folds one message's handling time into the moving average.
func (c *consumer) timed(d time.Duration) {
	if c.perMessage == 0 {
		c.perMessage = d
		return
	}
	c.perMessage = (c.perMessage*7 + d) / 8
}

func (c *consumer) stopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
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
	c := &consumer{name: fmt.Sprintf("%s-%s-%d", g.name, g.sb.instance, g.seq), stop: make(chan struct{})}
	g.alive[c.name] = c
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := g.run(c)
		g.mu.Lock()
		defer g.mu.Unlock()
		if !errors.Is(err, errCrashed) {
			return
		}
		g.crashed = append(g.crashed, c.name)
		if _, ok := g.alive[c.name]; ok && !g.closing {
			delete(g.alive, c.name)
			g.startLocked() // a supervisor restarts it under a new name
		}
	}()
}

// stop asks every consumer to finish the message in hand, ack what it
// finished and return; it waits for them.
func (g *group) stop() {
	g.mu.Lock()
	g.closing = true
	for name, c := range g.alive {
		close(c.stop)
		delete(g.alive, name)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *group) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.alive)
}

// run is one consumer: claim messages others left behind, else read new ones,
// and handle each batch. It returns on a graceful stop or a crash.
func (g *group) run(c *consumer) error {
	ctx := g.sb.ctx
	st := g.sb.store
	log := g.sb.log.With("group", g.name, "consumer", c.name)
	var lastClaim time.Time
	claimFrom := "0-0"
	pause := 50 * time.Millisecond
	for !c.stopping() && ctx.Err() == nil {
		s := g.sb.Settings()
		var batch []redis.XMessage
		var deliveries map[string]int64
		var err error
		if time.Since(lastClaim) >= claimEvery(s.RetryAfter) {
			var cl claimed
			cl, err = st.reclaim(ctx, g.name, c.name, s.RetryAfter, claimFrom, c.batchSize(g.sb.opt.BatchSize, s.RetryAfter))
			lastClaim = time.Now()
			if err == nil {
				claimFrom = cl.next
				if claimFrom == "" || claimFrom == "0-0" {
					claimFrom = "0-0"
				} else {
					lastClaim = time.Time{} // more to claim: come back at once
				}
				g.trimmed(cl.deleted)
				batch, deliveries = cl.msgs, cl.deliveries
				if len(batch) > 0 {
					g.sb.count.redeliveries.Add(int64(len(batch)))
					g.sb.metrics.redeliveries.WithLabelValues(g.name).Add(float64(len(batch)))
				}
				g.forgetCrashed(ctx)
			}
		}
		if err == nil && len(batch) == 0 {
			batch, err = st.read(ctx, g.name, c.name, c.batchSize(g.sb.opt.BatchSize, s.RetryAfter), g.sb.opt.Block)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				if err := st.ensureGroups(ctx, g.name); err != nil {
					log.Warn("recreate group", "err", err)
				}
			} else {
				log.Warn("read stream", "err", err)
			}
			if !sleep(ctx, c.stop, pause) {
				return nil
			}
			pause = min(pause*2, time.Second)
			continue
		}
		pause = 50 * time.Millisecond
		if err := g.handle(ctx, c, s, batch, deliveries); err != nil {
			if errors.Is(err, errCrashed) {
				g.sb.count.crashes.Add(1)
				g.sb.metrics.crashes.WithLabelValues(g.name).Inc()
				log.Debug("consumer crashed before acking")
				return err
			}
			log.Warn("handle batch", "err", err)
			if !sleep(ctx, c.stop, pause) {
				return nil
			}
		}
	}
	return nil
}

// claimEvery is how often a consumer looks for messages to take over.
func claimEvery(retryAfter time.Duration) time.Duration {
	return min(max(retryAfter/2, 10*time.Millisecond), time.Second)
}

// handle processes one batch in order and acks the finished messages with
// one MULTI/EXEC at the end. A graceful stop leaves the rest pending for
// another consumer; a crash leaves everything unacked.
func (g *group) handle(ctx context.Context, c *consumer, s Settings, batch []redis.XMessage, deliveries map[string]int64) error {
	if len(batch) == 0 {
		return nil
	}
	st := g.sb.store
	events := make([]Event, len(batch))
	bad := make([]error, len(batch))
	ids := make([]string, 0, len(batch))
	for i, m := range batch {
		events[i], bad[i] = decodeEvent(m.Values)
		if bad[i] == nil {
			ids = append(ids, events[i].ID)
		}
	}
	var done map[string]bool
	if s.Idempotency && len(ids) > 0 {
		seen, err := st.doneAlready(ctx, g.name, ids)
		if err != nil {
			return fmt.Errorf("check idempotency records: %w", err)
		}
		done = make(map[string]bool, len(ids))
		for i, id := range ids {
			done[id] = seen[i]
		}
	}
	var ackIDs, ackEvents []string
	received := time.Now()
	for i, m := range batch {
		if c.stopping() || ctx.Err() != nil {
			break
		}
		// Past half the retry time the rest of the batch may soon look
		// abandoned to other consumers: leave it pending rather than race them.
		if i > 0 && time.Since(received) > s.RetryAfter/2 {
			break
		}
		ev := events[i]
		if bad[i] != nil { // poison: park it with the reason, never block the group
			g.sb.count.poison.Add(1)
			g.sb.metrics.messages.WithLabelValues(g.name, "poison").Inc()
			if err := g.deadLetter(ctx, m, "", bad[i].Error(), max(deliveries[m.ID], 1)); err != nil {
				return err
			}
			continue
		}
		if only, _ := m.Values["only"].(string); only != "" && only != g.name {
			ackIDs = append(ackIDs, m.ID) // a replay meant for another group
			continue
		}
		if done[ev.ID] {
			g.sb.count.skipped.Add(1)
			g.sb.metrics.messages.WithLabelValues(g.name, "skipped").Inc()
			g.sb.trace.add(ev.TraceParent, g.name+" consumer", "already done; acknowledged without calling again")
			ackIDs, ackEvents = append(ackIDs, m.ID), append(ackEvents, ev.ID)
			continue
		}
		g.sb.trace.add(ev.TraceParent, g.name+" consumer", "received "+m.ID)
		req := effectRequest{UserID: ev.UserID, Email: ev.Email, RequestedAt: ev.RequestedAt}
		callStart := time.Now()
		_, err := g.down.call(ctx, s.Timeout, false, req, ev.ID, ev.TraceParent)
		c.timed(time.Since(callStart))
		if err != nil {
			g.sb.metrics.calls.WithLabelValues(g.name, "error").Inc()
			if ctx.Err() != nil {
				break
			}
			if err := g.failed(ctx, s, m, ev, deliveries[m.ID], err); err != nil {
				return err
			}
			continue
		}
		g.sb.metrics.calls.WithLabelValues(g.name, "ok").Inc()
		if s.CrashRate > 0 && rand.Float64() < s.CrashRate {
			g.sb.trace.add(ev.TraceParent, g.name+" consumer", "crashed after the effect, before acknowledging")
			return errCrashed
		}
		g.sb.count.processed.Add(1)
		g.sb.metrics.messages.WithLabelValues(g.name, "processed").Inc()
		ackIDs, ackEvents = append(ackIDs, m.ID), append(ackEvents, ev.ID)
	}
	// Acks must land even when the stop came mid-batch: the work is done.
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := st.ack(ackCtx, g.name, ackIDs, ackEvents); err != nil {
		return err
	}
	for i, m := range batch {
		if slices.Contains(ackIDs, m.ID) && bad[i] == nil {
			g.sb.trace.add(events[i].TraceParent, g.name+" consumer", "acknowledged")
		}
	}
	return nil
}

// failed leaves a message pending to be retried, or dead-letters it once it
// has been delivered as often as allowed.
func (g *group) failed(ctx context.Context, s Settings, m redis.XMessage, ev Event, delivered int64, cause error) error {
	if delivered < 1 {
		delivered = 1
	}
	g.sb.trace.add(ev.TraceParent, g.name+" consumer", "attempt "+fmt.Sprint(delivered)+" failed: "+cause.Error())
	if delivered >= int64(s.MaxDeliveries) {
		return g.deadLetter(ctx, m, ev.ID, fmt.Sprintf("gave up after %d deliveries: %v", delivered, cause), delivered)
	}
	// Left unacknowledged, the message stays pending; after RetryAfter any
	// consumer of the group may claim it and try again.
	g.sb.count.retries.Add(1)
	g.sb.metrics.messages.WithLabelValues(g.name, "failed").Inc()
	return nil
}

func (g *group) deadLetter(ctx context.Context, m redis.XMessage, eventID, reason string, deliveries int64) error {
	if err := g.sb.store.deadLetter(ctx, g.name, m, eventID, reason, deliveries); err != nil {
		return err
	}
	g.sb.count.deadLettered.Add(1)
	g.sb.metrics.messages.WithLabelValues(g.name, "dead_lettered").Inc()
	g.sb.log.Debug("dead-lettered", "group", g.name, "entry", m.ID, "reason", reason)
	return nil
}

// trimmed counts pending entries found deleted from the stream: retention
// must never do this, so it is reported rather than silently acked.
func (g *group) trimmed(ids []string) {
	if len(ids) == 0 {
		return
	}
	g.sb.count.trimmed.Add(int64(len(ids)))
	g.sb.metrics.messages.WithLabelValues(g.name, "trimmed").Add(float64(len(ids)))
	g.sb.log.Error("pending entries were trimmed before processing", "group", g.name, "ids", ids)
}

// forgetCrashed removes crashed consumers that no longer hold messages, so
// the group's consumer list does not grow with every simulated crash.
func (g *group) forgetCrashed(ctx context.Context) {
	g.mu.Lock()
	names := g.crashed
	g.crashed = nil
	g.mu.Unlock()
	var keep []string
	for _, name := range names {
		if ok, err := g.sb.store.forgetConsumer(ctx, g.name, name); !ok || err != nil {
			keep = append(keep, name)
		}
	}
	if len(keep) > 0 {
		g.mu.Lock()
		g.crashed = append(g.crashed, keep...)
		g.mu.Unlock()
	}
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
