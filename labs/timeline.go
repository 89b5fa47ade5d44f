package labs

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// PerGroup is one figure for each consumer group.
type PerGroup struct {
	Email     int64 `json:"email"`
	Analytics int64 `json:"analytics"`
}

func (p *PerGroup) set(group string, v int64) {
	if group == ServiceEmail {
		p.Email = v
	} else {
		p.Analytics = v
	}
}

// Point is one second of a run as the charts draw it: what happened in that
// second (not since the start), so the lines move with the system.
type Point struct {
	// T is the end of the second, in seconds since the run started.
	T float64 `json:"t"`
	// Accepted and Failed signups were answered in this second; Completed
	// welcome emails took effect in it.
	Accepted  int64 `json:"accepted"`
	Failed    int64 `json:"failed"`
	Completed int64 `json:"completed"`
	// Latency quantiles of the answers given in this second, ms (zero when
	// there were none).
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// Waiting is each group's work not yet done (pending plus not yet
	// delivered); Retrying the part of it waiting out a backoff.
	Waiting  PerGroup `json:"waiting"`
	Retrying PerGroup `json:"retrying"`
	// Dead is how many of the run's messages were dead-lettered so far.
	Dead int64 `json:"dead"`
}

// Mark is a moment worth a line on the charts: the run's start and end, a
// fault changed, a group paused or resumed.
type Mark struct {
	T     float64 `json:"t"`
	Label string  `json:"label"`
}

// Timeline is a run second by second. Points and marks only grow while the
// run goes on, so a page can ask for what came after what it has.
type Timeline struct {
	Run     string    `json:"run"`
	Started time.Time `json:"started"`
	Points  []Point   `json:"points"`
	Marks   []Mark    `json:"marks"`
	// Done is set once the run (its drain included) is over.
	Done bool `json:"done"`
}

// timeline records a run's seconds; the run's sampler adds points, anyone
// may add marks.
type timeline struct {
	mu sync.Mutex
	tl Timeline
	// counts at the end of the last point, to take differences
	accepted, failed, completed int64
}

func (t *timeline) mark(label string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tl.Marks = append(t.tl.Marks, Mark{T: round3(time.Since(t.tl.Started).Seconds()), Label: label})
}

// close ends the current second with the run's counts and the stream's
// state as they are now.
func (t *timeline) close(l *liveRun, st stream.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := l.progress.Window()
	accepted, failed, completed := l.progress.Succeeded.Load(), l.progress.Failed.Load(), l.tally.emails.Load()
	p := Point{
		T:        round3(time.Since(t.tl.Started).Seconds()),
		Accepted: accepted - t.accepted, Failed: failed - t.failed, Completed: completed - t.completed,
		P50: q.P50, P95: q.P95, P99: q.P99, Dead: l.tally.dead.Load(),
	}
	t.accepted, t.failed, t.completed = accepted, failed, completed
	for _, g := range st.Groups {
		p.Waiting.set(g.Name, g.Pending+g.Lag)
		p.Retrying.set(g.Name, g.Waiting)
	}
	t.tl.Points = append(t.tl.Points, p)
}

// since returns the timeline with only the points and marks after t.
func (t *timeline) since(after float64) Timeline {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.tl
	out.Points, out.Marks = nil, nil
	for _, p := range t.tl.Points {
		if p.T > after {
			out.Points = append(out.Points, p)
		}
	}
	for _, m := range t.tl.Marks {
		if m.T > after {
			out.Marks = append(out.Marks, m)
		}
	}
	return out
}

func (t *timeline) finish() {
	t.mu.Lock()
	t.tl.Done = true
	t.mu.Unlock()
}

// Timeline returns the run in progress, or else the last one, second by
// second: the points and marks after second after (-1 for all of them).
// ok is false when no run happened yet.
func (s *Sandbox) Timeline(after float64) (Timeline, bool) {
	t := s.runs.timeline()
	if t == nil {
		return Timeline{}, false
	}
	return t.since(after), true
}

// describeChange says in a few words what changed between two settings, for
// a mark on the charts ("email down", "email latency 800ms").
func describeChange(was, now Settings) string {
	var parts []string
	if was.Mode != now.Mode {
		parts = append(parts, string(now.Mode)+" mode")
	}
	for _, svc := range Groups {
		a, b := was.faults(svc), now.faults(svc)
		switch {
		case !a.Down && b.Down:
			parts = append(parts, svc+" down")
		case a.Down && !b.Down:
			parts = append(parts, svc+" back up")
		}
		switch {
		case !a.Hang && b.Hang:
			parts = append(parts, svc+" hangs")
		case a.Hang && !b.Hang:
			parts = append(parts, svc+" answers again")
		}
		if a.Latency != b.Latency {
			parts = append(parts, fmt.Sprintf("%s latency %v", svc, b.Latency))
		}
		if a.ErrorRate != b.ErrorRate {
			parts = append(parts, fmt.Sprintf("%s errors %.0f%%", svc, b.ErrorRate*100))
		}
	}
	if was.consumers(ServiceEmail) != now.consumers(ServiceEmail) || was.consumers(ServiceAnalytics) != now.consumers(ServiceAnalytics) {
		parts = append(parts, "consumers changed")
	}
	if len(parts) == 0 && was != now {
		parts = append(parts, "settings changed")
	}
	return strings.Join(parts, ", ")
}
