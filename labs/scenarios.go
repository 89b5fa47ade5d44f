package labs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is one guided experiment (content/labs/NN-id.yaml): a situation,
// a prediction to make first, the runs that test it, the figures to show
// beside the prediction, and the goal a learner can reach on their own.
type Scenario struct {
	ID          string           `yaml:"id"`
	Order       int              `yaml:"order"`
	Title       string           `yaml:"title"`
	Summary     string           `yaml:"summary"`
	Lesson      Link             `yaml:"lesson"`
	Situation   string           `yaml:"situation"`
	Predict     Prediction       `yaml:"predict"`
	Runs        []ScenarioRun    `yaml:"runs"`
	Show        []string         `yaml:"show"`
	Goal        []map[string]any `yaml:"goal"`
	Hints       []string         `yaml:"hints"`
	Explanation string           `yaml:"explanation"`
	// Claims are what the scenario's text says its runs show, written as
	// checks a run can bear out or not.
	Claims []Claim        `yaml:"claims"`
	Extra  map[string]any `yaml:",inline"`
}

// Link points at a lesson section.
type Link struct {
	Href  string `yaml:"href"`
	Title string `yaml:"title"`
}

// Prediction is the multiple-choice question asked before a scenario runs.
type Prediction struct {
	Prompt  string   `yaml:"prompt"`
	Options []Option `yaml:"options"`
}

// Option is one answer; exactly one per prediction is correct.
type Option struct {
	Text    string `yaml:"text"`
	Correct bool   `yaml:"correct"`
	Why     string `yaml:"why"`
}

// ScenarioRun is one guided run as written: setting names and values as in
// the file, and the load.
type ScenarioRun struct {
	Label    string         `yaml:"label"`
	Settings map[string]any `yaml:"settings"`
	Load     map[string]any `yaml:"load"`
}

// Correct returns the index of the correct option.
func (p Prediction) Correct() int {
	for i, o := range p.Options {
		if o.Correct {
			return i
		}
	}
	return -1
}

// LoadScenarios reads every NN-*.yaml file of fsys, checks it (settings,
// loads and goals must name real settings with valid values) and returns the
// scenarios in order. A bad file is an error naming it.
func LoadScenarios(fsys fs.FS) ([]*Scenario, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", err)
	}
	var out []*Scenario
	seen := map[string]bool{}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read scenario %s: %w", f, err)
		}
		var sc Scenario
		if err := yaml.Unmarshal(raw, &sc); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", f, err)
		}
		if err := sc.check(DefaultSettings()); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", path.Base(f), err)
		}
		if seen[sc.ID] {
			return nil, fmt.Errorf("scenario %s: id %q used twice", f, sc.ID)
		}
		seen[sc.ID] = true
		out = append(out, &sc)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out, nil
}

func (sc *Scenario) check(base Settings) error {
	switch {
	case len(sc.Extra) > 0:
		for k := range sc.Extra {
			return fmt.Errorf("unknown field %q", k)
		}
	case sc.ID == "" || sc.Title == "":
		return errors.New("id and title are required")
	case len(sc.Predict.Options) < 2:
		return errors.New("predict needs at least two options")
	case len(sc.Runs) == 0:
		return errors.New("runs: at least one run is required")
	case len(sc.Goal) == 0:
		return errors.New("goal: at least one entry is required")
	}
	correct := 0
	for _, o := range sc.Predict.Options {
		if o.Correct {
			correct++
		}
	}
	if correct != 1 {
		return fmt.Errorf("predict: %d options are marked correct, want exactly 1", correct)
	}
	if _, err := sc.Plan(base); err != nil {
		return err
	}
	for i, g := range sc.Goal {
		for k, v := range g {
			if err := checkGoalTerm(k, fmt.Sprint(v)); err != nil {
				return fmt.Errorf("goal %d: %w", i+1, err)
			}
		}
	}
	for _, f := range sc.Show {
		if _, ok := ResultFigure(sampleResult, f); !ok {
			return fmt.Errorf("show: unknown result field %q", f)
		}
	}
	for i, c := range sc.Claims {
		if strings.TrimSpace(c.Says) == "" {
			return fmt.Errorf("claim %d: says is required", i+1)
		}
		if _, err := parseCheck(c.Check, len(sc.Runs)); err != nil {
			return fmt.Errorf("claim %d: %w", i+1, err)
		}
	}
	return nil
}

// sampleResult has every figure a result can have, to check names against.
var sampleResult = Result{PausedS: map[string]float64{ServiceEmail: 0, ServiceAnalytics: 0}}

