package stream_test

import (
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
	"github.com/crossroads-learn/crossroads/labs/stream/streamtest"
)

// target opens Stores on the Redis at url, each with a client of its own
// (a second client is a second process to the server), in one sandbox.
func target(t *testing.T, url string) streamtest.Target {
	t.Helper()
	if _, err := redis.ParseURL(url); err != nil {
		t.Fatalf("redis url %q: %v", url, err)
	}
	var sb string
	return streamtest.Target{Open: func(t *testing.T) streamtest.Backend {
		opt, _ := redis.ParseURL(url)
		c := redisdb.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if sb == "" {
			// On a shared server the sandbox's keys go when the case ends.
			sb = redistest.Sandbox(t, c)
		}
		return stream.New(c, sb)
	}}
}

// The embedded Redis, as the app runs it without REDIS_URL. redisdb hides
// its miniredis (and serves it through an accept loop of its own), so the
// cases that restart the server get a miniredis of their own, whose Restart
// closes every connection and listens again on the same port with the data
// kept, as a server with appendonly does.
func TestConformanceEmbedded(t *testing.T) {
	streamtest.Run(t, func(t *testing.T, restartable bool) streamtest.Target {
		if !restartable {
			db, err := redisdb.Open(t.Context(), "", redisdb.Options{})
			if err != nil {
				t.Fatalf("start the embedded redis: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return target(t, "redis://"+db.Addr)
		}
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			t.Fatalf("start miniredis: %v", err)
		}
		t.Cleanup(m.Close)
		tg := target(t, "redis://"+m.Addr())
		tg.Restart = func(t *testing.T) {
			m.Close()
			if err := m.Restart(); err != nil {
				t.Fatalf("restart miniredis: %v", err)
			}
		}
		return tg
	})
}

// The real Redis: REDIS_URL, or REDIS_TEST_URL (which .ci/run exports for
// its embedded pass too). The cases that restart Redis start a
// redis-server of their own with appendonly and fsync on every write: the
// shared server is never restarted.
func TestConformanceRealRedis(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = os.Getenv("REDIS_TEST_URL")
	}
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("neither REDIS_URL nor REDIS_TEST_URL is set: CI=true requires the stream conformance suite to run against a real Redis")
		}
		t.Skip("set REDIS_URL to run the stream conformance suite against a real Redis")
	}
	// Fail at once, with the reason, when the server is unreachable or too old.
	db, err := redisdb.Open(t.Context(), url, redisdb.Options{})
	if err != nil {
		t.Fatalf("real redis: %v", err)
	}
	db.Close()
	streamtest.Run(t, func(t *testing.T, restartable bool) streamtest.Target {
		if !restartable {
			return target(t, url)
		}
		srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
		tg := target(t, srv.URL())
		tg.Restart = func(t *testing.T) {
			srv.Stop()
			srv.Start()
		}
		return tg
	})
}
