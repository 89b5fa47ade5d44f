package labs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	xmessage "golang.org/x/text/message"
)

// Recordings are the recorded runs of every scenario, by scenario id: the
// only source of the figures chapters and scenario texts quote.
type Recordings map[string]*Recording

// LoadRecordings reads every <scenario>.json in dir of fsys, as
// `crossroads lab record` writes them. A missing folder is no recordings.
func LoadRecordings(fsys fs.FS, dir string) (Recordings, error) {
	out := Recordings{}
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list recordings: %w", err)
	}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read recording: %w", err)
		}
		var rec Recording
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if want := strings.TrimSuffix(path.Base(name), ".json"); rec.Scenario != want {
			return nil, fmt.Errorf("%s: records scenario %q, not %q", name, rec.Scenario, want)
		}
		out[rec.Scenario] = &rec
	}
	return out, nil
}

// IDs are the recorded scenarios, sorted.
func (rs Recordings) IDs() []string {
	ids := make([]string, 0, len(rs))
	for id := range rs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Figure is one recorded number, ready to quote: the value, the words for
// it ("812 ms", "0 lost"), and where it came from.
type Figure struct {
	Value float64
	Text  string
	// Scenario, Run (its index) and Label say which recorded run measured it;
	// Command repeats that run.
	Scenario string
	Run      int
	Label    string
	Command  string
	Recorded time.Time
	Redis    string
}

// ErrNoFigure is wrapped by every failed figure lookup.
var ErrNoFigure = errors.New("no such recorded figure")

// Figure looks up one figure: run is the run's index ("0") or, when
// exactly one of the scenario's runs has it, its mode ("sync"); name is a
// figure as `crossroads lab run --json` names it ("latency_ms.p50").
func (rs Recordings) Figure(scenario, run, name string) (Figure, error) {
	rec := rs[scenario]
	if rec == nil {
		return Figure{}, fmt.Errorf("%w: scenario %q has no recording (run `crossroads lab record --scenario %s`)", ErrNoFigure, scenario, scenario)
	}
	i, err := rec.runIndex(run)
	if err != nil {
		return Figure{}, fmt.Errorf("%w: %s: %v", ErrNoFigure, scenario, err)
	}
	r := rec.Runs[i]
	v, ok := ResultFigure(r.Result, name)
	if !ok || strings.HasPrefix(name, "settings.") || strings.HasPrefix(name, "load.") {
		// Settings are what the text chose, not what the run measured.
		return Figure{}, fmt.Errorf("%w: %s run %d has no figure %q", ErrNoFigure, scenario, i, name)
	}
	return Figure{Value: v, Text: FormatFigure(name, v), Scenario: scenario, Run: i, Label: r.Label,
		Command: r.Command, Recorded: rec.Recorded, Redis: rec.Redis}, nil
}

func (rec *Recording) runIndex(run string) (int, error) {
	if i, err := strconv.Atoi(run); err == nil {
		if i < 0 || i >= len(rec.Runs) {
			return 0, fmt.Errorf("run %d is not one of its %d runs (they count from 0)", i, len(rec.Runs))
		}
		return i, nil
	}
	found := -1
	for i, r := range rec.Runs {
		if string(r.Result.Settings.Mode) == run {
			if found >= 0 {
				return 0, fmt.Errorf("more than one run is %s; name the run by its number", run)
			}
			found = i
		}
	}
	if found < 0 {
		return 0, fmt.Errorf("no run is %q; name a run by its number (from 0) or its mode", run)
	}
	return found, nil
}

// FormatFigure writes a figure the way prose quotes it: durations in ms
// below a second and in seconds above, rates per second, counts whole,
// flags as yes or no.
func FormatFigure(name string, v float64) string {
	leaf := name[strings.LastIndex(name, ".")+1:]
	parent := strings.TrimSuffix(name, "."+leaf)
	switch {
	case name == "drained" || name == "cancelled":
		if v != 0 {
			return "yes"
		}
		return "no"
	case strings.HasSuffix(leaf, "_per_s"):
		return trimFloat(v, 1) + " per second"
	case strings.HasSuffix(parent, "_ms") || strings.HasSuffix(leaf, "_ms"):
		if v >= 1000 {
			return trimFloat(v/1000, 1) + " s"
		}
		if v < 10 {
			return trimFloat(v, 1) + " ms"
		}
		return trimFloat(math.Round(v), 0) + " ms"
	case strings.HasSuffix(leaf, "_s") || strings.HasSuffix(parent, "_s"):
		return trimFloat(v, 1) + " s"
	}
	return trimFloat(math.Round(v), 0)
}

// english groups thousands with commas (12,345.6).
var english = xmessage.NewPrinter(language.English)

// trimFloat rounds v to at most prec decimals, groups thousands and drops
// trailing zeros ("2.6", "1,204", not "1204.0").
func trimFloat(v float64, prec int) string {
	s := english.Sprintf("%.*f", prec, v)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