// Claim is one thing a scenario's text says its runs show, in words (Says)
// and as a check (Check): two sides compared, each a number or a figure of
// a run, optionally times a number — "runs[0].latency_ms.p50 >= 800",
// "runs[0].latency_ms.p50 > 10 * runs[1].latency_ms.p50",
// "runs[1].lost == 0". Runs count from 0 in the order the scenario lists
// them; figures are named as in `crossroads lab run --json`.
type Claim struct {
	Says  string `yaml:"says"`
	Check string `yaml:"check"`
}

// CheckClaims checks every claim against the scenario's runs, in order.
func (sc *Scenario) CheckClaims(runs []Result) []ClaimCheck {
	out := make([]ClaimCheck, 0, len(sc.Claims))
	for _, c := range sc.Claims {
		cc := ClaimCheck{Says: c.Says, Check: c.Check}
		if chk, err := parseCheck(c.Check, len(sc.Runs)); err == nil {
			cc.Holds, cc.Got = chk.eval(runs)
		}
		out = append(out, cc)
	}
	return out
}

// check is a parsed claim: left op right.
type check struct {
	left, right side
	op          string
}

// side is k × (a run's figure, or a number).
type side struct {
	k      float64
	run    int // -1 for a number
	figure string
	num    float64
}

var (
	sidePattern  = `(?:(\d+(?:\.\d+)?)\s*\*\s*)?(runs\[(\d+)\]\.([a-z0-9_.]+)|-?\d+(?:\.\d+)?)(?:\s*\*\s*(\d+(?:\.\d+)?))?`
	checkPattern = regexp.MustCompile(`^\s*` + sidePattern + `\s*(>=|<=|==|!=|>|<)\s*` + sidePattern + `\s*$`)
)

func parseCheck(text string, runs int) (check, error) {
	m := checkPattern.FindStringSubmatch(text)
	if m == nil {
		return check{}, fmt.Errorf("check %q is not two sides compared, such as runs[0].latency_ms.p50 >= 800", text)
	}
	parse := func(m []string) (side, error) { // k, operand, run, figure, k2
		sd := side{k: 1, run: -1}
		for _, k := range []string{m[0], m[4]} {
			if k != "" {
				v, _ := strconv.ParseFloat(k, 64)
				sd.k *= v
			}
		}
		if m[2] == "" {
			sd.num, _ = strconv.ParseFloat(m[1], 64)
			return sd, nil
		}
		sd.run, _ = strconv.Atoi(m[2])
		sd.figure = m[3]
		if sd.run >= runs {
			return sd, fmt.Errorf("check %q: runs[%d] is not one of the scenario's %d runs", text, sd.run, runs)
		}
		if _, ok := ResultFigure(sampleResult, sd.figure); !ok {
			return sd, fmt.Errorf("check %q: %q is not a figure of a run", text, sd.figure)
		}
		return sd, nil
	}
	l, err := parse(m[1:6])
	if err != nil {
		return check{}, err
	}
	r, err := parse(m[7:12])
	if err != nil {
		return check{}, err
	}
	return check{left: l, right: r, op: m[6]}, nil
}

func (sd side) value(runs []Result) (float64, string, bool) {
	if sd.run < 0 {
		return sd.k * sd.num, strconv.FormatFloat(sd.k*sd.num, 'g', -1, 64), true
	}
	if sd.run >= len(runs) {
		return 0, "?", false
	}
	v, ok := ResultFigure(runs[sd.run], sd.figure)
	shown := strconv.FormatFloat(v, 'g', -1, 64)
	if sd.k != 1 {
		shown = strconv.FormatFloat(sd.k, 'g', -1, 64) + " × " + shown
	}
	return sd.k * v, shown, ok
}

// eval says whether the check holds for runs, and the check with the
// figures in place ("812.4 >= 800").
func (c check) eval(runs []Result) (bool, string) {
	l, ls, lok := c.left.value(runs)
	r, rs, rok := c.right.value(runs)
	got := ls + " " + c.op + " " + rs
	if !lok || !rok {
		return false, got
	}
	switch c.op {
	case ">=":
		return l >= r, got
	case "<=":
		return l <= r, got
	case ">":
		return l > r, got
	case "<":
		return l < r, got
	case "==":
		return l == r, got
	}
	return l != r, got
}

