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
	"github.com/redis/go-redis/v9"
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

// Lag is counted from whichever side of the last-delivered id is shorter;
// both ways must give the exact number, as Redis 7 reports it.
func TestLagCountFromEitherSide(t *testing.T) {
	db := redistest.Open(t)
	st := &store{c: db.Client, id: redistest.Sandbox(t, db.Client)}
	ctx := testCtx(t, 20*time.Second)
	require.NoError(t, st.ensureGroups(ctx, ServiceEmail, ServiceAnalytics))
	_, err := db.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range 1200 {
			p.XAdd(ctx, &redis.XAddArgs{Stream: st.events(), Values: []string{"payload", "{}"}})
		}
		return nil
	})
	require.NoError(t, err)
	read := func(group string, n int) {
		for n > 0 {
			msgs, err := st.read(ctx, group, "probe", min(n, 500), 0)
			require.NoError(t, err)
			n -= len(msgs)
		}
	}
	read(ServiceEmail, 100)       // 1,100 after, 100 up to: the short side is behind it
	read(ServiceAnalytics, 1_100) // 100 after: the short side is ahead
	state, err := st.streamStats(ctx)
	require.NoError(t, err)
	require.Len(t, state.Groups, 2)
	for _, g := range state.Groups {
		want := map[string]int64{ServiceEmail: 1_100, ServiceAnalytics: 100}[g.Name]
		assert.Equal(t, want, g.Lag, g.Name)
		if !db.Embedded {
			assert.Equal(t, g.RedisLag, g.Lag, "Redis 7 agrees for %s", g.Name)
		}
	}
}
