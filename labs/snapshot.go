package labs

import (
	"context"
	"sync"
	"time"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// GroupStats describes one consumer group at one moment.
type GroupStats = stream.GroupStats

// GroupState is a consumer group as a snapshot shows it.
type GroupState struct {
	GroupStats
	// State is running, backing_off or paused (see GroupRunning...).
	State string `json:"state"`
	// PausedS is how long the group has been paused in all, in seconds.
	PausedS float64 `json:"paused_s"`
	// ConsumersHere run in this process (the rest belong to workers).
	ConsumersHere int `json:"consumers_here"`
}

// Snapshot is the state of a sandbox at one moment, cheap enough to poll a
// few times a second: in-process counters plus one pipelined Redis read.
type Snapshot struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Settings Settings  `json:"settings"`
	Counters Counters  `json:"counters"`
	// StreamLength is XLEN of the event stream (after retention trimming).
	StreamLength int64        `json:"stream_length"`
	DeadLetters  int64        `json:"dead_letters"`
	Groups       []GroupState `json:"groups"`
	// Breakers is the state of each sync circuit breaker (closed, open,
	// half-open).
	Breakers      map[string]string `json:"breakers"`
	SignupLatency Quantiles         `json:"signup_latency_ms"`
	EffectLatency Quantiles         `json:"effect_latency_ms"`
	// Run is the load in progress, or nil.
	Run *RunProgress `json:"run,omitempty"`
}

// Snapshot reads the current state.
func (s *Sandbox) Snapshot(ctx context.Context) (Snapshot, error) {
	if s.ctx.Err() != nil {
		return Snapshot{}, ErrClosed
	}
	snap := Snapshot{
		ID: s.id, At: time.Now().UTC(), Settings: s.Settings(), Counters: s.count.copy(),
		SignupLatency: s.runs.signupLatency.Quantiles(), EffectLatency: s.runs.effectLatency.Quantiles(),
		Breakers: map[string]string{},
	}
	if s.api != nil {
		snap.Breakers[ServiceEmail] = s.api.email.breaker.State().String()
		snap.Breakers[ServiceAnalytics] = s.api.analytics.breaker.State().String()
	}
	snap.Run = s.runs.live()
	st, err := s.streamStats(ctx, false)
	if err != nil {
		return snap, err
	}
	snap.StreamLength, snap.DeadLetters = st.Length, st.Dead
	for _, g := range st.Groups {
		gs := GroupState{GroupStats: g, State: GroupRunning}
		if local := s.groups[g.Name]; local != nil {
			gs.ConsumersHere = local.size()
			gs.State = local.state(g.Waiting)
			gs.PausedS = round3(local.paused.elapsed().Seconds())
		} else if g.Waiting > 0 {
			gs.State = GroupBackingOff
		}
		snap.Groups = append(snap.Groups, gs)
	}
	return snap, nil
}

// statsCache throttles lag counting, which costs in proportion to the lag:
// between counts a snapshot reuses the last one, so a 4-per-second poll stays
// cheap whatever the backlog.
type statsCache struct {
	mu    sync.Mutex
	at    time.Time
	every time.Duration
	last  map[string]int64
}

// streamStats reads the stream state and, at most every so often (or always
// when fresh is set), counts the lag of groups that are behind; in between it
// reuses the last count. It also notes the largest lag and pending count of
// the run in progress.
func (s *Sandbox) streamStats(ctx context.Context, fresh bool) (stream.State, error) {
	st, err := s.store.ReadState(ctx, Groups)
	if err != nil {
		return st, err
	}
	c := &s.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	if fresh || time.Since(c.at) >= c.every {
		start := time.Now()
		if err := s.store.CountLag(ctx, &st, MaxSignups); err != nil {
			return st, err
		}
		c.at = time.Now()
		c.every = max(time.Second, 5*time.Since(start)) // at most a fifth of the time
		c.last = map[string]int64{}
		for _, g := range st.Groups {
			c.last[g.Name] = g.Lag
		}
	} else {
		for i, g := range st.Groups {
			if st.Behind(g) && !g.LagFromRedis() {
				st.Groups[i].Lag = max(c.last[g.Name], 1)
			}
		}
	}
	s.runs.observeStream(st)
	return st, nil
}
