package labs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// quietRedisLog drops go-redis's own log lines (the restart test makes it
// report every failed dial).
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedisLog{})
	goleak.VerifyTestMain(m, leakOptions...)
}

// leakOptions are the goroutines goleak may find alive when a test ends:
// go-redis and net/http keep a few background goroutines per client.
var leakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
}

// fastSettings keep tests quick: no latency, short backoffs and block times.
func fastSettings(mode Mode) Settings {
	s := DefaultSettings()
	s.Mode = mode
	s.Timeout = 500 * time.Millisecond
	s.RetryAfter = 150 * time.Millisecond
	s.RetryMaxBackoff = time.Second
	s.EmailConsumers, s.AnalyticsConsumers = 4, 4
	return s
}

// testOptions are the options test sandboxes use unless a test says more.
func testOptions(settings Settings) Options {
	return Options{
		Settings: &settings, Logger: quietLogger(), Block: 50 * time.Millisecond,
		Breaker:      BreakerPolicy{Failures: 5, Cooldown: 100 * time.Millisecond},
		GroupBreaker: BreakerPolicy{Cooldown: 100 * time.Millisecond},
	}
}

// newSandbox opens a sandbox on the test's Redis (real when REDIS_URL is set).
func newSandbox(t testing.TB, settings Settings) *Sandbox {
	t.Helper()
	return newSandboxOn(t, redistest.Open(t), settings)
}

func newSandboxOn(t testing.TB, db *redisdb.DB, settings Settings) *Sandbox {
	t.Helper()
	return openSandbox(t, db, testOptions(settings))
}

// openSandbox opens a sandbox with opt on a fresh id and closes it with the
// test.
func openSandbox(t testing.TB, db *redisdb.DB, opt Options) *Sandbox {
	t.Helper()
	sb, err := New(context.Background(), db.Client, redistest.Sandbox(t, db.Client), opt)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sb.Close()) })
	return sb
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