// Plan turns the scenario's runs into planned runs, each starting from base
// with the file's settings applied.
func (sc *Scenario) Plan(base Settings) ([]PlannedRun, error) {
	var out []PlannedRun
	for i, r := range sc.Runs {
		settings := base
		var load LoadSpec
		p := PlannedRun{Label: r.Label}
		for k, v := range r.Settings {
			if err := SetValue(&settings, &load, k, fmt.Sprint(v)); err != nil {
				return nil, fmt.Errorf("run %d: %w", i+1, err)
			}
		}
		for k, v := range r.Load {
			if err := SetValue(&settings, &load, k, fmt.Sprint(v)); err != nil {
				return nil, fmt.Errorf("run %d load: %w", i+1, err)
			}
		}
		if err := settings.Validate(); err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		if err := load.Validate(); err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		p.Settings, p.Load = &settings, load
		out = append(out, p)
	}
	return out, nil
}

// GoalReached reports whether history holds, for every goal entry, a run
// matching it; replays is how many dead letters the learner replayed.
func (sc *Scenario) GoalReached(history []Result, replays int) bool {
	for _, g := range sc.Goal {
		found := false
		for _, r := range history {
			if matchGoal(g, r, replays) {
				found = true
				break
			}
		}
		if !found && len(history) == 0 && matchGoal(g, Result{}, replays) && onlyReplays(g) {
			found = true
		}
		if !found {
			return false
		}
	}
	return true
}

func onlyReplays(g map[string]any) bool {
	_, ok := g["dead_letters_replayed"]
	return ok && len(g) == 1
}

func matchGoal(g map[string]any, r Result, replays int) bool {
	for k, v := range g {
		want := fmt.Sprint(v)
		atLeast := strings.HasSuffix(want, "+")
		want = strings.TrimSuffix(want, "+")
		var have float64
		switch k {
		case "min_signups":
			n, _ := strconv.ParseFloat(want, 64)
			if float64(r.SignupsAttempted) < n {
				return false
			}
			continue
		case "dead_letters_replayed":
			have = float64(replays)
		default:
			h, ok := settingNumber(r.Settings, k)
			if !ok {
				s, _ := settingText(r.Settings, k)
				if s != want {
					return false
				}
				continue
			}
			have = h
		}
		w, ok := parseNumber(k, want)
		if !ok {
			return false
		}
		if atLeast && have < w || !atLeast && have != w {
			return false
		}
	}
	return true
}

func checkGoalTerm(k, v string) error {
	v = strings.TrimSuffix(v, "+")
	switch k {
	case "min_signups", "dead_letters_replayed":
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("%s: %q is not a whole number", k, v)
		}
		return nil
	}
	var s Settings
	var l LoadSpec
	if _, ok := fields[k]; !ok || fields[k].load {
		return fmt.Errorf("%q is not a setting", k)
	}
	return SetValue(&s, &l, k, v)
}

// ---- setting names -----------------------------------------------------------

// field is one setting or load value by its flag-like name.
type field struct {
	kind string // duration, rate, bool, int, mode, publish
	load bool
	ptr  func(*Settings, *LoadSpec) any
}

var fields = map[string]field{
	"mode":                 {kind: "mode", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Mode }},
	"publish":              {kind: "publish", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Publish }},
	"email_latency":        {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Email.Latency }},
	"email_jitter":         {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Email.Jitter }},
	"email_error_rate":     {kind: "rate", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Email.ErrorRate }},
	"email_down":           {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Email.Down }},
	"email_hang":           {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Email.Hang }},
	"analytics_latency":    {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Analytics.Latency }},
	"analytics_jitter":     {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Analytics.Jitter }},
	"analytics_error_rate": {kind: "rate", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Analytics.ErrorRate }},
	"analytics_down":       {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Analytics.Down }},
	"analytics_hang":       {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Analytics.Hang }},
	"timeout":              {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Timeout }},
	"breaker":              {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Breaker }},
	"fallback":             {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Fallback }},
	"crash_rate":           {kind: "rate", ptr: func(s *Settings, _ *LoadSpec) any { return &s.CrashRate }},
	"idempotency":          {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Idempotency }},
	"no_idempotency":       {kind: "notbool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Idempotency }},
	"publish_error_rate":   {kind: "rate", ptr: func(s *Settings, _ *LoadSpec) any { return &s.PublishErrorRate }},
	"email_consumers":      {kind: "int", ptr: func(s *Settings, _ *LoadSpec) any { return &s.EmailConsumers }},
	"analytics_consumers":  {kind: "int", ptr: func(s *Settings, _ *LoadSpec) any { return &s.AnalyticsConsumers }},
	"max_deliveries":       {kind: "int", ptr: func(s *Settings, _ *LoadSpec) any { return &s.MaxDeliveries }},
	"retry_after":          {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.RetryAfter }},
	"retry_max_backoff":    {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.RetryMaxBackoff }},
	"max_retry_age":        {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.MaxRetryAge }},
	"lease":                {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Lease }},
	"no_lease_renewal":     {kind: "bool", ptr: func(s *Settings, _ *LoadSpec) any { return &s.NoLeaseRenewal }},
	"chain_depth":          {kind: "int", ptr: func(s *Settings, _ *LoadSpec) any { return &s.ChainDepth }},
	"chain_latency":        {kind: "duration", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Chain.Latency }},
	"chain_error_rate":     {kind: "rate", ptr: func(s *Settings, _ *LoadSpec) any { return &s.Chain.ErrorRate }},
	"signups":              {kind: "int", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.Signups }},
	"concurrency":          {kind: "int", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.Concurrency }},
	"rate":                 {kind: "float", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.Rate }},
	"duration":             {kind: "duration", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.Duration }},
	"recover_after":        {kind: "duration", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.RecoverAfter }},
	"drain_timeout":        {kind: "duration", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.DrainTimeout }},
	"poison":               {kind: "int", load: true, ptr: func(_ *Settings, l *LoadSpec) any { return &l.Poison }},
}

