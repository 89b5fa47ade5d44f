package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
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

// runCLI runs the command line in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^crossroads \S+ \(go1\.\d+`, out)
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"serve", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"serve", "--addr", "nowhere"}, "--addr"},
		{[]string{"serve", "extra"}, "takes no arguments"},
		{[]string{"--log-level", "loud", "version"}, "--log-level"},
		{[]string{"serve", "--metrics-addr", "nowhere"}, "--metrics-addr"},
		{[]string{"serve", "--trusted-proxies", "10.0.0.0/8,proxy"}, "--trusted-proxies"},
		{[]string{"serve", "--rate-sandboxes", "lots"}, "--rate-sandboxes"},
		{[]string{"serve", "--rate-saves", "0/m"}, "--rate-saves"},
		{[]string{"serve", "--rate-imports", "5/fortnight"}, "--rate-imports"},
		{[]string{"serve", "--rate-uploads", "5"}, "--rate-uploads"},
		{[]string{"serve", "--redis-pool", "0"}, "--redis-pool"},
		{[]string{"serve", "--lab-inflight", "0"}, "--lab-inflight"},
		{[]string{"serve", "--lab-per-address", "-1"}, "--lab-per-address"},
		{[]string{"serve", "--lab-max-users", "5"}, "--lab-max-users"},
		{[]string{"serve", "--shutdown-timeout", "0s"}, "--shutdown-timeout"},
		{[]string{"version", "x"}, "takes no arguments"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, stderr, tc.want, tc.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	}
}

// TestMain lets a test run the real program in a child process (see
// runMain): go-redis and others write to the process's own stderr, which the
// in-process runCLI does not capture.
func TestMain(m *testing.M) {
	if os.Getenv("CROSSROADS_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runMain runs this test binary as the crossroads program with args and
// returns its exit code, stdout and stderr.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CROSSROADS_TEST_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func TestServeRefusesUnreachableRedis(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()

	code, _, stderr := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--redis-url", "redis://"+addr+"/0")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "unreachable")
	assert.Contains(t, stderr, addr)

	// The whole process says it in one line: no go-redis pool lines first.
	code, _, stderr = runMain(t, "serve", "--addr", "127.0.0.1:0", "--metrics-addr", "", "--redis-url", "redis://"+addr+"/0")
	assert.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	assert.Len(t, lines, 1, "one line of error, got:\n%s", stderr)
	assert.Regexp(t, `^crossroads: redis at `+regexp.QuoteMeta(addr)+` is unreachable: `, lines[0])
}

func TestServeRunsAndStopsOnSignal(t *testing.T) {
	t.Setenv("REDIS_URL", "") // the README's first command: embedded Redis
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, &out, &errb)
	}()

	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	var base string
	require.Eventually(t, func() bool { base = re.FindString(out.String()); return base != "" },
		10*time.Second, 20*time.Millisecond, "serve never printed its address; stderr: %s", errb.String())

	res, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	res, err = http.Get(base + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Contains(t, string(body), "embedded Redis")
	assert.Contains(t, errb.String(), "embedded Redis", "the log says which Redis is used")

	// Metrics are on their own listener, not on the public one.
	res, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	m := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(errb.String())
	require.NotNil(t, m, "the log names the metrics address: %s", errb.String())
	res, err = http.Get(m[1])
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "crossroads_http_request_duration_seconds")

	cancel() // what SIGINT does through signal.NotifyContext
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "stderr: %s", errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	code, out, _ := runCLI(t, "healthcheck", "--url", srv.URL+"/healthz")
	assert.Equal(t, 0, code)
	assert.Equal(t, "ok\n", out)
	code, _, stderr := runCLI(t, "healthcheck", "--url", srv.URL+"/readyz")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "status 503")
	code, _, stderr = runCLI(t, "healthcheck", "--url", "ftp://x")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--url")
}
