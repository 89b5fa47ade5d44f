package labs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lab is one learner's sandbox plus what a guided session needs around it:
// loads run in the background (so a page can watch them), the learner's
// predictions and hint levels per scenario, and how many dead letters they
// replayed. It is created by a Manager.
type Lab struct {
	*Sandbox
	owner   string
	address string // the client address it counts against ("" for none)

	mu        sync.Mutex
	used      time.Time
	touches   int // uses after the one that created the lab
	status    RunStatus
	cancelRun context.CancelFunc
	replays   int
	scenarios map[string]*ScenarioState
	// scenarioDone is the manager's OnScenarioDone, nil for none.
	scenarioDone *func(owner, scenario string, results []Result)

	runs      sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

// PlannedRun is one load of a background session: the settings to put in
// force first (nil keeps the current ones) and the load itself.
type PlannedRun struct {
	Label    string
	Settings *Settings
	Load     LoadSpec
}

// RunStatus is the background session in progress or last finished.
type RunStatus struct {
	Running bool `json:"running"`
	// Scenario is the guided scenario being run, "" for a free run.
	Scenario string   `json:"scenario,omitempty"`
	Label    string   `json:"label,omitempty"`
	Step     int      `json:"step"`
	Steps    int      `json:"steps"`
	Results  []Result `json:"-"`
	Err      string   `json:"error,omitempty"`
}

// ScenarioState is how far a learner got in one guided scenario.
type ScenarioState struct {
	// Prediction is the chosen option, -1 before the learner predicted.
	Prediction int
	// Hints is how many hints were revealed.
	Hints int
	// Results of the scenario's guided runs, once they finished.
	Results []Result
}

func newLab(sb *Sandbox, owner, address string) *Lab {
	return &Lab{Sandbox: sb, owner: owner, address: address, used: time.Now(), scenarios: map[string]*ScenarioState{}, done: make(chan struct{})}
}

// Owner is who the lab belongs to.
func (l *Lab) Owner() string { return l.owner }

// Done is closed when the lab is closed (reset or expired).
func (l *Lab) Done() <-chan struct{} { return l.done }

func (l *Lab) touch() {
	l.mu.Lock()
	l.used = time.Now()
	l.touches++
	l.mu.Unlock()
}

// idleSince is when the lab was last used, and whether it was ever used
// after the visit that created it.
func (l *Lab) idleSince() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used, l.touches > 0
}

// Status returns the background session's state.
func (l *Lab) Status() RunStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.Results = append([]Result(nil), st.Results...)
	return st
}

