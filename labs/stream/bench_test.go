package stream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// BenchmarkOutboxParallel signs users up through the outbox script from many
// goroutines at once, as the signup API does under load: concurrent scripts
// share round trips (outbox.go). One op is one user and its event.
func BenchmarkOutboxParallel(b *testing.B) {
	db := redistest.Open(b)
	s := New(db.Client, redistest.Sandbox(b, db.Client))
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS signups in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			u := User{ID: fmt.Sprintf("u_%d", i), Email: fmt.Sprintf("b%d@example.com", i), Mode: "async", EventID: fmt.Sprintf("evt_%d", i), CreatedAt: time.Now()}
			ev := SignedUp(u, time.Now(), "")
			if _, created, err := s.CreateUser(ctx, u, "", &ev); err != nil || !created {
				b.Fatalf("create user %d: created=%v err=%v", i, created, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signups/s")
}
