package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs"
)

// ResultsDir is where `lab record` writes, relative to the repository.
const ResultsDir = "content/labs/results"

func newLabRecordCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Run every guided scenario and record its figures for the lessons",
		Long: `Run each guided scenario's runs, each on a fresh sandbox exactly as
'crossroads lab run' would, check the scenario's claims against them, and
write content/labs/results/<scenario>.json: every figure of every run, the
command line that repeats it, and the Redis, Go version and CPU count it ran
on. Chapters and scenario texts cite these figures, so what a learner reads
is what the lab measured; run it again after changing the engine or a
scenario, and commit the files.

It exits 1 when a claim does not hold, after writing what it recorded.`,
		Example: `  crossroads lab record                        # every scenario, embedded Redis
  REDIS_URL=redis://127.0.0.1:6379/0 crossroads lab record --scenario slow-email`,
		Args: noArgs,
	}
	fset := cmd.Flags()
	out := fset.String("out", ResultsDir, "folder to write <scenario>.json to")
	only := fset.StringArray("scenario", nil, "record only this scenario (repeatable)")
	maxSignups := fset.Int("max-signups", 0, "cap each run's signups: a quick check that the claims hold (do not commit what it writes)")
	redisURL := fset.String("redis-url", os.Getenv("REDIS_URL"), "Redis to use, redis://host:port/db; empty starts an embedded one (env REDIS_URL)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		sub, err := fs.Sub(content.FS, "labs")
		if err != nil {
			return err
		}
		scs, err := labs.LoadScenarios(sub)
		if err != nil {
			return err
		}
		if *maxSignups < 0 {
			return usagef("--max-signups: %d must be 0 (no cap) or more", *maxSignups)
		}
		for _, id := range *only {
			if !slices.ContainsFunc(scs, func(sc *labs.Scenario) bool { return sc.ID == id }) {
				return usagef("--scenario: %q is not a scenario", id)
			}
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fmt.Errorf("results folder: %w", err)
		}
		ctx := cmd.Context()
		db, err := redisdb.Open(ctx, *redisURL, redisdb.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		w := cmd.OutOrStdout()
		failed := 0
		for _, sc := range scs {
			if len(*only) > 0 && !slices.Contains(*only, sc.ID) {
				continue
			}
			runs := "runs"
			if len(sc.Runs) == 1 {
				runs = "run"
			}
			fmt.Fprintf(w, "%s: %d %s…\n", sc.ID, len(sc.Runs), runs)
			rec, err := labs.Record(ctx, db.Client, sc, labs.RecordOptions{Base: labs.DefaultSettings(),
				Redis: redisKind(db), Logger: slog.Default(), MaxSignups: *maxSignups})
			if err != nil {
				return err
			}
			raw, err := json.MarshalIndent(rec, "", "  ")
			if err != nil {
				return err
			}
			name := filepath.Join(*out, sc.ID+".json")
			if err := os.WriteFile(name, append(raw, '\n'), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			for _, r := range rec.Runs {
				fmt.Fprintf(w, "  %s\n    %s\n", r.Label, r.Command)
			}
			for _, c := range rec.Claims {
				mark := "✓"
				if !c.Holds {
					mark = "✗"
					failed++
				}
				fmt.Fprintf(w, "  %s %s (%s)\n", mark, c.Says, c.Got)
			}
			fmt.Fprintf(w, "  wrote %s\n", name)
		}
		if failed > 0 {
			return errors.New(fmt.Sprint(failed, " claims did not hold; see above"))
		}
		return nil
	}
	return cmd
}

// redisKind names the Redis a recording ran on, without its address.
func redisKind(db *redisdb.DB) string {
	if db.Embedded {
		return "embedded Redis (miniredis)"
	}
	return "Redis " + db.Version
}