// SetValue sets one setting or load value from text, by its name (the
// `crossroads lab run` flag with "_" for "-", e.g. "email_error_rate").
// Wrong names and values that do not parse give a *FieldError naming the
// field; ranges are checked by Settings.Validate and LoadSpec.Validate.
func SetValue(s *Settings, l *LoadSpec, name, value string) error {
	f, ok := fields[name]
	if !ok {
		return fieldErr(name, "is not a lab setting")
	}
	value = strings.TrimSpace(value)
	switch p := f.ptr(s, l).(type) {
	case *Mode:
		*p = Mode(value)
	case *Publish:
		*p = Publish(value)
	case *time.Duration:
		d, err := parseDuration(value)
		if err != nil {
			return fieldErr(name, "%q is not a duration such as 250ms or 2s", value)
		}
		*p = d
	case *float64:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			if f.kind == "rate" {
				return fieldErr(name, "%q is not a number between 0 and 1", value)
			}
			return fieldErr(name, "%q is not a number", value)
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(value)
		if err != nil {
			return fieldErr(name, "%q is not a whole number", value)
		}
		*p = v
	case *bool:
		v, err := parseBool(value)
		if err != nil {
			return fieldErr(name, "%q is not on or off", value)
		}
		if f.kind == "notbool" {
			v = !v
		}
		*p = v
	}
	return nil
}

// IsLoadField reports whether name is a load value rather than a setting.
func IsLoadField(name string) bool { return fields[name].load }

func parseDuration(v string) (time.Duration, error) {
	if v == "0" || v == "" {
		return 0, nil
	}
	return time.ParseDuration(v)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		return true, nil
	case "off", "false", "0", "no", "":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// settingNumber reads a numeric, duration or boolean setting as a number
// (durations in nanoseconds, booleans as 0 or 1).
func settingNumber(s Settings, name string) (float64, bool) {
	f, ok := fields[name]
	if !ok || f.load {
		return 0, false
	}
	var l LoadSpec
	switch p := f.ptr(&s, &l).(type) {
	case *time.Duration:
		return float64(*p), true
	case *float64:
		return *p, true
	case *int:
		return float64(*p), true
	case *bool:
		v := *p
		if f.kind == "notbool" {
			v = !v
		}
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func settingText(s Settings, name string) (string, bool) {
	switch name {
	case "mode":
		return string(s.Mode), true
	case "publish":
		return string(s.Publish), true
	}
	return "", false
}

// parseNumber reads a goal value the way settingNumber reports the setting.
func parseNumber(name, v string) (float64, bool) {
	var s Settings
	var l LoadSpec
	if name == "dead_letters_replayed" || name == "min_signups" {
		n, err := strconv.ParseFloat(v, 64)
		return n, err == nil
	}
	if SetValue(&s, &l, name, v) != nil {
		return 0, false
	}
	return settingNumber(s, name)
}

// ResultFigure reads one figure of a result by its --json name, dotted for
// nested figures ("latency_ms.p50", "paused_s.email").
func ResultFigure(r Result, name string) (float64, bool) {
	raw, err := json.Marshal(r)
	if err != nil {
		return 0, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	for _, part := range strings.Split(name, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		if v, ok = obj[part]; !ok {
			return 0, false
		}
	}
	switch n := v.(type) {
	case float64:
		return n, true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
