package labs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Room is a server's budget of signups in flight, shared by every lab load
// of the process: forty learners each asking for a concurrency of 200 must
// not open 8,000 requests (and as many Redis commands) at once on one small
// machine.
//
// A load takes all the slots its concurrency needs before it sends its first
// signup, and gives them back as soon as it stops sending (before the drain).
// It never runs with fewer than it asked for: a run at "concurrency 200" that
// quietly got 12 would report throughput and latency figures of a load the
// learner did not ask for. So the room's budget shows up as waiting (the
// result says how long, in RoomWaitS) or as a refusal (ErrRoomBusy), never as
// a different load. Waiters are served first come, first served.
type Room struct {
	mu    sync.Mutex
	size  int
	used  int
	queue []*roomWaiter
	// sampling counts the runs in progress, which read their stream's
	// state between timeline points (see sampleEvery).
	sampling atomic.Int64
}

type roomWaiter struct {
	n     int
	ready chan struct{} // closed when the slots were granted
}

// NewRoom returns a budget of size signups in flight (at least 1).
func NewRoom(size int) *Room { return &Room{size: max(size, 1)} }

// Size is the budget.
func (r *Room) Size() int { return r.size }

// InUse is how many slots loads hold now.
func (r *Room) InUse() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}

// ErrRoomBusy is what a RoomBusyError is: the room's budget of signups in
// flight cannot take a run's concurrency now.
var ErrRoomBusy = errors.New("the room is busy")

// RoomBusyError says how busy the room was.
type RoomBusyError struct {
	// Need is the run's concurrency; InUse the slots other loads held; Size
	// the budget; Waited how long the run waited before giving up.
	Need, InUse, Size int
	Waited            time.Duration
}

func (e *RoomBusyError) Error() string {
	msg := fmt.Sprintf("the room is busy: other learners' runs have %d of the %d signups this server runs at once in flight, and this run needs %d",
		e.InUse, e.Size, e.Need)
	if e.Waited > 0 {
		msg += fmt.Sprintf(" (waited %s)", roughly(e.Waited))
	}
	return msg
}

// Is makes errors.Is(err, ErrRoomBusy) true.
func (e *RoomBusyError) Is(target error) bool { return target == ErrRoomBusy }

// check refuses a concurrency the room could never hold.
func (r *Room) check(n int) error {
	if r != nil && n > r.size {
		return fieldErr("concurrency", "%d is more than the %d signups this server runs at once for the whole room", n, r.size)
	}
	return nil
}

// tryTake takes n slots now, or none: it fails when they are not free or
// others wait before it.
func (r *Room) tryTake(n int) (*roomSlots, error) {
	if err := r.check(n); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) > 0 || r.used+n > r.size {
		return nil, &RoomBusyError{Need: n, InUse: r.used, Size: r.size}
	}
	r.used += n
	return &roomSlots{r: r, n: n}, nil
}

// take waits for n slots until ctx ends.
func (r *Room) take(ctx context.Context, n int) (*roomSlots, error) {
	if err := r.check(n); err != nil {
		return nil, err
	}
	start := time.Now()
	r.mu.Lock()
	if len(r.queue) == 0 && r.used+n <= r.size {
		r.used += n
		r.mu.Unlock()
		return &roomSlots{r: r, n: n}, nil
	}
	w := &roomWaiter{n: n, ready: make(chan struct{})}
	r.queue = append(r.queue, w)
	r.mu.Unlock()
	select {
	case <-w.ready:
		return &roomSlots{r: r, n: n, waited: time.Since(start)}, nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give the slots back
		r.used -= n
	default:
		for i, q := range r.queue {
			if q == w {
				r.queue = append(r.queue[:i], r.queue[i+1:]...)
				break
			}
		}
	}
	r.grantLocked() // the one leaving may have held up smaller ones behind it
	return nil, &RoomBusyError{Need: n, InUse: r.used, Size: r.size, Waited: time.Since(start)}
}

// grantLocked hands free slots to the waiters at the head of the queue.
func (r *Room) grantLocked() {
	for len(r.queue) > 0 && r.used+r.queue[0].n <= r.size {
		w := r.queue[0]
		r.queue = r.queue[1:]
		r.used += w.n
		close(w.ready)
	}
}

// roomSlots are the slots one load holds; release gives them back (once).
type roomSlots struct {
	r      *Room
	n      int
	waited time.Duration
	once   sync.Once
}

// wait is how long the load waited for its slots (0 without a room).
func (s *roomSlots) wait() time.Duration {
	if s == nil {
		return 0
	}
	return s.waited
}

func (s *roomSlots) release() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.r.mu.Lock()
		defer s.r.mu.Unlock()
		s.r.used -= s.n
		s.r.grantLocked()
	})
}

// Runs in progress read their stream's state ten times a second while the
// room holds up to samplersAtFullRate of them; past that each reads less
// often, so that the room's sampling costs Redis no more than that many
// runs', down to once a second (each run's timeline point).
const (
	samplersAtFullRate = 30
	sampleFast         = 100 * time.Millisecond
)

// startSampling counts a run in progress until the returned function is
// called; a nil room counts nothing.
func (r *Room) startSampling() (stop func()) {
	if r == nil {
		return func() {}
	}
	r.sampling.Add(1)
	return func() { r.sampling.Add(-1) }
}

// sampleEvery is how long a run waits between two reads of its stream's
// state.
func (r *Room) sampleEvery() time.Duration {
	if r == nil {
		return sampleFast
	}
	n := r.sampling.Load()
	return min(time.Second, sampleFast*time.Duration(max(1, (n+samplersAtFullRate-1)/samplersAtFullRate)))
}
