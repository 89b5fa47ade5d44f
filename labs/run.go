package labs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crossroads-learn/crossroads/labs/load"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// Result is one run's outcome; its JSON is the `crossroads lab run --json`
// contract. Every figure is this run's alone, whatever the sandbox held
// before: the audit figures come from the effect ledgers and each group's
// records for the users this run created (so they include the work of
// workers in other processes), the client figures from the load generator,
// and retries, redeliveries and crashes from this process's consumers
// handling this run's events.
type Result struct {
	// Run tags the run's signups and events.
	Run              string    `json:"run"`
	Mode             Mode      `json:"mode"`
	SignupsAttempted int64     `json:"signups_attempted"`
	SignupsSucceeded int64     `json:"signups_succeeded"`
	SignupsFailed    int64     `json:"signups_failed"`
	Latency          Quantiles `json:"latency_ms"`
	// ThroughputPerS is successful signups per second of load.
	ThroughputPerS float64 `json:"throughput_per_s"`
	DurationS      float64 `json:"duration_s"`
	// EffectLatency is from a signup request to its welcome email taking
	// effect (both modes).
	EffectLatency Quantiles `json:"effect_latency_ms"`
	// EmailsSent is how many of the run's users got their welcome email;
	// EmailDuplicates the emails beyond the first per user (must be 0).
	EmailsSent      int64 `json:"emails_sent"`
	EmailDuplicates int64 `json:"email_duplicates"`
	// EmailsForFailedSignups were sent although the signup reported
	// failure: a call that timed out can still take effect.
	EmailsForFailedSignups int64 `json:"emails_for_failed_signups"`
	AnalyticsEvents        int64 `json:"analytics_events"`
	// Retries are failed attempts scheduled to be tried again;
	// Redeliveries are messages handed to a consumer again (a due retry, or
	// taken from a consumer that crashed or stopped).
	Retries      int64 `json:"retries"`
	Redeliveries int64 `json:"redeliveries"`
	Crashes      int64 `json:"consumer_crashes"`
	// DeadLettered counts the run's messages a group gave up on (one per
	// group; poison included); DLQTotal is the sandbox's dead-letter stream
	// length after the run, every earlier run included.
	DeadLettered int64 `json:"dead_lettered"`
	DLQTotal     int64 `json:"dlq_total"`
	// Poison is how many unreadable messages the run added.
	Poison int64 `json:"poison"`
	// InFlight events of the run were neither done nor dead-lettered by
	// every group when the drain ended: still waiting, not lost.
	InFlight int64 `json:"in_flight"`
	// Lost users can never get their effects: stored in async mode with no
	// event on the stream (a naive dual write whose publish failed).
	Lost int64 `json:"lost"`
	// OrphanedUsers were stored for a signup that reported failure (both
	// modes).
	OrphanedUsers int64 `json:"orphaned_users"`
	// MaxConsumerLag and MaxPending are the largest undelivered and
	// unacknowledged counts of any group seen during the run.
	MaxConsumerLag int64 `json:"max_consumer_lag"`
	MaxPending     int64 `json:"max_pending"`
	// PausedS is how long each group was paused during the run, in seconds.
	PausedS map[string]float64 `json:"paused_s"`
	// DrainS is how long the consumers took to finish after the load (or
	// until the drain gave up).
	DrainS  float64 `json:"drain_s"`
	Drained bool    `json:"drained"`
	// RoomWaitS is how long the run waited for the room's budget of
	// signups in flight (Options.Room) before its load started; the load
	// then ran at its full concurrency, so its figures are its own and the
	// wait is in none of them.
	RoomWaitS float64 `json:"room_wait_s"`
	// DroppedUsers is how many users of earlier runs were dropped, with
	// their data, before this run to keep the sandbox within its storage
	// budget (Options.Storage).
	DroppedUsers int64     `json:"dropped_users"`
	Cancelled    bool      `json:"cancelled"`
	Started      time.Time `json:"started"`
	Settings     Settings  `json:"settings"`
	Load         LoadSpec  `json:"load"`
}

// defaultDrain is how long a run waits for its consumers when the load does
// not say: long enough for the default backoff's tail after a flaky service.
const defaultDrain = 2 * time.Minute

// Run sends one bounded load to the signup API, waits for async work to
// drain, audits the result and adds it to the history. Only one load runs at
// a time (ErrBusy); cancelling ctx stops it early and the partial result is
// returned. Before the load it enforces the storage budget (dropping the
// data of earlier runs, or *StorageError) and takes its concurrency from the
// room's budget, waiting up to Options.RoomWait (or *RoomBusyError).
func (s *Sandbox) Run(ctx context.Context, spec LoadSpec) (Result, error) {
	return s.run(ctx, spec, nil)
}

