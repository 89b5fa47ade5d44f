package labs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestHistogramQuantilesAreWithinOnePercent(t *testing.T) {
	var h histogram
	samples := make([]time.Duration, 20_000)
	for i := range samples {
		// log-uniform between 50 µs and 5 s, the range a lab produces
		samples[i] = time.Duration(50_000 * math.Pow(10, rand.Float64()*5))
		h.record(samples[i])
	}
	slices.Sort(samples)
	exact := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)))-1].Microseconds()) / 1000
	}
	q := h.quantiles()
	assert.EqualValues(t, len(samples), q.Count)
	assert.InEpsilon(t, exact(0.50), q.P50, 0.01)
	assert.InEpsilon(t, exact(0.95), q.P95, 0.01)
	assert.InEpsilon(t, exact(0.99), q.P99, 0.01)
	assert.Equal(t, float64(samples[len(samples)-1].Microseconds())/1000, q.Max)
	h.reset()
	assert.Zero(t, h.quantiles().Count)
	var small histogram
	small.record(42 * time.Microsecond)
	assert.Equal(t, 0.042, small.quantiles().P50, "below 128 µs values are exact")
}

func TestMetricsAreSharedByEverySandboxOfARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := redistest.Open(t)
	s := fastSettings(ModeAsync)
	var boxes []*Sandbox
	for range 2 {
		sb, err := New(t.Context(), db.Client, redistest.Sandbox(t, db.Client), Options{Settings: &s, Registerer: reg, Logger: quietLogger()})
		require.NoError(t, err, "a second sandbox reuses the registered collectors")
		boxes = append(boxes, sb)
	}
	for i, sb := range boxes {
		status, _ := postSignup(t, sb, "m"+string(rune('a'+i))+"@example.com", "Metric", "")
		require.Equal(t, 201, status)
		require.NoError(t, sb.Drain(t.Context(), 10*time.Second))
	}
	assert.Equal(t, 2.0, gathered(t, reg, "crossroads_lab_signups_total", "async", "ok"))
	assert.Equal(t, 2.0, gathered(t, reg, "crossroads_lab_sandboxes"))
	assert.Equal(t, 2.0, gathered(t, reg, "crossroads_lab_messages_total", ServiceEmail, "processed"))
	for _, sb := range boxes {
		require.NoError(t, sb.Close())
	}
	assert.Equal(t, 0.0, gathered(t, reg, "crossroads_lab_sandboxes"))
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				assert.NotEqual(t, "sandbox", l.GetName(), "no per-sandbox labels on %s", f.GetName())
			}
		}
	}
}

// The lessons show signupSync and signupAsync from the embedded source.
func TestSourceEmbedsTheSignupHandlers(t *testing.T) {
	src, err := Source.ReadFile("signup.go")
	require.NoError(t, err)
	file, err := parser.ParseFile(token.NewFileSet(), "signup.go", src, parser.ParseComments)
	require.NoError(t, err)
	found := map[string]bool{}
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			found[fn.Name.Name] = fn.Doc != nil && strings.Contains(fn.Doc.Text(), fn.Name.Name)
		}
	}
	assert.True(t, found["signupSync"], "signupSync exists with a doc comment")
	assert.True(t, found["signupAsync"], "signupAsync exists with a doc comment")
}

// gathered is the value of the series of a counter or gauge whose label
// values are exactly values.
func gathered(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(values))
			if !slices.Equal(got, want) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, values)
	return 0
}
