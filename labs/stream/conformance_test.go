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
// target opens, for each backend, a client of its own, as another process
// would have: a plain one for a miniredis, which redisdb.Open does not
// accept as a URL (it answers no INFO server), and redisdb.Open's for a
// real server, so a cluster node gets a cluster client.
func target(t *testing.T, url string, embedded bool) streamtest.Target {
	t.Helper()
	var sb string
	return streamtest.Target{Open: func(t *testing.T) streamtest.Backend {
		var c redis.UniversalClient
		if embedded {
			opt, err := redis.ParseURL(url)
			if err != nil {
				t.Fatalf("redis url %q: %v", url, err)
			}
			c = redisdb.NewClient(opt)
		} else {
			db, err := redisdb.Open(t.Context(), url, redisdb.Options{})
			if err != nil {
				t.Fatalf("redis at %q: %v", url, err)
			}
			c = db.Client
			t.Cleanup(func() { db.Close() })
		}
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
			return target(t, "redis://"+db.Addr, true)
		}
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			t.Fatalf("start miniredis: %v", err)
		}
		t.Cleanup(m.Close)
		tg := target(t, "redis://"+m.Addr(), true)
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
			return target(t, url, false)
		}
		srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
		tg := target(t, srv.URL(), false)
		tg.Restart = func(t *testing.T) {
			srv.Stop()
			srv.Start()
		}
		return tg
	})
}