// Start validates runs and works through them in the background, one after
// the other; ErrBusy when a session is already running. scenario names the
// guided scenario whose results these are ("" for a free run); a scenario's
// runs put their own settings in force, and the learner's come back after.
func (l *Lab) Start(scenario string, runs []PlannedRun) error {
	if len(runs) == 0 {
		return fieldErr("runs", "nothing to run")
	}
	for _, r := range runs {
		if r.Settings != nil {
			if err := r.Settings.Validate(); err != nil {
				return err
			}
		}
		if err := r.Load.Validate(); err != nil {
			return err
		}
		if err := l.opt.Room.check(r.Load.Concurrency); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return ErrClosed
	default:
	}
	if l.status.Running {
		return ErrBusy
	}
	// The first run's share of the room is taken now, or the learner is told
	// at once that the room is busy; later runs of a scenario wait for
	// theirs (Options.RoomWait).
	var held *roomSlots
	if l.opt.Room != nil {
		var err error
		if held, err = l.opt.Room.tryTake(runs[0].Load.Concurrency); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.cancelRun = cancel
	l.status = RunStatus{Running: true, Scenario: scenario, Steps: len(runs), Label: runs[0].Label}
	l.runs.Add(1)
	go l.session(ctx, cancel, scenario, runs, held)
	return nil
}

func (l *Lab) session(ctx context.Context, cancel context.CancelFunc, scenario string, runs []PlannedRun, held *roomSlots) {
	defer l.runs.Done()
	defer cancel()
	defer held.release() // when the first run never started
	var mine Settings
	if scenario != "" {
		// A guided scenario runs on its own settings; the learner's own come
		// back when it ends, however it ends, and before the status says it
		// ended (a run started then must not run on the scenario's).
		mine = l.Settings()
		l.save(stateOwn, mine) // what a takeover mid-scenario gives back
	}
	var results []Result
	var failure error
	for i, r := range runs {
		l.mu.Lock()
		l.status.Step, l.status.Label = i+1, r.Label
		l.mu.Unlock()
		if r.Settings != nil {
			if err := l.Apply(*r.Settings); err != nil {
				failure = err
				break
			}
		}
		res, err := l.run(ctx, r.Load, held)
		held = nil // the run gave them back
		if err != nil {
			failure = err
			break
		}
		results = append(results, res)
		l.mu.Lock()
		l.status.Results = append([]Result(nil), results...)
		l.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
	}
	if scenario != "" {
		if err := l.Apply(mine); err != nil && !errors.Is(err, ErrClosed) {
			l.log.Warn("restore settings after a scenario", "err", err)
		}
		l.forget(stateOwn)
	}
	finished := scenario != "" && failure == nil && len(results) == len(runs)
	l.mu.Lock()
	l.status.Running = false
	l.status.Results = results
	l.cancelRun = nil
	if failure != nil {
		l.status.Err = failure.Error()
		l.log.Warn("lab session", "err", failure)
	}
	if finished {
		l.scenarioLocked(scenario).Results = results
	}
	done := l.scenarioDone
	l.mu.Unlock()
	if finished {
		l.saveScenarios()
	}
	if finished && done != nil {
		(*done)(l.owner, scenario, append([]Result(nil), results...))
	}
}

// Cancel stops the background session early; its partial result is kept.
func (l *Lab) Cancel() {
	l.mu.Lock()
	if l.cancelRun != nil {
		l.cancelRun()
	}
	l.mu.Unlock()
}

// Replay replays one dead letter (see Sandbox.Replay) and counts it.
func (l *Lab) Replay(ctx context.Context, deadID string) (DeadLetter, error) {
	dl, err := l.Sandbox.Replay(ctx, deadID)
	if err == nil {
		l.mu.Lock()
		l.replays++
		n := l.replays
		l.mu.Unlock()
		l.save(stateReplays, n)
	}
	return dl, err
}

// ReplayAll replays every dead letter (up to 1,000) and returns how many went
// back on the stream. Letters another request replayed meanwhile are skipped.
func (l *Lab) ReplayAll(ctx context.Context) (int, error) {
	letters, err := l.DeadLetters(ctx, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, dl := range letters {
		if _, err := l.Replay(ctx, dl.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Replays is how many dead letters this lab replayed.
func (l *Lab) Replays() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.replays
}

// Scenario returns the learner's state in scenario id.
func (l *Lab) Scenario(id string) ScenarioState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := *l.scenarioLocked(id)
	st.Results = append([]Result(nil), st.Results...)
	return st
}

func (l *Lab) scenarioLocked(id string) *ScenarioState {
	st := l.scenarios[id]
	if st == nil {
		st = &ScenarioState{Prediction: -1}
		l.scenarios[id] = st
	}
	return st
}

// Predict records the learner's prediction for scenario id; predicting again
// replaces it and forgets the earlier guided results.
func (l *Lab) Predict(id string, option int) {
	l.mu.Lock()
	st := l.scenarioLocked(id)
	st.Prediction = option
	st.Results = nil
	l.mu.Unlock()
	l.saveScenarios()
}

// saveScenarios writes the learner's scenario answers to the lab's state.
func (l *Lab) saveScenarios() {
	l.mu.Lock()
	b, err := json.Marshal(l.scenarios)
	l.mu.Unlock()
	if err == nil {
		l.save(stateScenarios, json.RawMessage(b))
	}
}

// RevealHint reveals one more hint of scenario id, up to limit, and returns
// how many are revealed.
func (l *Lab) RevealHint(id string, limit int) int {
	l.mu.Lock()
	st := l.scenarioLocked(id)
	if st.Hints < limit {
		st.Hints++
	}
	n := st.Hints
	l.mu.Unlock()
	l.saveScenarios()
	return n
}

func (l *Lab) close() error { return l.closeContext(context.Background()) }

// closeContext closes the lab as close does, giving up when ctx ends (see
// Sandbox.CloseContext); Done is closed once the close has really ended.
func (l *Lab) closeContext(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.Cancel()
		go func() {
			<-l.Sandbox.closed
			l.runs.Wait()
			close(l.done)
		}()
	})
	if err := l.Sandbox.CloseContext(ctx); err != nil {
		return err
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close lab %s: gave up waiting for its run: %w", l.ID(), ctx.Err())
	}
}

// Touch marks the lab as in use, as a page watching it live does, so it
// does not expire while someone looks at it.
func (l *Lab) Touch() { l.touch() }
