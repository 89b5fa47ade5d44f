// Package streamtest is the conformance suite of the lab's stream layer, in
// the spirit of Watermill's universal Pub/Sub tests: one set of cases that
// every backend the lab's consumers could run on must pass. The stream
// package runs it against the embedded and the real Redis; a future backend
// (another broker, or Redis reached another way) runs it from its own test
// with a Factory of its own.
//
// The cases check the delivery guarantees the lab teaches, not Redis
// details: at-least-once delivery after a crash, no acknowledgement of
// unfinished work, redelivery once a lease runs out, ordering within a
// consumer, one consumer group shared by two clients, reconnection after
// the server restarts, dead-lettering once the delivery budget is spent,
// and a backoff that still holds after a restart.
package streamtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// Backend is what the lab's consumers need of a stream (labs/consumer.go and
// labs/group.go call nothing else on their path): an outbox that stores a
// user and publishes its event in one step, consumer groups, reads of new
// entries, claims of retries that came due and of entries whose lease ran
// out, leases renewed while work goes on, the start of an attempt (which
// settles the previous message), acknowledgement together with the group's
// idempotency record, retries after a backoff, and dead letters. State
// reads the pending and waiting counts the lab shows.
//
// The value types (Delivery, ClaimArgs, Finished, Verdict, ...) are the
// stream package's: they describe the protocol, not Redis. *stream.Store
// implements Backend.
type Backend interface {
	CreateUser(ctx context.Context, u stream.User, idemKey string, ev *stream.Event) (stream.User, bool, error)
	EnsureGroups(ctx context.Context, groups ...string) error
	Read(ctx context.Context, group, consumer string, count int, block time.Duration) ([]stream.Delivery, error)
	Claim(ctx context.Context, a stream.ClaimArgs) (stream.Claimed, error)
	Renew(ctx context.Context, group, consumer string, ids []string) ([]string, error)
	Begin(ctx context.Context, group, consumer, id string, prev *stream.Finished) error
	Ack(ctx context.Context, group string, f stream.Finished) error
	Retry(ctx context.Context, group, consumer string, d stream.Delivery, due, failedAt time.Time) error
	DoneAlready(ctx context.Context, group string, eventIDs []string) ([]bool, error)
	DeadLetter(ctx context.Context, group, consumer string, d stream.Delivery, eventID string, v stream.Verdict) error
	DeadLetters(ctx context.Context, q stream.DeadQuery) ([]stream.DeadLetter, string, error)
	ReadState(ctx context.Context, groups []string) (stream.State, error)
}

var _ Backend = (*stream.Store)(nil)

// Target is one empty stream for one case.
type Target struct {
	// Open returns a client of the stream. Every call returns a new client
	// (its own connections, as a second process would have) on the same
	// data.
	Open func(t *testing.T) Backend
	// Restart stops the server behind the stream and starts it again with
	// its data, as a crash of a server that persists every write does; the
	// clients Open returned must reconnect by themselves. It is nil unless
	// the Factory was asked for a restartable target.
	Restart func(t *testing.T)
}

// Factory returns a fresh, empty Target for one case. restartable asks for
// a Target with Restart set: a server the case owns and may restart (a
// shared server must never be restarted). A factory that cannot restart its
// server calls t.Skip for restartable targets, and so does not conform.
type Factory func(t *testing.T, restartable bool) Target

// The groups the cases use, as the lab has them.
const (
	email     = "email"
	analytics = "analytics"
)

// lease is the lease the cases use: short, for quick cases, and well above
// a round trip so that a renewal never races it.
const lease = 300 * time.Millisecond

