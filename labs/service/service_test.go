package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memLedger is a ledger in memory, enough to watch what a service applied.
type memLedger struct {
	mu      sync.Mutex
	keys    map[string]bool
	repeats map[string]int64
}

func (l *memLedger) ApplyEffect(_ context.Context, _, userID, key string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if key == "" {
		l.repeats[userID]++
		return l.repeats[userID], nil
	}
	if l.keys[key] {
		return -1, nil
	}
	l.keys[key] = true
	return 1, nil
}

func (l *memLedger) applied() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.keys)
	for _, c := range l.repeats {
		n += int(c)
	}
	return n
}

type testService struct {
	*Service
	ledger *memLedger
	faults atomic.Pointer[Faults]
}

func start(t *testing.T, f Faults) *testService {
	t.Helper()
	ts := &testService{ledger: &memLedger{keys: map[string]bool{}, repeats: map[string]int64{}}}
	ts.faults.Store(&f)
	svc, err := Start(Config{
		Name: "email", Ledger: ts.ledger, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Faults:     func() Faults { return *ts.faults.Load() },
		Idempotent: func() bool { return true },
		Observe:    func(string, Request, int64, string) {},
	})
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	ts.Service = svc
	return ts
}

func call(c *Client, url string, timeout time.Duration, key string) error {
	_, err := c.Call(context.Background(), "email", url, timeout, Request{UserID: "u1", Email: "u1@example.com"}, key, "")
	return err
}

func TestFailuresAreClassifiedAndSaidInPlainWords(t *testing.T) {
	c := NewClient()
	status := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, body, code) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String()
	ln.Close()
	hang := start(t, Faults{Hang: true})

	for _, tc := range []struct {
		name, url string
		permanent bool
		says      string
	}{
		{"down", refused, false, "the email service refused the connection (it is down)"},
		{"timeout", hang.URL(), false, "the email service did not answer within 50ms"},
		{"503", status(503, "injected failure"), false, "the email service answered 503: injected failure"},
		{"429", status(429, "slow down"), false, "the email service answered 429: slow down"},
		{"400", status(400, "no such user"), true, "the email service rejected the request with 400: no such user"},
		{"unreadable", status(200, "not json"), false, "the email service's answer could not be read"},
	} {
		err := call(c, tc.url, 50*time.Millisecond, "k")
		var f *Failure
		require.ErrorAs(t, err, &f, tc.name)
		assert.Equal(t, tc.permanent, Permanent(err), tc.name)
		assert.Contains(t, err.Error(), tc.says, tc.name)
	}
	assert.True(t, errors.Is(call(c, hang.URL(), 10*time.Millisecond, "k"), context.DeadlineExceeded), "a timeout is still a deadline")
	assert.False(t, Permanent(errors.New("anything else")), "unknown errors are worth a retry")
}

func TestAHangingServiceHoldsARequestOnlyWhileItsCallerWaits(t *testing.T) {
	svc := start(t, Faults{Hang: true})
	c := NewClient()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.Error(t, call(c, svc.URL(), 100*time.Millisecond, "k")) })
	}
	require.Eventually(t, func() bool { return svc.InFlight() == 4 }, 2*time.Second, 5*time.Millisecond, "the calls arrived")
	wg.Wait()
	require.Eventually(t, func() bool { return svc.InFlight() == 0 }, 2*time.Second, 5*time.Millisecond,
		"the handlers let go when the callers gave up, long before the sandbox closes")
	assert.Zero(t, svc.ledger.applied(), "a hung request never takes effect")
}

func TestSlowWorkTakesEffectAfterTheCallerGaveUp(t *testing.T) {
	svc := start(t, Faults{Latency: 150 * time.Millisecond})
	err := call(NewClient(), svc.URL(), 20*time.Millisecond, "k")
	require.Error(t, err)
	require.Eventually(t, func() bool { return svc.ledger.applied() == 1 }, 2*time.Second, 5*time.Millisecond,
		"the service finished its work although nobody waited for the answer")
}

func TestDownRefusesConnectionsAndComesBackOnItsAddress(t *testing.T) {
	svc := start(t, Faults{})
	c := NewClient()
	require.NoError(t, call(c, svc.URL(), time.Second, "a"))
	require.NoError(t, svc.SetDown(true))
	c.CloseIdleConnections()
	err := call(c, svc.URL(), time.Second, "b")
	var f *Failure
	require.ErrorAs(t, err, &f)
	assert.Equal(t, Refused, f.Kind)
	require.NoError(t, svc.SetDown(false))
	require.NoError(t, call(c, svc.URL(), time.Second, "b"))
	require.NoError(t, call(c, svc.URL(), time.Second, "b"), "a repeated key is answered")
	assert.Equal(t, 2, svc.ledger.applied(), "and applied once")
}

// A service sent down the moment it started refuses connections at once;
// its listener is not left open until the server's goroutine runs (a
// connection made then waited in the backlog and was reset, not refused).
func TestDownAtOnceAfterStartRefuses(t *testing.T) {
	for range 100 {
		svc, err := Start(Config{Name: "email", Log: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, svc.SetDown(true))
		conn, err := net.DialTimeout("tcp", svc.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		svc.Close()
	}
}
