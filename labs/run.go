package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Result is one run's outcome; its JSON is the `crossroads lab run --json`
// contract. Audit figures (emails, duplicates, analytics, lost) are the
// change in the sandbox's Redis records over the run, so they include the
// work of workers in other processes.
type Result struct {
	Mode             Mode      `json:"mode"`
	SignupsAttempted int64     `json:"signups_attempted"`
	SignupsSucceeded int64     `json:"signups_succeeded"`
	SignupsFailed    int64     `json:"signups_failed"`
	Latency          Quantiles `json:"latency_ms"`
	ThroughputPerS   float64   `json:"throughput_per_s"`
	DurationS        float64   `json:"duration_s"`
	EffectLatency    Quantiles `json:"effect_latency_ms"`
	EmailsSent       int64     `json:"emails_sent"`
	EmailDuplicates  int64     `json:"email_duplicates"`
	AnalyticsEvents  int64     `json:"analytics_events"`
	Retries          int64     `json:"retries"`
	Redeliveries     int64     `json:"redeliveries"`
	DLQSize          int64     `json:"dlq_size"`
	MaxConsumerLag   int64     `json:"max_consumer_lag"`
	Lost             int64     `json:"lost"`
	OrphanedUsers    int64     `json:"orphaned_users"`
	TrimmedPending   int64     `json:"trimmed_pending"`
	Crashes          int64     `json:"consumer_crashes"`
	Drained          bool      `json:"drained"`
	Started          time.Time `json:"started"`
	Settings         Settings  `json:"settings"`
	Load             LoadSpec  `json:"load"`
	Cancelled        bool      `json:"cancelled"`
}

