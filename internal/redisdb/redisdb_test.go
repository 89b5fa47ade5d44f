package redisdb

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenEmbeddedIsARealRedisForTheClient(t *testing.T) {
	db, err := Open(context.Background(), "", Options{})
	require.NoError(t, err)
	defer db.Close()

	assert.True(t, db.Embedded)
	assert.Contains(t, db.Describe(), "embedded")
	host, _, err := net.SplitHostPort(db.Addr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host, "the embedded server must listen on loopback only")

	ctx := context.Background()
	require.NoError(t, db.Ready(ctx))
	id, err := db.Client.XAdd(ctx, &redisXAdd).Result()
	require.NoError(t, err)
	assert.NotEmpty(t, id)
	n, err := db.Client.XLen(ctx, redisXAdd.Stream).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

func TestOpenUnreachableURLFailsClearly(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()

	start := time.Now()
	_, err = Open(context.Background(), "redis://"+addr+"/0", Options{PingTimeout: time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unreachable")
	assert.Contains(t, err.Error(), addr)
	assert.Less(t, time.Since(start), 5*time.Second, "an unreachable server must fail within the ping timeout")
}

func TestOpenRejectsMalformedURL(t *testing.T) {
	_, err := Open(context.Background(), "http://example.invalid", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "REDIS_URL")
}

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		ok      bool
	}{
		{"7.0.15", true},
		{"7.4.1", true},
		{"8.0.0", true},
		{"6.2.14", false},
		{"5.0.7", false},
		{"", false},
		{"banana", false},
	} {
		err := checkVersion(tc.version)
		if tc.ok {
			assert.NoError(t, err, tc.version)
		} else {
			assert.Error(t, err, tc.version)
		}
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"
	assert.Equal(t, "7.0.15", infoField(info, "redis_version"))
	assert.Equal(t, "standalone", infoField(info, "redis_mode"))
	assert.Equal(t, "", infoField(info, "missing"))
}

func TestOpenRealServerReadsItsVersion(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: the real-server path is covered in CI")
	}
	db, err := Open(context.Background(), url, Options{})
	require.NoError(t, err)
	defer db.Close()
	assert.False(t, db.Embedded)
	assert.NoError(t, checkVersion(db.Version))
	assert.Contains(t, db.Describe(), db.Version)
}

var redisXAdd = redis.XAddArgs{Stream: "cr:{redisdb-test}:stream", Values: map[string]any{"k": "v"}}

// Lab loads may hold every connection of the main pool; the pages and the
// readiness check have a pool of their own on the same server.
func TestPagesKeepTheirOwnPoolWhenTheLabsHoldEveryConnection(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, os.Getenv("REDIS_URL"), Options{PoolSize: 4, PagesPoolSize: 2})
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, 4, db.PoolSize)
	assert.Equal(t, 2, db.PagesPoolSize)

	// Four blocking reads take the main pool for two seconds (on a cluster,
	// the pool of the node serving the key's slot, which the commands below
	// ask too).
	key := "{redisdb-test}:held-" + time.Now().Format("150405.000000000")
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			db.Client.BLPop(ctx, 2*time.Second, key)
		}()
	}
	require.Eventually(t, func() bool { return db.Client.PoolStats().TotalConns >= 4 }, 2*time.Second, 10*time.Millisecond)
	busy, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	assert.Error(t, db.Client.Exists(busy, key).Err(), "the main pool is full")

	quick, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	assert.NoError(t, db.Ready(quick), "readiness asks on the pages' pool")
	require.NoError(t, db.Pages.Set(quick, key+":page", "ok", time.Minute).Err(), "a page's command gets a connection")
	db.Pages.Del(ctx, key+":page")
	for range 4 {
		<-done
	}
}