// Run runs every case of the suite, each in its own subtest on a fresh
// Target.
func Run(t *testing.T, f Factory) {
	cases := []struct {
		name        string
		restartable bool
		run         func(t *testing.T, tg Target)
	}{
		{"AtLeastOnceAfterACrash", false, atLeastOnceAfterACrash},
		{"NoAckOfUnfinishedWork", false, noAckOfUnfinishedWork},
		{"RedeliveryAfterTheLease", false, redeliveryAfterTheLease},
		{"OrderingWithinAConsumer", false, orderingWithinAConsumer},
		{"GroupSharedAcrossTwoClients", false, groupSharedAcrossTwoClients},
		{"DeadLetterAfterTheBudget", false, deadLetterAfterTheBudget},
		{"ReconnectAfterARestart", true, reconnectAfterARestart},
		{"BackoffHonouredAfterARestart", true, backoffHonouredAfterARestart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, f(t, c.restartable))
		})
	}
}

// open returns a client with both groups created.
func open(t *testing.T, tg Target) Backend {
	t.Helper()
	b := tg.Open(t)
	if err := b.EnsureGroups(ctx(t), email, analytics); err != nil {
		t.Fatalf("create the consumer groups: %v", err)
	}
	return b
}

// ctx is the context of a case's calls: it ends with the case. The clients'
// own timeouts bound each call, and go test's -timeout the whole suite.
func ctx(t *testing.T) context.Context { return t.Context() }

// publish signs up n users through the outbox, with event ids
// <prefix>0..<prefix>n-1, in order.
func publish(t *testing.T, b Backend, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		now := time.Now()
		u := stream.User{ID: fmt.Sprintf("u-%s%d", prefix, i), Email: fmt.Sprintf("%s%d@example.com", prefix, i),
			Name: "Conformance", Mode: "async", EventID: fmt.Sprintf("%s%d", prefix, i), CreatedAt: now}
		ev := stream.SignedUp(u, now, "")
		if _, created, err := b.CreateUser(ctx(t), u, "", &ev); err != nil || !created {
			t.Fatalf("publish %s: created %v, err %v", u.EventID, created, err)
		}
		ids[i] = u.EventID
	}
	return ids
}

// eventID decodes a delivery's event.
func eventID(t *testing.T, d stream.Delivery) string {
	t.Helper()
	ev, err := stream.Decode(d.Values)
	if err != nil {
		t.Fatalf("entry %s: %v", d.ID, err)
	}
	return ev.ID
}

// finish does a delivery's work the way a consumer does: Begin (settling
// nothing before it), then Ack with the idempotency record.
func finish(t *testing.T, b Backend, group, consumer string, d stream.Delivery) {
	t.Helper()
	if err := b.Begin(ctx(t), group, consumer, d.ID, nil); err != nil {
		t.Fatalf("begin %s: %v", d.ID, err)
	}
	if err := b.Ack(ctx(t), group, stream.Finished{ID: d.ID, EventID: eventID(t, d)}); err != nil {
		t.Fatalf("ack %s: %v", d.ID, err)
	}
}

// take is one consumer's look for work: what is the group's to take over
// (due retries, entries whose lease ran out), then new entries.
func take(t *testing.T, b Backend, group, consumer string, count int) []stream.Delivery {
	t.Helper()
	c, err := b.Claim(ctx(t), stream.ClaimArgs{Group: group, Consumer: consumer, Lease: lease, Count: count, Abandoned: true})
	if err != nil {
		t.Fatalf("claim for %s: %v", consumer, err)
	}
	if len(c.Deliveries) > 0 {
		return c.Deliveries
	}
	ds, err := b.Read(ctx(t), group, consumer, count, 0)
	if err != nil {
		t.Fatalf("read for %s: %v", consumer, err)
	}
	return ds
}

// drain lets consumer take and finish everything until every id is done,
// or fails after timeout; it returns how often each event was handed over.
func drain(t *testing.T, b Backend, group, consumer string, ids []string, timeout time.Duration) map[string][]stream.Delivery {
	t.Helper()
	got := map[string][]stream.Delivery{}
	deadline := time.Now().Add(timeout)
	for {
		done, err := b.DoneAlready(ctx(t), group, ids)
		if err != nil {
			t.Fatalf("read idempotency records: %v", err)
		}
		left := 0
		for _, d := range done {
			if !d {
				left++
			}
		}
		if left == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events still unfinished after %v", left, len(ids), timeout)
		}
		ds := take(t, b, group, consumer, 10)
		if len(ds) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		for _, d := range ds {
			got[eventID(t, d)] = append(got[eventID(t, d)], d)
			finish(t, b, group, consumer, d)
		}
	}
}

