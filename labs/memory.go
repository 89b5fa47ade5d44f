package labs

import (
	"runtime/debug"
	"sync"
	"time"
)

// A lab holds its data in Redis, which is this very process when the Redis
// is the embedded one: a room that resets its labs, or labs that expire,
// free hundreds of megabytes at once. Go would hand that memory back to the
// OS only after its next collection, and an idle server may run none for
// two minutes (the forced period), so a shared server would look as big as
// its busiest moment long after it. releaser asks for it back a moment after
// labs close, at most once per freeEvery.

const (
	freeAfter = time.Second      // gathers a burst of closes into one release
	freeEvery = 10 * time.Second // a release is a full collection: not more often
)

type releaser struct {
	mu      sync.Mutex
	pending *time.Timer
	last    time.Time
	stopped bool
}

// closed notes that labs were closed; their memory is released soon.
func (r *releaser) closed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil || r.stopped {
		return
	}
	wait := max(freeAfter, time.Until(r.last.Add(freeEvery)))
	r.pending = time.AfterFunc(wait, func() {
		debug.FreeOSMemory()
		r.mu.Lock()
		r.pending, r.last = nil, time.Now()
		r.mu.Unlock()
	})
}

// stop cancels a release not yet begun.
func (r *releaser) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.pending != nil && r.pending.Stop() {
		r.pending = nil
	}
}