// Run sends one bounded load to the signup API, waits for async work to drain,
// audits the result and adds it to the history. Only one load runs at a time
// (ErrBusy); cancelling ctx stops it early and the partial result is returned.
func (s *Sandbox) Run(ctx context.Context, spec LoadSpec) (Result, error) {
	if err := spec.Validate(); err != nil {
		return Result{}, err
	}
	if s.api == nil {
		return Result{}, fmt.Errorf("run a load: this sandbox is a worker without a signup API")
	}
	if !s.runMu.TryLock() {
		return Result{}, ErrBusy
	}
	defer s.runMu.Unlock()
	if s.closed || s.ctx.Err() != nil {
		return Result{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWithSandbox := context.AfterFunc(s.ctx, cancel)
	defer stopWithSandbox()
	if spec.DrainTimeout == 0 {
		spec.DrainTimeout = 30 * time.Second
	}
	settings := s.Settings()
	res := Result{Mode: settings.Mode, Started: time.Now().UTC(), Settings: settings, Load: spec}

	before, err := s.Totals(ctx)
	if err != nil {
		return res, err
	}
	base := s.count.copy()
	s.effectLatency.reset()
	s.signupLatency.reset()
	s.maxLag.Store(0)
	live := &liveRun{started: res.Started, target: spec.Signups}
	live.phase.Store("load")
	s.progress.Store(live)
	defer s.progress.Store(nil)

	if spec.RecoverAfter > 0 {
		t := time.AfterFunc(spec.RecoverAfter, func() {
			_, err := s.Update(func(st *Settings) {
				st.Email.Down, st.Email.Hang = false, false
				st.Analytics.Down, st.Analytics.Hang = false, false
			})
			if err != nil {
				s.log.Warn("recover services", "err", err)
			}
		})
		defer t.Stop()
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s.sample(sampleCtx)
	}()

	out := generate(ctx, s.httpc, s.SignupURL(), spec, newID("")[:6], &live.sent)
	res.Cancelled = ctx.Err() != nil
	live.phase.Store("drain")
	s.stats(ctx, true) // the backlog peaks as the load ends
	res.Drained = true // sync work is finished when its answer is
	if settings.Mode == ModeAsync || s.Settings().Mode == ModeAsync {
		res.Drained = s.drain(ctx, spec.DrainTimeout) == nil
	}
	stopSampling()
	<-sampled

	res.SignupsAttempted, res.SignupsSucceeded, res.SignupsFailed = out.attempted, out.succeeded, out.failed
	res.Latency = out.latency.quantiles()
	res.DurationS = round3(out.duration.Seconds())
	if res.DurationS > 0 {
		res.ThroughputPerS = round3(float64(out.succeeded) / out.duration.Seconds())
	}
	res.EffectLatency = s.effectLatency.quantiles()
	now := s.count.copy()
	res.Retries = now.Retries - base.Retries
	res.Redeliveries = now.Redeliveries - base.Redeliveries
	res.OrphanedUsers = now.Orphaned - base.Orphaned
	res.TrimmedPending = now.Trimmed - base.Trimmed
	res.Crashes = now.Crashes - base.Crashes
	res.MaxConsumerLag = s.maxLag.Load()

	auditCtx, cancelAudit := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelAudit()
	after, err := s.Totals(auditCtx)
	if err != nil {
		return res, err
	}
	res.EmailsSent = after.EmailsSent - before.EmailsSent
	res.EmailDuplicates = after.EmailDuplicates - before.EmailDuplicates
	res.AnalyticsEvents = after.AnalyticsEvents - before.AnalyticsEvents
	res.Lost = max(after.Lost-before.Lost, 0)
	if st, err := s.store.streamState(auditCtx); err == nil {
		res.DLQSize = st.Dead
	}
	s.histMu.Lock()
	s.history = append(s.history, res)
	if len(s.history) > s.opt.History {
		s.history = s.history[len(s.history)-s.opt.History:]
	}
	s.histMu.Unlock()
	return res, nil
}

// History returns the kept run results, oldest first.
func (s *Sandbox) History() []Result {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	return append([]Result(nil), s.history...)
}

// loading reports whether a load is in flight; a lab doing work is never idle.
func (s *Sandbox) loading() bool { return s.progress.Load() != nil }

// liveRun is the progress of the load in flight, read by Snapshot.
type liveRun struct {
	started time.Time
	target  int
	sent    atomic.Int64
	phase   atomic.Value // string
}

func (l *liveRun) progress() *RunProgress {
	return &RunProgress{Started: l.started, Target: l.target, Sent: l.sent.Load(), Phase: l.phase.Load().(string)}
}

// sample watches the stream while a load runs: it records the largest lag
// and trims what every group has finished with.
func (s *Sandbox) sample(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastTrim time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := s.stats(ctx, false)
		if err != nil {
			continue
		}
		if time.Since(lastTrim) >= time.Second {
			lastTrim = time.Now()
			if _, err := s.store.trim(ctx, st.Groups); err != nil && ctx.Err() == nil {
				s.log.Warn("trim stream", "err", err)
			}
		}
	}
}

// stats reads the stream state and, at most every lagEvery (or always when
// fresh is set), counts the lag of groups that are behind; in between it
// reuses the last count. Counting costs in proportion to the lag, so this
// keeps a 4-per-second snapshot poll cheap whatever the backlog.
func (s *Sandbox) stats(ctx context.Context, fresh bool) (StreamState, error) {
	st, err := s.store.streamState(ctx)
	if err != nil {
		return st, err
	}
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	if fresh || time.Since(s.lagAt) >= s.lagEvery {
		start := time.Now()
		if err := s.store.countLag(ctx, &st); err != nil {
			return st, err
		}
		cost := time.Since(start)
		s.lagAt = time.Now()
		s.lagEvery = max(250*time.Millisecond, 5*cost) // at most a fifth of the time
		s.lagLast = map[string]int64{}
		for _, g := range st.Groups {
			s.lagLast[g.Name] = g.Lag
			if g.Lag > s.maxLag.Load() {
				s.maxLag.Store(g.Lag)
			}
		}
		return st, nil
	}
	for i, g := range st.Groups {
		if st.behind(g) {
			st.Groups[i].Lag = max(s.lagLast[g.Name], 1)
		}
	}
	return st, nil
}

// Drain waits until every group has nothing pending and nothing undelivered,
// or until timeout.
func (s *Sandbox) Drain(ctx context.Context, timeout time.Duration) error {
	return s.drain(ctx, timeout)
}

func (s *Sandbox) drain(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := s.store.streamState(ctx) // no lag count needed: "behind" is O(1)
		if err == nil && len(st.Groups) > 0 {
			idle := true
			for _, g := range st.Groups {
				if g.Pending > 0 || st.behind(g) {
					idle = false
				}
			}
			if idle {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Trace sends one signup through the API and follows it until both effects
// happened (or wait ran out): request, storage, publish, each consumer's
// delivery, calls, retries and acks, in order.
func (s *Sandbox) Trace(ctx context.Context, email, name string, wait time.Duration) (Trace, error) {
	if s.api == nil {
		return Trace{}, fmt.Errorf("trace a signup: this sandbox is a worker without a signup API")
	}
	if err := checkDuration("wait", wait, 0, time.Minute); err != nil {
		return Trace{}, err
	}
	tp := newTraceParent()
	s.trace.begin(tp)
	tr := Trace{TraceParent: tp}
	body, _ := json.Marshal(signupBody{Email: email, Name: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.SignupURL(), bytes.NewReader(body))
	if err != nil {
		s.trace.end(tp)
		return tr, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", tp)
	resp, err := s.httpc.Do(req)
	if err != nil {
		s.trace.end(tp)
		return tr, fmt.Errorf("trace a signup: %w", err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	tr.Status = resp.StatusCode
	json.Unmarshal(raw, &tr.Reply)
	if resp.StatusCode/100 == 2 {
		deadline := time.Now().Add(wait)
		for !s.trace.complete(tp) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	tr.Complete = s.trace.complete(tp)
	tr.Steps = s.trace.end(tp)
	if resp.StatusCode == http.StatusBadRequest {
		return tr, &FieldError{Field: tr.Reply.Field, Reason: tr.Reply.Error}
	}
	return tr, nil
}
