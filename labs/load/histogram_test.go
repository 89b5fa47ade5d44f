package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHistogramQuantilesAreWithinTheirBucket(t *testing.T) {
	var h Histogram
	samples := make([]time.Duration, 20_000)
	for i := range samples {
		// log-uniform between 50 µs and 5 s, the range a lab produces
		samples[i] = time.Duration(50_000 * math.Pow(10, rand.Float64()*5))
		h.Record(samples[i])
	}
	slices.Sort(samples)
	exact := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)))-1].Microseconds()) / 1000
	}
	q := h.Quantiles()
	assert.EqualValues(t, len(samples), q.Count)
	assert.InEpsilon(t, exact(0.50), q.P50, 0.016)
	assert.InEpsilon(t, exact(0.95), q.P95, 0.016)
	assert.InEpsilon(t, exact(0.99), q.P99, 0.016)
	assert.Equal(t, float64(samples[len(samples)-1].Microseconds())/1000, q.Max)
	for _, p := range []float64{0.50, 0.95, 0.99} {
		assert.GreaterOrEqual(t, map[float64]float64{0.50: q.P50, 0.95: q.P95, 0.99: q.P99}[p], exact(p),
			"a quantile is never below the samples it stands for (p%.0f)", 100*p)
	}
	h.Reset()
	assert.Zero(t, h.Quantiles().Count)
	var small Histogram
	small.Record(42 * time.Microsecond)
	assert.Equal(t, 0.042, small.Quantiles().P50, "below 128 µs values are exact")
}

func TestHistogramNeverReportsLessThanAForcedFloor(t *testing.T) {
	// Every call sleeps 800 ms and a little more: the median must not read
	// below 800, or "sync waits for the 800 ms call" looks false.
	var h Histogram
	for i := range 100 {
		h.Record(800*time.Millisecond + time.Duration(i)*37*time.Microsecond)
	}
	q := h.Quantiles()
	assert.GreaterOrEqual(t, q.P50, 800.0)
	assert.LessOrEqual(t, q.P50, q.Max)
	assert.InEpsilon(t, 800.0, q.P50, 0.016)
}
