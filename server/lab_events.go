package server

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
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

// pictureFuncs place the picture's groups and services in either layout.
var pictureFuncs = template.FuncMap{
	"groupAt": func(g groupPicture, x, y int) any {
		return struct {
			G    groupPicture
			X, Y int
		}{g, x, y}
	},
	"serviceAt": func(p picture, name string, x, y, w int) any {
		s, title := p.Email, "Email"
		if name == labs.ServiceAnalytics {
			s, title = p.Analytics, "Analytics"
		}
		return struct {
			S            serviceState
			Name, Title  string
			Breaker      string
			X, Y, W, Mid int
		}{s, name, title, p.BreakerLabel(name), x, y, w, w / 2}
	},
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

// groupPicture is a consumer group as the picture shows it: its state in
// words, and its work not yet done (waiting) of which some waits out a
// backoff (retrying), never a lag of 0 while hundreds wait.
type groupPicture struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Label     string `json:"label"`
	Consumers int64  `json:"consumers"`
	Pending   int64  `json:"pending"`
	Lag       int64  `json:"lag"`
	Waiting   int64  `json:"waiting"`
	Retrying  int64  `json:"retrying"`
}

// groupLabels say a group's state in words.
var groupLabels = map[string]string{
	labs.GroupRunning: "running", labs.GroupBackingOff: "backing off", labs.GroupPaused: "paused: service failing",
}

func serviceOf(f labs.Faults) serviceState {
	switch {
	case f.Down:
		return serviceState{"down", "down"}
	case f.Hang:
		return serviceState{"hang", "hangs"}
	case f.ErrorRate > 0:
		return serviceState{"flaky", fmt.Sprintf("%.0f%% fail", f.ErrorRate*100)}
	case f.Latency >= 100*time.Millisecond:
		return serviceState{"slow", "slow " + shortDuration(f.Latency)}
	}
	return serviceState{"up", "up"}
}

// shortDuration fits a picture's label: "800ms", "1.5s".
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), ".0") + "s"
}

func newPicture(snap labs.Snapshot, _ int) picture {
	p := picture{
		Mode: snap.Settings.Mode, Email: serviceOf(snap.Settings.Email), Analytics: serviceOf(snap.Settings.Analytics),
		Stream: snap.StreamLength, Retries: snap.Counters.Retries, Dead: snap.DeadLetters, Breakers: snap.Breakers,
		Breaker: snap.Settings.Breaker,
	}
	for _, name := range labs.Groups {
		gp := groupPicture{Name: name, State: labs.GroupRunning}
		for _, g := range snap.Groups {
			if g.Name == name {
				gp = groupPicture{Name: name, State: g.State, Consumers: max(g.Consumers, int64(g.ConsumersHere)),
					Pending: g.Pending, Lag: g.Lag, Waiting: g.Pending + g.Lag, Retrying: g.Waiting}
			}
		}
		gp.Label = groupLabels[gp.State]
		p.Groups = append(p.Groups, gp)
	}
	return p
}

// Group returns the named group's picture.
func (p picture) Group(name string) groupPicture {
	for _, g := range p.Groups {
		if g.Name == name {
			return g
		}
	}
	return groupPicture{Name: name}
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
	// Flows are what happened since the last update, for the picture to
	// animate, and FlowRates how many signups (api) and messages (per group)
	// happened in the last second, so it can say what each dot stands for.
	Flows     []labs.Flow    `json:"flows"`
	FlowRates map[string]int `json:"flow_rates"`
	// Timeline holds the points and marks of the current (or last) run the
	// page does not have yet: all of them when the run changed.
	Timeline *labs.Timeline `json:"timeline,omitempty"`
	// Summary says in one line how the system is set up.
	Summary string `json:"summary"`
}

// maxFlowsPerUpdate bounds the flows one update carries.
const maxFlowsPerUpdate = 120

// liveCursor is what one live-update connection has already sent.
type liveCursor struct {
	flowSeq int64
	run     string
	lastT   float64
	done    bool
	goals   goalCache
}

// advance adds to ev the flows and timeline the connection has not sent.
func (cur *liveCursor) advance(l *labs.Lab, ev *labEvent) {
	ev.Flows, cur.flowSeq = l.Flows(cur.flowSeq, maxFlowsPerUpdate)
	ev.FlowRates = l.FlowRates()
	tl, ok := l.Timeline(-1)
	if !ok {
		return
	}
	if tl.Run != cur.run {
		cur.run, cur.lastT, cur.done = tl.Run, -1, false
	}
	if cur.done {
		return
	}
	if cur.lastT >= 0 {
		tl, _ = l.Timeline(cur.lastT)
	}
	for _, p := range tl.Points {
		cur.lastT = max(cur.lastT, p.T)
	}
	for _, m := range tl.Marks {
		cur.lastT = max(cur.lastT, m.T)
	}
	cur.done = tl.Done
	ev.Timeline = &tl
}

func (s *Server) labEvent(ctx context.Context, l *labs.Lab, cur *liveCursor) (labEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	snap, err := l.Snapshot(ctx)
	if err != nil {
		return labEvent{}, err
	}
	ev := labEvent{At: snap.At.UnixMilli(), Snapshot: snap, Status: l.Status(), Picture: newPicture(snap, 0), Summary: summarizeSettings(snap.Settings)}
	history := l.History()
	ev.Runs = len(history)
	if cur == nil {
		cur = &liveCursor{}
	}
	cache := &cur.goals
	if cache.valid && cache.runs == len(history) && cache.replays == l.Replays() {
		ev.Reached = cache.reached
	} else {
		ev.Reached = []string{}
		for _, sc := range s.lab.scenarios {
			if sc.GoalReached(history, l.Replays()) {
				ev.Reached = append(ev.Reached, sc.ID)
			}
		}
		*cache = goalCache{valid: true, runs: len(history), replays: l.Replays(), reached: ev.Reached}
	}
	cur.advance(l, &ev)
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
	w := openEventStream(c, 2*time.Second)

	ctx := c.Request.Context()
	life := time.NewTimer(s.lab.streamLife)
	defer life.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	// The first update starts from the flows happening now, not the ones the
	// page never saw; the timeline comes whole.
	_, seq := l.Flows(0, 0)
	cur := liveCursor{flowSeq: seq, lastT: -1}
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
		ev, err := s.labEvent(ctx, l, &cur)
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

// labTimeline answers the current (or last) run second by second, after
// second ?after (all of it when absent), for the charts.
func (s *Server) labTimeline(c *gin.Context) {
	l := labOf(c)
	after := -1.0
	if v := c.Query("after"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < -1 || math.IsNaN(f) || math.IsInf(f, 0) {
			s.labFail(c, http.StatusBadRequest, "after", "After: "+strconv.Quote(v)+" is not a number of seconds")
			return
		}
		after = f
	}
	tl, ok := l.Timeline(after)
	c.Header("Cache-Control", "no-store")
	if !ok {
		c.JSON(http.StatusOK, gin.H{"run": "", "points": []labs.Point{}, "marks": []labs.Mark{}, "done": true})
		return
	}
	c.JSON(http.StatusOK, tl)
}

// openEventStream answers with a server-sent event stream (never cached,
// never buffered by a proxy) and tells the browser how soon to reconnect
// when it ends.
func openEventStream(c *gin.Context, retry time.Duration) gin.ResponseWriter {
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", retry.Milliseconds())
	w.Flush()
	return w
}
