package labs

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// A worker that is stopped gracefully acks exactly what it finished; another
// worker takes over its pending messages, and no email is sent twice.
func TestGracefulWorkerStopAcksOnlyFinishedWork(t *testing.T) {
	db := redistest.Open(t)
	id := redistest.Sandbox(t, db.Client)
	ctx := testCtx(t, 30*time.Second)

	producerSettings := fastSettings(ModeAsync)
	producerSettings.EmailConsumers, producerSettings.AnalyticsConsumers = 0, 0
	producer, err := New(ctx, db.Client, id, Options{Settings: &producerSettings, Logger: quietLogger()})
	require.NoError(t, err)
	defer producer.Close()
	for i := range 20 {
		status, _ := postSignup(t, producer, fmt.Sprintf("w%d@example.com", i), "Worker test", "")
		require.Equal(t, http.StatusCreated, status)
	}

	slow := fastSettings(ModeAsync)
	slow.Email.Latency = 80 * time.Millisecond
	slow.EmailConsumers, slow.AnalyticsConsumers = 1, 1
	slow.RetryAfter = 200 * time.Millisecond
	a, err := New(ctx, db.Client, id, Options{Settings: &slow, Logger: quietLogger(), Worker: true, Block: 50 * time.Millisecond})
	require.NoError(t, err)
	assert.Empty(t, a.SignupURL(), "a worker serves no signup API")
	require.Eventually(t, func() bool { return a.count.emailsSent.Load() >= 2 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Close())

	finished := a.count.emailsSent.Load()
	acked, err := db.Client.SCard(ctx, stream.DoneKey(id, ServiceEmail)).Result()
	require.NoError(t, err)
	assert.Equal(t, finished, acked, "every email sent was acked, and nothing else")
	assert.Less(t, finished, int64(10), "the stop came mid-batch")
	st, err := producer.store.ReadState(ctx, Groups)
	require.NoError(t, err)
	for _, g := range st.Groups {
		if g.Name == ServiceEmail {
			assert.Positive(t, g.Pending, "the unfinished part of the batch stays pending")
		}
	}

	fast := fastSettings(ModeAsync)
	fast.RetryAfter = 200 * time.Millisecond
	b, err := New(ctx, db.Client, id, Options{Settings: &fast, Logger: quietLogger(), Worker: true, Block: 50 * time.Millisecond})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Drain(ctx, 20*time.Second))
	tot, err := b.Totals(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 20, tot.EmailsSent)
	assert.Zero(t, tot.EmailDuplicates)
	assert.Zero(t, tot.Unfinished)
	assert.Positive(t, b.count.redeliveries.Load(), "b claimed what a left pending")
	_, err = b.Run(context.Background(), LoadSpec{Signups: 1, Concurrency: 1})
	assert.Error(t, err, "a worker cannot run a load")
}
