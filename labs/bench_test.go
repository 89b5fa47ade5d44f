package labs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// BenchmarkStreamPipeline publishes events and consumes them through the
// lab's stream layer: batched XREADGROUP, then one MULTI/EXEC per batch for
// the idempotency record and the XACK. One op is one message end to end.
func BenchmarkStreamPipeline(b *testing.B) {
	db := redistest.Open(b)
	st := &store{c: db.Client, id: redistest.Sandbox(b, db.Client)}
	ctx := context.Background()
	if err := st.ensureGroups(ctx, ServiceEmail); err != nil {
		b.Fatal(err)
	}
	ev := Event{Type: EventSignedUp, SchemaVersion: SchemaVersion, UserID: "u_bench", Email: "bench@example.com", OccurredAt: time.Now()}
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Go(func() { // the producer
		for i := 0; i < b.N; i++ {
			ev.ID = newID("evt_")
			if err := st.publish(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	done := 0
	for done < b.N {
		msgs, err := st.read(ctx, ServiceEmail, "bench", 100, 100*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		entries := make([]string, len(msgs))
		events := make([]string, len(msgs))
		for i, m := range msgs {
			e, err := decodeEvent(m.Values)
			if err != nil {
				b.Fatal(err)
			}
			entries[i], events[i] = m.ID, e.ID
		}
		if err := st.ack(ctx, ServiceEmail, entries, events); err != nil {
			b.Fatal(err)
		}
		done += len(msgs)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

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
