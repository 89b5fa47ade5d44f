package labs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

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

// A consumer renews only what it has held for a sixth of the lease: quick
// work costs no renewal, and what was renewed runs a fresh lease.
func TestHeldEntriesAreRenewedOnlyOnceTheyHaveAged(t *testing.T) {
	var h held
	t0 := time.Now()
	h.add([]stream.Delivery{{ID: "1-0"}, {ID: "2-0"}}, t0)
	every := 100 * time.Millisecond
	assert.Empty(t, h.aged(t0.Add(every/2), every), "held for half a renewal period")
	assert.ElementsMatch(t, []string{"1-0", "2-0"}, h.aged(t0.Add(every), every))

	h.remove("2-0") // finished and acknowledged
	h.renewed([]string{"1-0"}, nil, t0.Add(every))
	assert.Empty(t, h.aged(t0.Add(every*3/2), every), "renewed, its lease runs afresh")
	assert.Equal(t, []string{"1-0"}, h.aged(t0.Add(2*every), every))

	h.renewed([]string{"1-0"}, []string{"1-0"}, t0.Add(2*every))
	assert.True(t, h.lost("1-0"), "another consumer has it")
	assert.Empty(t, h.aged(t0.Add(time.Hour), every), "a lost entry is not renewed")
}

// Past samplersAtFullRate runs in progress, each samples its stream less
// often, down to once a second; without a room, always at the fast rate.
func TestTheRoomSpreadsStreamSamplingAsRunsGrow(t *testing.T) {
	var none *Room
	assert.Equal(t, sampleFast, none.sampleEvery())
	none.startSampling()()

	r := NewRoom(10)
	var stops []func()
	for range samplersAtFullRate {
		stops = append(stops, r.startSampling())
	}
	assert.Equal(t, sampleFast, r.sampleEvery(), "up to %d runs sample at the full rate", samplersAtFullRate)
	stops = append(stops, r.startSampling())
	assert.Equal(t, 2*sampleFast, r.sampleEvery())
	for range 20 * samplersAtFullRate {
		stops = append(stops, r.startSampling())
	}
	assert.Equal(t, time.Second, r.sampleEvery(), "never less than once a second")
	for _, stop := range stops {
		stop()
	}
	assert.Equal(t, sampleFast, r.sampleEvery())
}
