package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestServeExitsWithinItsShutdownBudgetWhenRedisHangs(t *testing.T) {
	// A Redis of the test's own (serve needs a real one to check its
	// version), reached through a proxy that can hang.
	srv := redistest.StartServer(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	url := "redis://" + proxy.Addr() + "/0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "", "--redis-url", url,
			"--shutdown-timeout", "2s"}, &out, &errb)
	}()
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, errb.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve never printed its address; stderr: %s", errb.String())
		base = re.FindString(out.String())
	}

	// Three learners open their labs.
	for range 3 {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		res, err := c.Get(base + "/labs")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}

	proxy.Hang()
	time.Sleep(200 * time.Millisecond) // the labs' consumers are stuck in commands now
	start := time.Now()
	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case <-done:
		took := time.Since(start)
		t.Logf("serve exited %v after the stop signal with Redis hung", took.Round(time.Millisecond))
		assert.Less(t, took, 5*time.Second, "the 2 s budget, and a little for closing the client")
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not exit with Redis hung; stderr: %s", errb.String())
	}
	assert.Contains(t, errb.String(), "labs closed")
}

func TestServeDefaultsFitTheOpenFileLimit(t *testing.T) {
	// A machine with ulimit -n 1024: the room's lab loads (up to six
	// descriptors per signup in flight) and the visitors' connections stay
	// within it, with room left for Redis and the process.
	assert.Equal(t, 85, defaultLabInflight(1024))
	assert.Equal(t, 64, defaultLabMax(1024))
	assert.Equal(t, 200, defaultLabMax(1<<20))
	assert.Equal(t, 200, defaultLabMax(0))
	assert.Equal(t, 512, defaultMaxConns(1024))
	// Plenty of files, or a limit that cannot be read: the caps.
	assert.Equal(t, 512, defaultLabInflight(1<<20))
	assert.Equal(t, 4096, defaultMaxConns(1<<20))
	assert.Equal(t, 512, defaultLabInflight(0))
	assert.Equal(t, 4096, defaultMaxConns(0))
	// Absurdly low limits still leave a usable lab.
	assert.Equal(t, 16, defaultLabInflight(256))
	assert.Equal(t, 128, defaultMaxConns(256))
}
