package load

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in a fixed, HDR-style log-linear layout: exact
// below 128 µs, then 64 buckets per power of two, so any quantile is at most
// 1.6 % above the true value (and never below it) while memory stays at a few kilobytes however many
// samples arrive. Safe for concurrent use without locks.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64 // µs
}

const (
	histLinear  = 128
	histSub     = 64
	histMaxExp  = 26 // values up to 2^33 µs (over two hours) keep their precision
	histBuckets = histLinear + histMaxExp*histSub
)

func histIndex(us int64) int {
	if us < 0 {
		us = 0
	}
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 7 // us>>e is in [64,127]
	if e > histMaxExp {
		return histBuckets - 1
	}
	return histLinear + (e-1)*histSub + int(us>>e) - histSub
}

// histValue is the highest value a bucket holds, in µs, as HdrHistogram
// reports a quantile: "p50 = X" then always means that half the samples took
// at most X, never a little less than the sleep a run forced on every call.
func histValue(i int) float64 {
	if i < histLinear {
		return float64(i)
	}
	e := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return float64((m+1)<<e - 1)
}

func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	h.counts[histIndex(us)].Add(1)
	h.total.Add(1)
	for {
		old := h.max.Load()
		if us <= old || h.max.CompareAndSwap(old, us) {
			break
		}
	}
}

func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.max.Store(0)
}

// Quantiles are latencies in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	// Count is how many samples they summarise.
	Count uint64 `json:"-"`
}

func (h *Histogram) Quantiles() Quantiles {
	var counts [histBuckets]uint64
	var total uint64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	q := Quantiles{Count: total, Max: Round3(float64(h.max.Load()) / 1000)}
	if total == 0 {
		return q
	}
	at := func(p float64) float64 {
		rank := uint64(math.Ceil(p * float64(total)))
		if rank < 1 {
			rank = 1
		}
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return math.Min(Round3(histValue(i)/1000), q.Max)
			}
		}
		return q.Max
	}
	q.P50, q.P95, q.P99 = at(0.50), at(0.95), at(0.99)
	return q
}

// Round3 rounds to three decimals, the precision figures are reported with.
func Round3(v float64) float64 { return math.Round(v*1000) / 1000 }