// pending reads a group's pending and waiting counts.
func pending(t *testing.T, b Backend, group string) (pend, waiting int64) {
	t.Helper()
	st, err := b.ReadState(ctx(t), []string{email, analytics})
	if err != nil {
		t.Fatalf("read stream state: %v", err)
	}
	for _, g := range st.Groups {
		if g.Name == group {
			return g.Pending, g.Waiting
		}
	}
	t.Fatalf("group %s is missing from the stream state", group)
	return 0, 0
}

func requirePendingEmpty(t *testing.T, b Backend, group string) {
	t.Helper()
	if p, w := pending(t, b, group); p != 0 || w != 0 {
		t.Fatalf("group %s: %d pending and %d waiting, want none", group, p, w)
	}
}

// A consumer that dies mid-batch loses nothing: what it finished stays
// finished, the entry it was working on comes back with the crash counted,
// and the entries it never got to come back without spending a delivery.
func atLeastOnceAfterACrash(t *testing.T, tg Target) {
	b := open(t, tg)
	ids := publish(t, b, "e", 20)
	batch, err := b.Read(ctx(t), email, "doomed", 10, 0)
	if err != nil || len(batch) != 10 {
		t.Fatalf("read a batch of 10: got %d, err %v", len(batch), err)
	}
	var prev *stream.Finished
	for _, d := range batch[:4] {
		if err := b.Begin(ctx(t), email, "doomed", d.ID, prev); err != nil {
			t.Fatalf("begin %s: %v", d.ID, err)
		}
		prev = &stream.Finished{ID: d.ID, EventID: eventID(t, d)}
	}
	// The consumer dies working on batch[3]: no ack, no renewal.
	heir := tg.Open(t) // another process
	got := drain(t, heir, email, "heir", ids, 15*time.Second)
	for i, id := range ids {
		ds := got[id]
		switch {
		case i < 3:
			if len(ds) != 0 {
				t.Errorf("%s was finished before the crash but handed over again (%d times)", id, len(ds))
			}
		case len(ds) != 1:
			t.Errorf("%s handed to the heir %d times, want once", id, len(ds))
		case i == 3:
			if ds[0].Kind != stream.KindCrashed || ds[0].Deliveries != 2 || ds[0].Crashes != 1 {
				t.Errorf("the entry the consumer died on: kind %s, deliveries %d, crashes %d; want crashed, 2, 1", ds[0].Kind, ds[0].Deliveries, ds[0].Crashes)
			}
		case i < 10:
			if ds[0].Kind != stream.KindAbandoned || ds[0].Deliveries != 1 {
				t.Errorf("%s, never tried: kind %s, deliveries %d; want abandoned, 1", id, ds[0].Kind, ds[0].Deliveries)
			}
		default:
			if ds[0].Kind != stream.KindNew {
				t.Errorf("%s, never delivered before: kind %s, want new", id, ds[0].Kind)
			}
		}
	}
	requirePendingEmpty(t, b, email)
}

