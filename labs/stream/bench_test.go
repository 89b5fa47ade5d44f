package stream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// BenchmarkStreamPipeline publishes events and consumes them through the
// store: batched XREADGROUP, then one MULTI/EXEC per message for the
// idempotency record and the XACK, as a consumer settles each message before
// the next. One op is one message end to end.
func BenchmarkStreamPipeline(b *testing.B) {
	db := redistest.Open(b)
	s := New(db.Client, redistest.Sandbox(b, db.Client))
	ctx := context.Background()
	if err := s.EnsureGroups(ctx, "email"); err != nil {
		b.Fatal(err)
	}
	ev := Event{Type: TypeSignedUp, SchemaVersion: SchemaVersion, UserID: "u_bench", Email: "bench@example.com", OccurredAt: time.Now()}
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Go(func() { // the producer
		for i := 0; i < b.N; i++ {
			ev.ID = fmt.Sprintf("evt_%d", i)
			if err := s.Publish(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	done := 0
	for done < b.N {
		got, err := s.Read(ctx, "email", "bench", 100, 100*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range got {
			e, err := Decode(d.Values)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Ack(ctx, "email", Finished{d.ID, e.ID}); err != nil {
				b.Fatal(err)
			}
		}
		done += len(got)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
