package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/crossroads-learn/crossroads/workshops"
)

// wsHub fans the workshops' change notices out to this process's open
// boards and participant bars. It holds one Redis subscription (a pattern
// over every workshop) while anyone listens and closes it when the last
// listener leaves, so a room of 300 costs one Redis connection per instance,
// and a notice published by any instance reaches every one.
type wsHub struct {
	store *workshops.Store
	// act is told of every notice, for what an instance does itself (stop
	// or reset its sandboxes); it runs on a goroutine of its own.
	act func(code, notice string)

	mu     sync.Mutex
	subs   map[string]map[chan string]struct{} // code → listeners
	n      int
	cancel context.CancelFunc // stops the running subscription
	done   chan struct{}      // closed when it has stopped
}

func newWSHub(store *workshops.Store, act func(code, notice string)) *wsHub {
	return &wsHub{store: store, act: act, subs: map[string]map[chan string]struct{}{}}
}

// listen returns a channel of notices about workshop code (the payloads of
// workshops.Store.Subscribe; one waiting at most, as they only say
// "something changed") and a function to stop listening.
func (h *wsHub) listen(code string) (<-chan string, func()) {
	ch := make(chan string, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[code] == nil {
		h.subs[code] = map[chan string]struct{}{}
	}
	h.subs[code][ch] = struct{}{}
	h.n++
	if h.cancel == nil {
		h.start()
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.subs[code], ch)
			if len(h.subs[code]) == 0 {
				delete(h.subs, code)
			}
			if h.n--; h.n == 0 && h.cancel != nil {
				h.cancel()
				h.cancel = nil
			}
		})
	}
}

// start subscribes and relays until cancelled (under h.mu). A subscription
// cancelled a moment ago may still be letting go; both relaying the same
// notice for that moment does no harm.
func (h *wsHub) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan struct{})
	h.done = done
	ps := h.store.SubscribeAll(ctx)
	go func() {
		defer close(done)
		defer ps.Close()
		msgs := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				code, ok := workshops.EventCode(m.Channel)
				if !ok {
					continue
				}
				if h.act != nil && (m.Payload == workshops.NoticePaused || m.Payload == workshops.NoticeResetLabs ||
					strings.HasPrefix(m.Payload, workshops.NoticeRoomRun+" ")) {
					go h.act(code, m.Payload)
				}
				h.mu.Lock()
				for ch := range h.subs[code] {
					select {
					case ch <- m.Payload:
					default: // one notice waits already: the listener will look anyway
					}
				}
				h.mu.Unlock()
			}
		}
	}()
}

// close stops the subscription, if any, and waits for it.
func (h *wsHub) close() {
	h.mu.Lock()
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
	done := h.done
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

// streamSlots bounds the live views of workshops this process holds open:
// in all, and per learner (a participant with a few tabs, a facilitator with
// the board on a projector and a laptop).
type streamSlots struct {
	max, perLearner int
	life            time.Duration

	mu  sync.Mutex
	n   int
	per map[string]int
}

// Workshop live views: a room of 300 with a tab or two each fits.
const (
	maxWorkshopStreams    = 1000
	maxStreamsPerLearnerW = 4
)

func newStreamSlots() *streamSlots {
	return &streamSlots{max: maxWorkshopStreams, perLearner: maxStreamsPerLearnerW, life: maxStreamLife, per: map[string]int{}}
}

func (s *streamSlots) acquire(learner string) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.max || s.per[learner] >= s.perLearner {
		return nil, false
	}
	s.n++
	s.per[learner]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.n--
			if s.per[learner]--; s.per[learner] <= 0 {
				delete(s.per, learner)
			}
		})
	}, true
}