// Only what a consumer finished is acknowledged: starting the next message
// settles the previous one, an entry in progress stays pending, an entry
// handed back untried stays pending (with its delivery given back), and a
// consumer whose lease was taken over learns it lost the entry.
func noAckOfUnfinishedWork(t *testing.T, tg Target) {
	b := open(t, tg)
	ids := publish(t, b, "n", 3)
	ds, err := b.Read(ctx(t), email, "c1", 3, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("read 3: got %d, err %v", len(ds), err)
	}
	if err := b.Begin(ctx(t), email, "c1", ds[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if p, _ := pending(t, b, email); p != 3 {
		t.Fatalf("pending after beginning the first: %d, want 3", p)
	}
	// The first is done; beginning the second settles it.
	if err := b.Begin(ctx(t), email, "c1", ds[1].ID, &stream.Finished{ID: ds[0].ID, EventID: ids[0]}); err != nil {
		t.Fatal(err)
	}
	done, err := b.DoneAlready(ctx(t), email, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !done[0] || done[1] || done[2] {
		t.Fatalf("idempotency records %v, want only the first finished", done)
	}
	if p, _ := pending(t, b, email); p != 2 {
		t.Fatalf("pending with the second in progress and the third untried: %d, want 2", p)
	}
	// A graceful stop hands the third back untried: still pending, due at
	// once, and its delivery given back.
	if err := b.Retry(ctx(t), email, "c1", ds[2], time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := pending(t, b, email); p != 2 {
		t.Fatalf("pending after handing one back: %d, want 2 (handing back is no ack)", p)
	}
	c, err := b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c2", Lease: time.Hour, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deliveries) != 1 || c.Deliveries[0].ID != ds[2].ID || c.Deliveries[0].Deliveries != 1 {
		t.Fatalf("claim after the hand-back: %+v; want the third entry, delivery 1", c.Deliveries)
	}
	finish(t, b, email, "c2", c.Deliveries[0])
	// c1 stops renewing the second; once its lease runs out c2 takes it,
	// and c1's next renewal says it is no longer c1's to ack.
	time.Sleep(lease + 50*time.Millisecond)
	c, err = b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c2", Lease: lease, Count: 10, Abandoned: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deliveries) != 1 || c.Deliveries[0].ID != ds[1].ID || c.Deliveries[0].Kind != stream.KindCrashed {
		t.Fatalf("claim after the lease: %+v; want the second entry, crashed", c.Deliveries)
	}
	lost, err := b.Renew(ctx(t), email, "c1", []string{ds[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || lost[0] != ds[1].ID {
		t.Fatalf("renew by the consumer that lost the entry: lost %v, want [%s]", lost, ds[1].ID)
	}
}

// An entry whose consumer keeps renewing its lease is never taken over,
// however long the work takes; once renewals stop it is taken over after
// the lease, not before.
func redeliveryAfterTheLease(t *testing.T, tg Target) {
	b := open(t, tg)
	publish(t, b, "r", 1)
	ds, err := b.Read(ctx(t), email, "slow", 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("read 1: got %d, err %v", len(ds), err)
	}
	other := tg.Open(t)
	claimAbandoned := func() []stream.Delivery {
		c, err := other.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "thief", Lease: lease, Count: 1, Abandoned: true})
		if err != nil {
			t.Fatal(err)
		}
		return c.Deliveries
	}
	// Work three leases long, renewed every third of the lease.
	for end := time.Now().Add(3 * lease); time.Now().Before(end); time.Sleep(lease / 3) {
		if lost, err := b.Renew(ctx(t), email, "slow", []string{ds[0].ID}); err != nil || len(lost) != 0 {
			t.Fatalf("renew: lost %v, err %v", lost, err)
		}
		if got := claimAbandoned(); len(got) != 0 {
			t.Fatalf("an entry whose lease is renewed was taken over: %+v", got)
		}
	}
	// The last renewal happens somewhere inside the Renew call, so the lease
	// runs from no earlier than just before it; Redis counts idle time in
	// whole milliseconds, so a claim may come up to a millisecond early.
	stopped := time.Now()
	if _, err := b.Renew(ctx(t), email, "slow", []string{ds[0].ID}); err != nil {
		t.Fatal(err)
	}
	var got []stream.Delivery
	for len(got) == 0 {
		if time.Since(stopped) > 10*lease {
			t.Fatalf("not taken over %v after renewals stopped (lease %v)", time.Since(stopped), lease)
		}
		time.Sleep(10 * time.Millisecond)
		got = claimAbandoned()
		if len(got) > 0 && time.Since(stopped) < lease-2*time.Millisecond {
			t.Fatalf("taken over %v after the last renewal, before the lease of %v ran out", time.Since(stopped), lease)
		}
	}
	if got[0].ID != ds[0].ID || got[0].Kind != stream.KindAbandoned || got[0].Deliveries != 1 {
		t.Fatalf("taken over: %+v; want the entry, abandoned, still delivery 1 (never tried)", got[0])
	}
}

// One consumer gets a group's new entries in the order they were
// published, batch after batch, and a claim hands over several entries in
// stream order.
func orderingWithinAConsumer(t *testing.T, tg Target) {
	b := open(t, tg)
	ids := publish(t, b, "o", 50)
	var seen []stream.Delivery
	for len(seen) < len(ids) {
		ds, err := b.Read(ctx(t), email, "c1", 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			t.Fatalf("read nothing after %d of %d entries", len(seen), len(ids))
		}
		seen = append(seen, ds...)
	}
	for i, d := range seen {
		if got := eventID(t, d); got != ids[i] {
			t.Fatalf("delivery %d is %s, want %s: a consumer sees entries in publish order", i, got, ids[i])
		}
		if i > 0 && stream.CompareIDs(seen[i-1].ID, d.ID) >= 0 {
			t.Fatalf("entry ids go backwards: %s then %s", seen[i-1].ID, d.ID)
		}
	}
	// Hand back five in reverse; a claim returns them oldest first.
	for i := 9; i >= 5; i-- {
		if err := b.Retry(ctx(t), email, "c1", seen[i], time.Now(), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c2", Lease: time.Hour, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deliveries) != 5 {
		t.Fatalf("claimed %d, want the 5 handed back", len(c.Deliveries))
	}
	// Due retries come by due time; equal due times are not ordered by
	// Redis, so only check the claim took exactly the five, then that a
	// stream-order scan (a restarted consumer's own entries) is ordered.
	want := map[string]bool{}
	for _, d := range seen[5:10] {
		want[d.ID] = true
	}
	for _, d := range c.Deliveries {
		if !want[d.ID] {
			t.Fatalf("claimed %s, which was not handed back", d.ID)
		}
	}
	own, err := b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c1", Lease: time.Hour, Count: 100, Own: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Deliveries) != 45 {
		t.Fatalf("a restarted c1 takes back %d of its own entries, want 45", len(own.Deliveries))
	}
	for i := 1; i < len(own.Deliveries); i++ {
		if stream.CompareIDs(own.Deliveries[i-1].ID, own.Deliveries[i].ID) >= 0 {
			t.Fatalf("own entries out of order: %s then %s", own.Deliveries[i-1].ID, own.Deliveries[i].ID)
		}
	}
}

// Two clients (two processes) with two consumers each share one consumer
// group: every entry goes to exactly one consumer, both clients get work,
// and every group sees every entry.
func groupSharedAcrossTwoClients(t *testing.T, tg Target) {
	clients := []Backend{open(t, tg), tg.Open(t)}
	ids := publish(t, clients[0], "s", 200)
	for _, group := range []string{email, analytics} {
		var mu sync.Mutex
		byEvent := map[string][]string{} // event id -> consumers that got it
		perClient := make([]int, len(clients))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for ci, b := range clients {
			for k := range 2 {
				name := fmt.Sprintf("client%d-c%d", ci, k)
				wg.Go(func() {
					for empty := 0; empty < 5; {
						ds, err := b.Read(ctx(t), group, name, 5, 0)
						if err != nil {
							errs <- fmt.Errorf("%s read: %w", name, err)
							return
						}
						if len(ds) == 0 {
							empty++
							time.Sleep(10 * time.Millisecond)
							continue
						}
						empty = 0
						for _, d := range ds {
							ev, err := stream.Decode(d.Values)
							if err != nil {
								errs <- err
								return
							}
							if err := b.Ack(ctx(t), group, stream.Finished{ID: d.ID, EventID: ev.ID}); err != nil {
								errs <- fmt.Errorf("%s ack: %w", name, err)
								return
							}
							mu.Lock()
							byEvent[ev.ID] = append(byEvent[ev.ID], name)
							perClient[ci]++
							mu.Unlock()
						}
						time.Sleep(time.Millisecond) // let the other client in
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, id := range ids {
			if len(byEvent[id]) != 1 {
				t.Errorf("group %s: %s went to %v, want exactly one consumer", group, id, byEvent[id])
			}
		}
		if len(byEvent) != len(ids) {
			t.Errorf("group %s handled %d events, want %d", group, len(byEvent), len(ids))
		}
		for ci, n := range perClient {
			if n == 0 {
				t.Errorf("group %s: client %d got no work; the group is not shared", group, ci)
			}
		}
		requirePendingEmpty(t, clients[1], group)
		t.Logf("group %s: client 0 handled %d, client 1 %d", group, perClient[0], perClient[1])
	}
}

// A budget of three deliveries: failed attempts spend it, the claim after
// the last says the entry is over (never a fourth delivery), and the dead
// letter keeps its reason. Consumers crashing on an entry spend it too.
func deadLetterAfterTheBudget(t *testing.T, tg Target) {
	const budget = 3
	b := open(t, tg)
	ids := publish(t, b, "d", 2)
	ds, err := b.Read(ctx(t), email, "c1", 2, 0)
	if err != nil || len(ds) != 2 {
		t.Fatalf("read 2: got %d, err %v", len(ds), err)
	}
	failing, crashing := ds[0], ds[1]
	first := time.Now()
	for attempt := 1; ; attempt++ {
		if failing.Deliveries != int64(attempt) || failing.Over {
			t.Fatalf("attempt %d: deliveries %d, over %v", attempt, failing.Deliveries, failing.Over)
		}
		if err := b.Begin(ctx(t), email, "c1", failing.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Retry(ctx(t), email, "c1", failing, time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
		c, err := b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c1", Lease: time.Hour, Count: 1, MaxDeliveries: budget})
		if err != nil || len(c.Deliveries) != 1 {
			t.Fatalf("claim the retry after attempt %d: got %d, err %v", attempt, len(c.Deliveries), err)
		}
		failing = c.Deliveries[0]
		if failing.Deliveries > budget {
			t.Fatalf("delivery %d of an entry with a budget of %d", failing.Deliveries, budget)
		}
		if failing.Over {
			if attempt != budget {
				t.Fatalf("over after %d attempts, want %d", attempt, budget)
			}
			break
		}
	}
	if failing.FirstFailure.Before(first.Add(-time.Second)) || failing.FirstFailure.After(time.Now()) {
		t.Errorf("first failure %v, want about %v", failing.FirstFailure, first)
	}
	if err := b.DeadLetter(ctx(t), email, "c1", failing, ids[0], stream.Verdict{Code: stream.CodeGaveUp, Reason: "gave up after 3 tries"}); err != nil {
		t.Fatal(err)
	}

	// The other entry takes down a consumer every time it is tried.
	for crash := 1; ; crash++ {
		if err := b.Begin(ctx(t), email, fmt.Sprintf("victim%d", crash), crashing.ID, nil); err != nil {
			t.Fatal(err)
		}
		var c stream.Claimed
		for deadline := time.Now().Add(10 * lease); len(c.Deliveries) == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the entry crash %d left behind was never taken over", crash)
			}
			if c, err = b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: fmt.Sprintf("victim%d", crash+1),
				Lease: lease, Count: 1, MaxDeliveries: budget, Abandoned: true}); err != nil {
				t.Fatal(err)
			}
		}
		crashing = c.Deliveries[0]
		if crashing.Kind != stream.KindCrashed || crashing.Crashes != int64(crash) || crashing.Deliveries > budget {
			t.Fatalf("after crash %d: kind %s, crashes %d, deliveries %d", crash, crashing.Kind, crashing.Crashes, crashing.Deliveries)
		}
		if crashing.Over {
			if crash != budget {
				t.Fatalf("over after %d crashes, want %d", crash, budget)
			}
			break
		}
	}
	if err := b.DeadLetter(ctx(t), email, "victim4", crashing, ids[1], stream.Verdict{Code: stream.CodeCrashed, Reason: "crashed the consumer 3 times"}); err != nil {
		t.Fatal(err)
	}

	dead, _, err := b.DeadLetters(ctx(t), stream.DeadQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for _, dl := range dead {
		if dl.Reason == "" || dl.Code == "" || dl.Group != email || dl.Deliveries != budget || dl.Payload == "" {
			t.Errorf("dead letter %+v: want its code, reason, group, payload and %d deliveries", dl, budget)
		}
	}
	requirePendingEmpty(t, b, email)
}

// A client keeps working across a restart of the server: what was
// acknowledged before stays acknowledged, what was pending is recovered,
// and entries published after the restart are delivered.
func reconnectAfterARestart(t *testing.T, tg Target) {
	b := open(t, tg)
	before := publish(t, b, "b", 10)
	ds, err := b.Read(ctx(t), email, "c1", 5, 0)
	if err != nil || len(ds) != 5 {
		t.Fatalf("read 5: got %d, err %v", len(ds), err)
	}
	for _, d := range ds[:2] {
		finish(t, b, email, "c1", d)
	}
	if err := b.Begin(ctx(t), email, "c1", ds[2].ID, nil); err != nil {
		t.Fatal(err)
	}
	tg.Restart(t)
	// The same client: its first commands may meet dead connections.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := b.ReadState(ctx(t), []string{email, analytics})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect within 15 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := publish(t, b, "a", 10)
	all := append(append([]string(nil), before...), after...)
	got := drain(t, b, email, "c2", all, 15*time.Second)
	for _, id := range before[:2] {
		if len(got[id]) != 0 {
			t.Errorf("%s, acknowledged before the restart, was delivered again", id)
		}
	}
	if ds := got[before[2]]; len(ds) != 1 || ds[0].Kind != stream.KindCrashed {
		t.Errorf("the entry in progress at the restart: %+v; want it taken over once, crashed", ds)
	}
	for _, id := range all[3:] {
		if len(got[id]) != 1 {
			t.Errorf("%s delivered %d times after the restart, want once", id, len(got[id]))
		}
	}
	requirePendingEmpty(t, b, email)
}

// A retry waiting out its backoff is not handed out before it is due, even
// by a scan for abandoned entries with a tiny lease, and not even after the
// server restarted; once due it comes back with its count and its first
// failure.
func backoffHonouredAfterARestart(t *testing.T, tg Target) {
	b := open(t, tg)
	publish(t, b, "k", 1)
	ds, err := b.Read(ctx(t), email, "c1", 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("read 1: got %d, err %v", len(ds), err)
	}
	if err := b.Begin(ctx(t), email, "c1", ds[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	failed := time.Now()
	due := failed.Add(3 * time.Second)
	if err := b.Retry(ctx(t), email, "c1", ds[0], due, failed); err != nil {
		t.Fatal(err)
	}
	tg.Restart(t)
	var got []stream.Delivery
	for deadline := due.Add(10 * time.Second); len(got) == 0; time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the retry was never handed out (due %v ago)", time.Since(due))
		}
		c, err := b.Claim(ctx(t), stream.ClaimArgs{Group: email, Consumer: "c2", Lease: time.Millisecond, Count: 10, MaxDeliveries: 5, Abandoned: true})
		if err != nil {
			continue // reconnecting after the restart
		}
		// Due times are kept in whole milliseconds: up to one early is on time.
		if len(c.Deliveries) > 0 && time.Now().Before(due.Add(-2*time.Millisecond)) {
			t.Fatalf("handed out %v before its backoff ended", time.Until(due))
		}
		if len(c.Deliveries) == 0 && !c.NextDue.IsZero() && c.NextDue.Sub(due).Abs() > 2*time.Millisecond {
			t.Fatalf("next due %v, want %v", c.NextDue, due)
		}
		got = c.Deliveries
	}
	d := got[0]
	if len(got) != 1 || d.ID != ds[0].ID || d.Kind != stream.KindDue || d.Deliveries != 2 || d.FirstFailure.UnixMilli() != failed.UnixMilli() {
		t.Fatalf("after its backoff: %+v; want the entry, due, delivery 2, first failure %v", got, failed)
	}
	if late := time.Since(due); late > 5*time.Second {
		t.Errorf("handed out %v after it was due", late)
	}
}
