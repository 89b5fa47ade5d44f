package main

import (
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/labs"
)

// Every guided run of every scenario has a command line that sets up the
// same settings and load: what `lab record` prints beside each figure is
// the run that produced it.
func TestEveryScenarioRunHasACommandLineThatRepeatsIt(t *testing.T) {
	sub, err := fs.Sub(content.FS, "labs")
	require.NoError(t, err)
	scs, err := labs.LoadScenarios(sub)
	require.NoError(t, err)
	for _, sc := range scs {
		plan, err := sc.Plan(labs.DefaultSettings())
		require.NoError(t, err)
		for i, run := range plan {
			args := labs.Args(*run.Settings, run.Load)
			fset := pflag.NewFlagSet("run", pflag.ContinueOnError)
			var rf runFlags
			rf.register(fset)
			require.NoError(t, fset.Parse(args), "%s run %d: %v", sc.ID, i+1, args)
			s, spec, err := rf.parse(fset)
			require.NoError(t, err, "%s run %d: %s", sc.ID, i+1, strings.Join(args, " "))
			assert.Equal(t, *run.Settings, s, "%s run %d: %s", sc.ID, i+1, strings.Join(args, " "))
			want := run.Load
			if want.DrainTimeout == 0 {
				want.DrainTimeout = spec.DrainTimeout
			}
			assert.Equal(t, want, spec, "%s run %d", sc.ID, i+1)
		}
	}
	assert.Equal(t, "crossroads lab run --mode async --signups 200", labs.CommandLine(labs.DefaultSettings(), labs.LoadSpec{Signups: 200, Concurrency: 16}))
}

// Every scenario's claims hold when its runs are repeated, smaller: the
// texts and the engine cannot drift apart without this failing. Each run
// keeps its settings and concurrency and sends at most 60 signups, through
// the same `lab record` a writer uses. Several claims compare latencies, so
// the scenarios run one after the other and never under the race detector
// (.ci/run runs this test in a step without it).
func TestEveryScenarioClaimHoldsOnAQuickRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("re-runs every scenario")
	}
	if raceEnabled {
		t.Skip("timing claims need the real speed; .ci/run checks them without -race")
	}
	sub, err := fs.Sub(content.FS, "labs")
	require.NoError(t, err)
	scs, err := labs.LoadScenarios(sub)
	require.NoError(t, err)
	for _, sc := range scs {
		t.Run(sc.ID, func(t *testing.T) {
			assert.GreaterOrEqual(t, len(sc.Claims), 2, "a scenario states what its runs show as claims")
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, "lab", "record", "--scenario", sc.ID, "--max-signups", "60", "--out", out)
			require.Equal(t, 0, code, "claims that did not hold:\n%s\n%s", stdout, stderr)
			recs, err := labs.LoadRecordings(os.DirFS(out), ".")
			require.NoError(t, err)
			rec := recs[sc.ID]
			require.NotNil(t, rec)
			assert.Equal(t, 60, rec.MaxSignups)
			for _, c := range rec.Claims {
				assert.True(t, c.Holds, "%s (%s)", c.Says, c.Got)
			}
		})
	}
}
