package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// silentProxy forwards TCP to a Redis until hang is set; from then on it
// answers nothing, as a hung (SIGSTOPped) Redis looks to its clients.
type silentProxy struct {
	ln     net.Listener
	target string
	hang   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &silentProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.keep(in)
			if p.hang.Load() {
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.keep(out)
			p.wg.Go(func() { p.pipe(out, in) })
			p.wg.Go(func() { p.pipe(in, out) })
		}
	})
	t.Cleanup(p.close)
	return p
}

func (p *silentProxy) keep(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *silentProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.hang.Load() {
			io.Copy(io.Discard, src)
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *silentProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestServeExitsWithinItsShutdownBudgetWhenRedisHangs(t *testing.T) {
	// A Redis of the test's own (serve needs a real one to check its
	// version), reached through a proxy that can hang.
	srv := redistest.StartServer(t)
	proxy := newSilentProxy(t, srv.Addr)
	url := "redis://" + proxy.ln.Addr().String() + "/0"
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

	proxy.hang.Store(true)
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
