package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestReadyzAndLessonsKeepTheirDeadlinesWhenRedisHangs(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	p := redistest.NewProxy(t, m.Addr())
	c := redisdb.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { c.Close() })
	_, base := newTestServer(t, Config{Redis: c, Lessons: realCatalog(t),
		Ready: func(ctx context.Context) error { return c.Ping(ctx).Err() }})
	res, _ := get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = get(t, base+"/lessons") // a pooled connection now exists
	require.Equal(t, http.StatusOK, res.StatusCode)

	p.Hang()
	defer p.Resume()
	start := time.Now()
	res, body := get(t, base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
	assert.Less(t, time.Since(start), 3*time.Second, "/readyz answers within its 2 s budget (before: 5 s)")

	start = time.Now()
	res, body = get(t, base+"/lessons")
	assert.Equal(t, http.StatusOK, res.StatusCode, "the lessons render without progress")
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "progress reads give up after 500 ms (before: 5 s)")
	assert.NotEmpty(t, body)
}
