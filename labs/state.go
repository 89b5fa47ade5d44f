package labs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// What a lab knows beyond its Redis data — its settings, the history of its
// runs, the learner's predictions and hints — is written to one hash
// (stream.LabKey) as it changes, so that when the app instance looking
// after a lab dies, another instance that takes it over (see lease.go)
// finds the lab as the learner left it, not a fresh one.

// State fields of stream.LabKey.
const (
	stateSettings  = "settings"  // Settings in force
	stateOwn       = "own"       // the learner's own Settings while a scenario runs on its own
	stateHistory   = "history"   // []Result, oldest first
	stateScenarios = "scenarios" // map[string]*ScenarioState
	stateReplays   = "replays"   // dead letters replayed
	stateOwner     = "owner"     // labOwner: whose lab it is, for adopt
)

// labOwner is whose lab a sandbox is, in which manager scope.
type labOwner struct {
	Owner string `json:"owner"`
	Scope string `json:"scope,omitempty"`
}

// savedState is what loadState read back.
type savedState struct {
	settings  *Settings
	history   []Result
	scenarios map[string]*ScenarioState
	replays   int
}

// save writes one field of the sandbox's state. A failure is logged, not
// returned: the lab goes on in this process, and only a takeover would
// find the field older than it is.
func (s *Sandbox) save(field string, v any) {
	if s.opt.Worker {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Warn("save lab state", "field", field, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 2*time.Second)
	defer cancel()
	if err := s.rc.HSet(ctx, stream.LabKey(s.id), field, b).Err(); err != nil {
		s.log.Warn("save lab state", "field", field, "err", err)
	}
}

// forget removes one field of the sandbox's state.
func (s *Sandbox) forget(field string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 2*time.Second)
	defer cancel()
	if err := s.rc.HDel(ctx, stream.LabKey(s.id), field).Err(); err != nil {
		s.log.Warn("save lab state", "field", field, "err", err)
	}
}

// loadState reads what sandbox id saved; fields it never wrote are zero. A
// field that no longer parses (written by another version) is skipped with
// a warning rather than refusing the lab.
func loadState(ctx context.Context, c redis.UniversalClient, id string, keep int) (savedState, error) {
	var st savedState
	m, err := c.HGetAll(ctx, stream.LabKey(id)).Result()
	if err != nil {
		return st, fmt.Errorf("read lab state of %s: %w", id, err)
	}
	parse := func(field string, v any) bool {
		raw, ok := m[field]
		if !ok {
			return false
		}
		if err := json.Unmarshal([]byte(raw), v); err != nil {
			return false
		}
		return true
	}
	var own, settings Settings
	switch {
	case parse(stateOwn, &own) && own.Validate() == nil:
		st.settings = &own
	case parse(stateSettings, &settings) && settings.Validate() == nil:
		st.settings = &settings
	}
	if keep <= 0 {
		keep = defaultHistory
	}
	if parse(stateHistory, &st.history) && len(st.history) > keep {
		st.history = st.history[len(st.history)-keep:]
	}
	parse(stateScenarios, &st.scenarios)
	st.replays, _ = strconv.Atoi(m[stateReplays])
	return st, nil
}
