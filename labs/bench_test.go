package labs

import (
	"context"
	"testing"
	"time"
)

func benchmarkSignups(b *testing.B, mode Mode) {
	s := fastSettings(mode)
	sb := newSandbox(b, s)
	b.ResetTimer()
	res, err := sb.Run(context.Background(), LoadSpec{Signups: b.N, Concurrency: 16, DrainTimeout: time.Minute})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.SignupsSucceeded != int64(b.N) || res.EmailsSent != int64(b.N) {
		b.Fatalf("%d of %d signups succeeded, %d emails sent", res.SignupsSucceeded, b.N, res.EmailsSent)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signups/s")
	b.ReportMetric(res.Latency.P50, "p50-ms")
	b.ReportMetric(res.Latency.P99, "p99-ms")
}

// BenchmarkSignupAsync sends signups at concurrency 16 through the API in
// async mode and waits until both consumer groups have processed them all.
func BenchmarkSignupAsync(b *testing.B) { benchmarkSignups(b, ModeAsync) }

// BenchmarkSignupSync sends signups at concurrency 16 in sync mode, where
// each one calls email and analytics (no added latency) before answering.
func BenchmarkSignupSync(b *testing.B) { benchmarkSignups(b, ModeSync) }
