package redisdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestCommandsGiveUpWithTheirContextWhenRedisHangs(t *testing.T) {
	m := miniredis.RunT(t)
	p := redistest.NewProxy(t, m.Addr())
	c := redisdb.NewClient(&redis.Options{Addr: p.Addr()})
	defer c.Close()
	require.NoError(t, c.Ping(context.Background()).Err())

	p.Hang()
	defer p.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Ping(ctx).Err()
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 1500*time.Millisecond,
		"a command gives up when its context does, not after the socket's read timeout (5 s)")
}

func TestOpenedClientsHonourContextDeadlines(t *testing.T) {
	db, err := redisdb.Open(context.Background(), "", redisdb.Options{})
	require.NoError(t, err)
	defer db.Close()
	assert.True(t, db.Client.(*redis.Client).Options().ContextTimeoutEnabled)
}
