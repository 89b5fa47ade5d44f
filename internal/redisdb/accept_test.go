//go:build linux

package redisdb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer slog can write to from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureLog sends slog's default logger to a buffer for the test.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

// exhaustFDs lowers this process's soft RLIMIT_NOFILE and opens /dev/null
// until the kernel says "too many open files", as a lab load used to. It
// returns the files, to be closed to give the descriptors back.
func exhaustFDs(t *testing.T) []*os.File {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	// A low limit keeps the hoard small; the highest descriptor in use
	// plus a margin leaves room for what the test opens before exhausting.
	soft := uint64(len(entries)) + 64
	require.Less(t, soft, lim.Cur, "the test needs a soft fd limit above %d", soft)
	low := lim
	low.Cur = soft
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
	var hoard []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE, "opening files until the limit")
			break
		}
		hoard = append(hoard, f)
		require.Less(t, len(hoard), int(soft), "the fd limit was not reached")
	}
	return hoard
}

// ping sends PING on a raw connection, in RESP (miniredis takes no inline
// commands), and reads the reply.
func ping(conn net.Conn) (string, error) {
	if err := conn.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// The issue: miniredis stopped accepting for good on its first
// "accept4: too many open files", so the process had no Redis until it was
// restarted. The embedded server now waits such a spell out and answers
// again, with its data, once descriptors are back.
func TestEmbeddedRedisAcceptsAgainAfterFDExhaustion(t *testing.T) {
	logs := captureLog(t)
	ctx := context.Background()
	db, err := Open(ctx, "", Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Client.Set(ctx, "kept", "yes", 0).Err())

	hoard := exhaustFDs(t)
	release := func() {
		for _, f := range hoard {
			f.Close()
		}
		hoard = nil
	}
	defer release()

	// One descriptor back for the client's socket: the kernel completes the
	// connection on the listen queue, then the server's accept4 finds no
	// descriptor left for its end.
	hoard[len(hoard)-1].Close()
	hoard = hoard[:len(hoard)-1]
	conn, err := net.DialTimeout("tcp", db.Addr, time.Second)
	require.NoError(t, err, "dial the embedded redis with the last descriptor")
	defer conn.Close()
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "embedded redis cannot accept connections")
	}, 5*time.Second, 10*time.Millisecond, "accept failed while descriptors were exhausted; log:\n%s", logs.String())
	_, err = ping(conn)
	require.Error(t, err, "nobody serves the connection while accept fails")

	release()
	start := time.Now()
	// The connection queued during the spell is accepted once the pause
	// ends; a new client is served as well.
	var reply string
	require.Eventually(t, func() bool {
		reply, err = ping(conn)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, "the queued connection is answered after the spell; log:\n%s", logs)
	assert.Equal(t, "+PONG", reply)
	t.Logf("answered again %v after descriptors were released", time.Since(start).Round(time.Millisecond))

	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	require.NoError(t, db.Ready(rctx), "Ready (/readyz) reflects that Redis answers again")
	v, err := db.Client.Get(rctx, "kept").Result()
	require.NoError(t, err)
	assert.Equal(t, "yes", v, "data written before the spell is kept")
	assert.Contains(t, logs.String(), "embedded redis accepts connections again")
}

// Close does not wait out the pause between failed accepts.
func TestEmbeddedRedisClosesPromptlyWhileAcceptFails(t *testing.T) {
	captureLog(t)
	db, err := Open(context.Background(), "", Options{})
	require.NoError(t, err)
	hoard := exhaustFDs(t)
	defer func() {
		for _, f := range hoard {
			f.Close()
		}
	}()
	hoard[len(hoard)-1].Close()
	hoard = hoard[:len(hoard)-1]
	conn, err := net.DialTimeout("tcp", db.Addr, time.Second)
	require.NoError(t, err)
	defer conn.Close()
	// Let the pause grow towards its one-second ceiling.
	time.Sleep(1500 * time.Millisecond)

	start := time.Now()
	require.NoError(t, db.Close())
	assert.Less(t, time.Since(start), 500*time.Millisecond, "Close stops the accept loop during its pause")
	_, err = db.Client.Ping(context.Background()).Result()
	assert.True(t, errors.Is(err, net.ErrClosed) || err != nil, "the client is closed")
	require.NoError(t, db.Close(), "Close twice is harmless")
}
