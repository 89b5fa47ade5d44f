package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Concurrent signups share round trips (outbox.go), but each must still get
// its own script's answer: created, taken or existing, never another's.
func TestConcurrentOutboxCallsEachGetTheirOwnAnswer(t *testing.T) {
	s := newStore(t)
	const n = 60
	var created, taken, existing atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Every third signup reuses an address, every fifth an
			// idempotency key, of signup 0.
			email, key := fmt.Sprintf("c%d@example.com", i), ""
			if i%3 == 0 {
				email = "c0@example.com"
			}
			if i%5 == 0 {
				key = "same-key"
			}
			u := User{ID: fmt.Sprintf("c%d", i), Email: email, Mode: "async", EventID: fmt.Sprintf("ce%d", i), CreatedAt: time.Now()}
			ev := SignedUp(u, time.Now(), "")
			got, ok, err := s.CreateUser(t.Context(), u, key, &ev)
			switch {
			case errors.Is(err, ErrEmailTaken):
				taken.Add(1)
			case err != nil:
				t.Errorf("signup %d: %v", i, err)
			case ok:
				created.Add(1)
				assert.Equal(t, u.ID, got.ID)
			default:
				existing.Add(1)
				assert.NotEqual(t, u.ID, got.ID, "an existing signup answers with the first user")
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(n), created.Load()+taken.Load()+existing.Load())
	length, err := s.c.XLen(t.Context(), EventsKey(s.sb)).Result()
	require.NoError(t, err)
	assert.Equal(t, created.Load(), length, "one event per user created, none for a refused signup")
	users, err := s.c.HLen(t.Context(), UsersKey(s.sb)).Result()
	require.NoError(t, err)
	assert.Equal(t, created.Load(), users)
}

// A signup whose caller gives up (its context ends) must not hold up the
// signups queued behind it, nor fail them.
func TestOutboxCallerThatGivesUpDoesNotStallOthers(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 40 {
		wg.Go(func() {
			ctx := t.Context()
			if i%4 == 0 {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			u := User{ID: fmt.Sprintf("g%d", i), Email: fmt.Sprintf("g%d@example.com", i), Mode: "async", EventID: fmt.Sprintf("ge%d", i)}
			ev := SignedUp(u, time.Now(), "")
			if _, created, err := s.CreateUser(ctx, u, "", &ev); err == nil && created {
				ok.Add(1)
			} else if i%4 != 0 {
				t.Errorf("signup %d with a live context: created=%v err=%v", i, created, err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("signups stalled behind a caller that gave up")
	}
	assert.GreaterOrEqual(t, ok.Load(), int64(30))
}

// AckAll writes a batch's idempotency records and acks its entries in one
// step.
func TestAckAllRecordsAndAcksABatch(t *testing.T) {
	s := newStore(t)
	for i := range 5 {
		signup(t, s, i, "")
	}
	ds, err := s.Read(t.Context(), group, "c1", 10, 0)
	require.NoError(t, err)
	require.Len(t, ds, 5)
	var fs []Finished
	var ids []string
	for _, d := range ds {
		ev, err := Decode(d.Values)
		require.NoError(t, err)
		fs = append(fs, Finished{ID: d.ID, EventID: ev.ID})
		ids = append(ids, ev.ID)
	}
	fs = append(fs, Finished{ID: "0-1"}) // an entry with no event of the group's
	require.NoError(t, s.AckAll(t.Context(), group, fs))
	require.NoError(t, s.AckAll(t.Context(), group, nil))
	seen, err := s.DoneAlready(t.Context(), group, ids)
	require.NoError(t, err)
	assert.Equal(t, []bool{true, true, true, true, true}, seen)
	p, err := s.c.XPending(t.Context(), EventsKey(s.sb), group).Result()
	require.NoError(t, err)
	assert.Zero(t, p.Count, "every entry of the batch is acknowledged")
}

// One call of the script carries a whole batch; a signup that Redis refuses
// (here its idempotency key holds a value of the wrong type) gets the error,
// and the others of its batch are written and answered as if alone.
func TestOutboxBatchIsolatesOneSignupsError(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	require.NoError(t, s.c.HSet(ctx, IdemKey(s.sb, "broken"), "f", "v").Err())
	var batch []*outboxCall
	for i, key := range []string{"", "broken", "fine", ""} {
		u := User{ID: fmt.Sprintf("b%d", i), Email: fmt.Sprintf("b%d@example.com", i), Mode: "async", EventID: fmt.Sprintf("be%d", i), CreatedAt: time.Now()}
		if i == 3 {
			u.Email = "B0@example.com" // the address of signup 0
		}
		ev := SignedUp(u, time.Now(), "")
		keys, args, err := s.createInput(u, key, &ev)
		require.NoError(t, err)
		batch = append(batch, &outboxCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{})})
	}
	flush(s.c, batch)
	assert.Equal(t, []string{"created", "b0"}, batch[0].res)
	require.Error(t, batch[1].err)
	assert.Contains(t, batch[1].err.Error(), "WRONGTYPE")
	assert.Equal(t, []string{"created", "b2"}, batch[2].res)
	assert.Equal(t, []string{"taken", ""}, batch[3].res)
	n, err := s.c.XLen(ctx, EventsKey(s.sb)).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 2, n, "one event for each user created")
	_, err = s.User(ctx, "b1")
	assert.Error(t, err, "the refused signup wrote no user")
}