// run is Run with the room's slots already taken (held, nil for none); it
// gives them back whatever happens.
func (s *Sandbox) run(ctx context.Context, spec LoadSpec, held *roomSlots) (Result, error) {
	defer held.release()
	if err := spec.Validate(); err != nil {
		return Result{}, err
	}
	if err := s.opt.Room.check(spec.Concurrency); err != nil {
		return Result{}, err
	}
	if s.api == nil {
		return Result{}, fmt.Errorf("run a load: this sandbox is a worker without a signup API")
	}
	if !s.runs.mu.TryLock() {
		return Result{}, ErrBusy
	}
	defer s.runs.mu.Unlock()
	if s.runs.closed || s.ctx.Err() != nil {
		return Result{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWithSandbox := context.AfterFunc(s.ctx, cancel)
	defer stopWithSandbox()
	if spec.DrainTimeout == 0 {
		spec.DrainTimeout = defaultDrain
	}
	dropped, err := s.makeRoom(ctx, spec.Signups)
	if err != nil {
		return Result{}, err
	}
	slots := held
	if slots == nil && s.opt.Room != nil {
		wait, cancelWait := context.WithTimeout(ctx, s.opt.RoomWait)
		slots, err = s.opt.Room.take(wait, spec.Concurrency)
		cancelWait()
		if err != nil {
			return Result{}, err
		}
		defer slots.release()
	}
	settings := s.Settings()
	res := Result{Run: newID("r"), Mode: settings.Mode, Started: time.Now().UTC(), Settings: settings, Load: spec,
		RoomWaitS: round3(slots.wait().Seconds()), DroppedUsers: dropped}
	live := s.runs.start(res)
	defer s.runs.finish(res.Run)
	live.timeline.mark("run started")
	pausedBefore := s.pausedTimes()

	recovered := time.Now()
	recovering := make(chan struct{}) // closed once no recovery is pending
	if spec.RecoverAfter > 0 {
		recovered = recovered.Add(spec.RecoverAfter)
		t := time.AfterFunc(spec.RecoverAfter, func() {
			s.recoverServices() // marked on the timeline as a settings change
			close(recovering)
		})
		defer t.Stop()
	} else {
		close(recovering)
	}
	for range spec.Poison {
		if _, err := s.store.AddPoison(ctx, res.Run); err != nil {
			return res, fmt.Errorf("inject poison message: %w", err)
		}
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s.sample(sampleCtx, live)
	}()

	out := load.Generate(ctx, s.client.HTTP(), s.SignupURL(), load.Plan{
		Signups: spec.Signups, Concurrency: spec.Concurrency, Rate: spec.Rate, Limit: orDefault(spec.Duration, MaxDuration),
		RequestTimeout: 2*MaxTimeout + 10*time.Second, Run: res.Run,
	}, &live.progress)
	slots.release() // the drain sends no signups: others may load meanwhile
	res.Cancelled = ctx.Err() != nil
	live.phase.Store("drain")
	live.timeline.mark("load ended")
	loadEnded := time.Now()
	s.streamStats(ctx, true) // the backlog peaks as the load ends
	// The drain timeout counts from when the load has ended and the services
	// are back, whichever is later. Sync work is finished when the services
	// have finished the calls they were given, answered or not.
	streamWork := settings.Mode == ModeAsync || s.Settings().Mode == ModeAsync || spec.Poison > 0
	res.Drained = s.drainUntil(ctx, later(loadEnded, recovered).Add(spec.DrainTimeout), streamWork, recovering) == nil
	res.DrainS = round3(time.Since(loadEnded).Seconds())
	stopSampling()
	<-sampled
	if st, err := s.streamStats(context.WithoutCancel(ctx), true); err == nil {
		live.timeline.close(live, st)
	}
	live.timeline.mark("run ended")
	live.timeline.finish()

	res.SignupsAttempted, res.SignupsSucceeded, res.SignupsFailed = out.Attempted, out.Succeeded, out.Failed
	res.Latency = out.Latency.Quantiles()
	res.DurationS = round3(out.Duration.Seconds())
	if res.DurationS > 0 {
		res.ThroughputPerS = round3(float64(out.Succeeded) / out.Duration.Seconds())
	}
	tally := live.tally
	res.EffectLatency = tally.effectLatency.Quantiles()
	res.Retries, res.Redeliveries, res.Crashes = tally.retries.Load(), tally.redeliveries.Load(), tally.crashes.Load()
	res.MaxConsumerLag, res.MaxPending = tally.maxLag.Load(), tally.maxPending.Load()
	res.PausedS = map[string]float64{}
	for name, d := range s.pausedTimes() {
		res.PausedS[name] = round3((d - pausedBefore[name]).Seconds())
	}

	auditCtx, cancelAudit := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelAudit()
	if err := s.audit(auditCtx, &res); err != nil {
		return res, err
	}
	if err := s.keepData(auditCtx); err != nil {
		s.log.Warn("after a run", "err", err)
	}
	s.runs.remember(res, s.opt.History)
	s.save(stateHistory, s.History())
	return res, nil
}

// audit fills in the figures Redis records for the run.
func (s *Sandbox) audit(ctx context.Context, res *Result) error {
	a, err := s.store.AuditRun(ctx, res.Run, Groups, Groups)
	if err != nil {
		return err
	}
	email := a.Effects[ServiceEmail]
	res.EmailsSent, res.EmailDuplicates, res.EmailsForFailedSignups = email.Users, email.Duplicates, email.ForFailed
	res.AnalyticsEvents = a.Effects[ServiceAnalytics].Users
	res.DeadLettered, res.Poison, res.InFlight, res.Lost, res.OrphanedUsers = a.DeadLettered, a.Poison, a.InFlight, a.Lost, a.Orphaned
	st, err := s.store.ReadState(ctx, Groups)
	if err != nil {
		return err
	}
	res.DLQTotal = st.Dead
	return nil
}

// recoverServices brings downed or hanging services back.
func (s *Sandbox) recoverServices() {
	_, err := s.Update(func(st *Settings) {
		st.Email.Down, st.Email.Hang = false, false
		st.Analytics.Down, st.Analytics.Hang = false, false
	})
	if err != nil {
		s.log.Warn("recover services", "err", err)
	}
}

func (s *Sandbox) pausedTimes() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, g := range s.groups {
		out[name] = g.paused.elapsed()
	}
	return out
}

// History returns the kept run results, oldest first.
func (s *Sandbox) History() []Result {
	s.runs.histMu.Lock()
	defer s.runs.histMu.Unlock()
	return append([]Result(nil), s.runs.history...)
}

// loading reports whether a load is in flight; a lab doing work is never idle.
func (s *Sandbox) loading() bool { return s.runs.live() != nil }

// sample watches the stream while a run goes on: it records the largest lag
// and pending counts, closes one timeline point a second, and trims what
// every group has finished with.
func (s *Sandbox) sample(ctx context.Context, live *liveRun) {
	defer s.opt.Room.startSampling()()
	next := time.Now().Add(time.Second)
	for {
		wait := s.opt.Room.sampleEvery()
		switch untilPoint := time.Until(next); {
		case untilPoint <= 0:
			// A late point (a busy machine) is closed a fast sample after
			// the last, not at once: each point is about a second.
			wait = min(wait, sampleFast)
		case untilPoint < wait:
			wait = untilPoint
		}
		if !sleep(ctx, nil, wait) {
			return
		}
		if time.Now().Before(next) {
			s.streamStats(ctx, false)
			continue
		}
		next = next.Add(time.Second)
		st, err := s.streamStats(ctx, true)
		if err != nil {
			continue
		}
		live.timeline.close(live, st)
		if _, err := s.store.Trim(ctx, st.Groups); err != nil && ctx.Err() == nil {
			s.log.Warn("trim stream", "err", err)
		}
	}
}

// Drain waits until every group has nothing pending and nothing
// undelivered and the services have finished every request they were given,
// or until timeout.
func (s *Sandbox) Drain(ctx context.Context, timeout time.Duration) error {
	return s.drainUntil(ctx, time.Now().Add(timeout), true, nil)
}

// errStuck ends a drain that cannot finish: the work left waits for a
// service that is down and will not come back by itself.
var errStuck = errors.New("drain: the work left waits for a service that is down")

// drainUntil waits for the work to finish, until deadline. Once recovered
// is closed (no recovery of downed services is pending) it stops early when
// everything left waits in groups paused in front of a service that is down
// or hanging: nothing will change until a learner brings it back.
func (s *Sandbox) drainUntil(ctx context.Context, deadline time.Time, streamWork bool, recovered <-chan struct{}) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		if s.email.InFlight() == 0 && s.analytics.InFlight() == 0 {
			if !streamWork {
				return nil
			}
			if open, err := s.unfinishedGroups(ctx); err == nil {
				if len(open) == 0 {
					return nil
				}
				if closed(recovered) && s.allStuck(open) {
					return errStuck
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// unfinishedGroups names the groups with something pending or undelivered;
// it needs no lag count ("behind" is one comparison).
func (s *Sandbox) unfinishedGroups(ctx context.Context) ([]string, error) {
	st, err := s.store.ReadState(ctx, Groups)
	if err != nil {
		return nil, err
	}
	if len(st.Groups) == 0 {
		return Groups, nil // not even created yet (or lost with a restart)
	}
	return st.Open(), nil
}

// allStuck reports whether every named group is paused in front of a
// service the settings keep down or hanging.
func (s *Sandbox) allStuck(groups []string) bool {
	settings := s.Settings()
	for _, name := range groups {
		g := s.groups[name]
		f := settings.faults(name)
		if g == nil || !g.paused.is() || !(f.Down || f.Hang) {
			return false
		}
	}
	return true
}

// runs is a sandbox's bookkeeping of loads: one at a time, the one in
// progress, the tallies of runs whose events consumers may still handle, and
// the history.
type runs struct {
	mu     sync.Mutex // held while a load runs
	closed bool       // guarded by mu
	cur    atomic.Pointer[liveRun]
	last   atomic.Pointer[timeline] // of the run in progress or the last one

	// Live latency histograms for the page, restarted by each run.
	signupLatency, effectLatency load.Histogram

	tallyMu sync.RWMutex
	tallies map[string]*runTally

	histMu  sync.Mutex
	history []Result
}

// liveRun is the progress of the run in flight.
type liveRun struct {
	started  time.Time
	target   int
	progress load.Progress
	phase    atomic.Value // string
	tally    *runTally
	timeline *timeline
	waiting  atomic.Pointer[PerGroup]
}

// runTally counts what this process did for one run's events.
type runTally struct {
	retries, redeliveries, crashes atomic.Int64
	dead, emails, analytics        atomic.Int64
	maxLag, maxPending             atomic.Int64
	effectLatency                  load.Histogram
}

// discard absorbs the counts of events that belong to no run in progress.
var discard = &runTally{}

func (r *runs) start(res Result) *liveRun {
	l := &liveRun{started: res.Started, target: res.Load.Signups, tally: &runTally{},
		timeline: &timeline{tl: Timeline{Run: res.Run, Started: res.Started}}}
	l.phase.Store("load")
	r.last.Store(l.timeline)
	r.tallyMu.Lock()
	if r.tallies == nil {
		r.tallies = map[string]*runTally{}
	}
	r.tallies[res.Run] = l.tally
	r.tallyMu.Unlock()
	r.signupLatency.Reset()
	r.effectLatency.Reset()
	r.cur.Store(l)
	return l
}

func (r *runs) finish(run string) {
	r.cur.Store(nil)
	r.tallyMu.Lock()
	delete(r.tallies, run)
	r.tallyMu.Unlock()
}

// tally returns run's tally, or one that counts into the void.
func (r *runs) tally(run string) *runTally {
	r.tallyMu.RLock()
	defer r.tallyMu.RUnlock()
	if t := r.tallies[run]; t != nil {
		return t
	}
	return discard
}

// observeStream notes the stream's lag and pending counts for the run in
// progress.
func (r *runs) observeStream(st stream.State) {
	l := r.cur.Load()
	if l == nil {
		return
	}
	var waiting PerGroup
	for _, g := range st.Groups {
		raise(&l.tally.maxLag, g.Lag)
		raise(&l.tally.maxPending, g.Pending)
		waiting.set(g.Name, g.Pending+g.Lag)
	}
	l.waiting.Store(&waiting)
}

// mark adds a moment to the timeline of the run in progress, if any.
func (r *runs) mark(label string) {
	if l := r.cur.Load(); l != nil {
		l.timeline.mark(label)
	}
}

func (r *runs) timeline() *timeline { return r.last.Load() }

func raise(v *atomic.Int64, to int64) {
	for {
		old := v.Load()
		if to <= old || v.CompareAndSwap(old, to) {
			return
		}
	}
}

func (r *runs) live() *RunProgress {
	l := r.cur.Load()
	if l == nil {
		return nil
	}
	p := &RunProgress{Started: l.started, Target: l.target, Sent: l.progress.Sent.Load(), Phase: l.phase.Load().(string),
		Succeeded: l.progress.Succeeded.Load(), Failed: l.progress.Failed.Load(),
		Emails: l.tally.emails.Load(), Analytics: l.tally.analytics.Load(),
		Retries: l.tally.retries.Load(), DeadLettered: l.tally.dead.Load()}
	if w := l.waiting.Load(); w != nil {
		p.Waiting = *w
	}
	return p
}

func (r *runs) remember(res Result, keep int) {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	r.history = append(r.history, res)
	if len(r.history) > keep {
		r.history = r.history[len(r.history)-keep:]
	}
}

// close waits for a load in progress to end and refuses new ones.
func (r *runs) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// closed reports whether c is closed; a nil channel never is.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// orDefault returns d, or otherwise when d is zero.
func orDefault(d, otherwise time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return otherwise
}

func round3(v float64) float64 { return load.Round3(v) }
