package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// Live updates: while a load runs the page gets a snapshot every 250 ms,
// otherwise every second.
const (
	activeEvery = 250 * time.Millisecond
	idleEvery   = time.Second
)

// picture is the flow diagram's state, derived from a snapshot so the page
// and the script draw the same thing.
type picture struct {
	Mode      labs.Mode         `json:"mode"`
	Email     serviceState      `json:"email"`
	Analytics serviceState      `json:"analytics"`
	Stream    int64             `json:"stream"`
	Groups    []groupPicture    `json:"groups"`
	Retries   int64             `json:"retries"`
	Dead      int64             `json:"dead"`
	Breakers  map[string]string `json:"breakers"`
	// Breaker is whether sync calls go through circuit breakers.
	Breaker bool `json:"breaker"`
}

// BreakerLabel says how a service's circuit breaker stands, "" when the
// sync client uses none.
func (p picture) BreakerLabel(service string) string {
	if !p.Breaker {
		return ""
	}
	if st := p.Breakers[service]; st != "" {
		return "breaker " + st
	}
	return "breaker"
}

// serviceState is up, slow, flaky, hang or down, with a label: the page
// shows state by word and shape, not colour alone.
type serviceState struct {
	State string `json:"state"`
	Label string `json:"label"`
}

type groupPicture struct {
	Name      string `json:"name"`
	Consumers int64  `json:"consumers"`
	Pending   int64  `json:"pending"`
	Lag       int64  `json:"lag"`
}

func serviceOf(f labs.Faults) serviceState {
	switch {
	case f.Down:
		return serviceState{"down", "down"}
	case f.Hang:
		return serviceState{"hang", "hangs"}
	case f.ErrorRate > 0:
		return serviceState{"flaky", fmt.Sprintf("%.0f%% errors", f.ErrorRate*100)}
	case f.Latency >= 100*time.Millisecond:
		return serviceState{"slow", fmt.Sprintf("slow · %d ms", f.Latency.Milliseconds())}
	}
	return serviceState{"up", "up"}
}

func newPicture(snap labs.Snapshot, _ int) picture {
	p := picture{
		Mode: snap.Settings.Mode, Email: serviceOf(snap.Settings.Email), Analytics: serviceOf(snap.Settings.Analytics),
		Stream: snap.StreamLength, Retries: snap.Counters.Retries, Dead: snap.DeadLetters, Breakers: snap.Breakers,
		Breaker: snap.Settings.Breaker,
	}
	for _, name := range labs.Groups {
		gp := groupPicture{Name: name}
		for _, g := range snap.Groups {
			if g.Name == name {
				gp = groupPicture{Name: name, Consumers: max(g.Consumers, int64(g.ConsumersHere)), Pending: g.Pending, Lag: g.Lag}
			}
		}
		p.Groups = append(p.Groups, gp)
	}
	return p
}

// labEvent is one live update.
type labEvent struct {
	At       int64          `json:"at"` // unix ms
	Snapshot labs.Snapshot  `json:"snapshot"`
	Status   labs.RunStatus `json:"status"`
	Picture  picture        `json:"picture"`
	// Reached lists the scenarios whose goal the run history meets.
	Reached []string `json:"reached"`
	// Runs is how many runs the history holds, so the page knows to refresh
	// its history and result panels.
	Runs int `json:"runs"`
}

func (s *Server) labEvent(ctx context.Context, l *labs.Lab, cache *goalCache) (labEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	snap, err := l.Snapshot(ctx)
	if err != nil {
		return labEvent{}, err
	}
	ev := labEvent{At: snap.At.UnixMilli(), Snapshot: snap, Status: l.Status(), Picture: newPicture(snap, 0)}
	history := l.History()
	ev.Runs = len(history)
	if cache != nil && cache.valid && cache.runs == len(history) && cache.replays == l.Replays() {
		ev.Reached = cache.reached
	} else {
		ev.Reached = []string{}
		for _, sc := range s.lab.scenarios {
			if sc.GoalReached(history, l.Replays()) {
				ev.Reached = append(ev.Reached, sc.ID)
			}
		}
		if cache != nil {
			*cache = goalCache{valid: true, runs: len(history), replays: l.Replays(), reached: ev.Reached}
		}
	}
	return ev, nil
}

// goalCache saves re-checking goals when the history did not change: the
// background goal check runs on every live update otherwise.
type goalCache struct {
	valid         bool
	runs, replays int
	reached       []string
}

// labEvents streams live updates over Server-Sent Events. Each learner may
// hold a few streams; each ends when the page goes away, the lab closes, the
// server shuts down, or after maxStreamLife (the browser then reconnects).
func (s *Server) labEvents(c *gin.Context) {
	l := labOf(c)
	release, ok := s.lab.acquireStream(LearnerID(c))
	if !ok {
		c.Header("Retry-After", "5")
		c.String(http.StatusTooManyRequests, "Too many live views of this lab are open; close one and try again.")
		return
	}
	defer release()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	w.Flush()

	ctx := c.Request.Context()
	life := time.NewTimer(s.lab.streamLife)
	defer life.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	var cache goalCache
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Closing():
			return
		case <-l.Done():
			fmt.Fprint(w, "event: closed\ndata: {}\n\n")
			w.Flush()
			return
		case <-life.C:
			return
		case <-next.C:
		}
		l.Touch()
		ev, err := s.labEvent(ctx, l, &cache)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("lab live update", "err", err)
			next.Reset(idleEvery)
			continue
		}
		b, err := json.Marshal(ev)
		if err != nil {
			s.log.Error("encode lab update", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "event: snap\ndata: %s\n\n", b); err != nil {
			return
		}
		w.Flush()
		if ev.Status.Running || ev.Snapshot.Run != nil {
			next.Reset(activeEvery)
		} else {
			next.Reset(idleEvery)
		}
	}
}
