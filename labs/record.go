package labs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recording is a scenario's guided runs as they really ran once: the figures
// chapters and scenario texts cite, each with the command line that repeats
// it and the machine it ran on. `crossroads lab record` writes one per
// scenario to content/labs/results/<id>.json.
type Recording struct {
	Scenario string    `json:"scenario"`
	Title    string    `json:"title"`
	Recorded time.Time `json:"recorded"`
	// Redis says which Redis ran it (embedded, or a real server's version).
	Redis string        `json:"redis"`
	Go    string        `json:"go"`
	CPUs  int           `json:"cpus"`
	Runs  []RecordedRun `json:"runs"`
	// MaxSignups is set when the runs were capped for a quick check; such a
	// recording is never quoted.
	MaxSignups int `json:"max_signups,omitempty"`
	// Claims are the scenario's claims, checked against these runs.
	Claims []ClaimCheck `json:"claims"`
}

// RecordedRun is one guided run and the command that repeats it.
type RecordedRun struct {
	Label   string `json:"label"`
	Command string `json:"command"`
	Result  Result `json:"result"`
}

// ClaimCheck is one claim and whether the runs bear it out.
type ClaimCheck struct {
	Says  string `json:"says"`
	Check string `json:"check"`
	Holds bool   `json:"holds"`
	// Got is the check with the measured figures in place.
	Got string `json:"got"`
}

// GuidedDrainTimeout is how long a guided run waits for the consumers after
// its load, in the web lab and when recorded: a scenario's text may only
// promise what drains within it.
const GuidedDrainTimeout = time.Minute

// RecordOptions say how to record a scenario.
type RecordOptions struct {
	// Base is where every run's settings start (DefaultSettings).
	Base Settings
	// Redis names the Redis the runs use, for the recording.
	Redis  string
	Logger *slog.Logger
	// MaxSignups, when above zero, caps each run's signups: a quick check
	// that the claims still hold, not a recording to quote.
	MaxSignups int
}

// Record runs each of the scenario's guided runs on a fresh sandbox of its
// own (as `crossroads lab run` does, so each command line repeats exactly
// one run) with the web lab's drain timeout, and checks its claims.
func Record(ctx context.Context, c redis.UniversalClient, sc *Scenario, opt RecordOptions) (Recording, error) {
	plan, err := sc.Plan(opt.Base)
	if err != nil {
		return Recording{}, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	rec := Recording{Scenario: sc.ID, Title: sc.Title, Recorded: time.Now().UTC().Truncate(time.Second),
		Redis: opt.Redis, Go: runtime.Version(), CPUs: runtime.NumCPU(), MaxSignups: opt.MaxSignups}
	var results []Result
	for i, run := range plan {
		run.Load.DrainTimeout = GuidedDrainTimeout
		if opt.MaxSignups > 0 && run.Load.Signups > opt.MaxSignups {
			run.Load.Signups = opt.MaxSignups
		}
		id := fmt.Sprintf("rec-%s-%d-%d", sc.ID, i+1, time.Now().UnixNano()%1e9)
		sb, err := New(ctx, c, id, Options{Settings: run.Settings, Logger: log, DeleteOnClose: true})
		if err != nil {
			return rec, fmt.Errorf("record %s run %d: %w", sc.ID, i+1, err)
		}
		res, err := sb.Run(ctx, run.Load)
		if cerr := sb.Close(); cerr != nil {
			log.Warn("close recording sandbox", "err", cerr)
		}
		if err != nil {
			return rec, fmt.Errorf("record %s run %d: %w", sc.ID, i+1, err)
		}
		results = append(results, res)
		rec.Runs = append(rec.Runs, RecordedRun{Label: run.Label, Command: CommandLine(*run.Settings, run.Load), Result: res})
	}
	rec.Claims = sc.CheckClaims(results)
	return rec, nil
}
