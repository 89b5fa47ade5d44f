package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
)

// pausableProxy forwards TCP to a Redis and can stop forwarding, as a
// paused (SIGSTOP) or hung server looks to its clients: connected, silent.
type pausableProxy struct {
	ln     net.Listener
	target string
	paused atomic.Bool
	closed atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newPausableProxy(t *testing.T, target string) *pausableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &pausableProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *pausableProxy) Addr() string { return p.ln.Addr().String() }

func (p *pausableProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is paused.
func (p *pausableProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.paused.Load() && !p.closed.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *pausableProxy) close() {
	p.closed.Store(true)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestReadyzAndLessonsKeepTheirDeadlinesWhenRedisHangs(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	p := newPausableProxy(t, m.Addr())
	c := redisdb.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { c.Close() })
	_, base := newTestServer(t, Config{Redis: c, Lessons: realCatalog(t),
		Ready: func(ctx context.Context) error { return c.Ping(ctx).Err() }})
	res, _ := get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = get(t, base+"/lessons") // a pooled connection now exists
	require.Equal(t, http.StatusOK, res.StatusCode)

	p.paused.Store(true)
	defer p.paused.Store(false)
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
