package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestLabRunBadFlagsExitTwoNamingTheFlag(t *testing.T) {
	for _, tc := range []struct{ args, flag string }{
		{"--mode later", "--mode"},
		{"--signups 0", "--signups"},
		{"--signups 100001", "--signups"},
		{"--signups many", "--signups"},
		{"--concurrency 1001", "--concurrency"},
		{"--email-error-rate 1.5", "--email-error-rate"},
		{"--analytics-error-rate -0.1", "--analytics-error-rate"},
		{"--email-latency -1s", "--email-latency"},
		{"--analytics-latency 1h", "--analytics-latency"},
		{"--timeout 0s", "--timeout"},
		{"--crash-rate 2", "--crash-rate"},
		{"--publish twice", "--publish"},
		{"--publish-error-rate 1.01", "--publish-error-rate"},
		{"--recover-after -1s", "--recover-after"},
		{"--drain-timeout -1s", "--drain-timeout"},
		{"--drain-timeout 0s", "--drain-timeout"},
		{"--rate -5", "--rate"},
		{"--duration 11m", "--duration"},
		{"--consumers 65", "--consumers"},
		{"--max-deliveries -1", "--max-deliveries"},
		{"--max-deliveries 0 --max-retry-age 0", "--max-deliveries"},
		{"--retry-max-backoff 10ms", "--retry-max-backoff"},
		{"--max-retry-age 10ms", "--max-retry-age"},
		{"--lease 5ms", "--lease"},
		{"--rate 1e-12", "--rate"},
		{"--rate 0.001 --signups 2", "--rate"},
		{"--poison 101", "--poison"},
		{"--sandbox a{b}", "--sandbox"},
	} {
		args := append([]string{"lab", "run"}, strings.Fields(tc.args)...)
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Empty(t, stdout, tc.args)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		assert.Len(t, lines, 1, "%s: one line: %q", tc.args, stderr)
		assert.Contains(t, stderr, tc.flag, tc.args)
	}
}

// labJSON runs `lab run --json` and decodes the object it prints.
func labJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"lab", "run", "--json", "--log-level", "warn"}, args...)...)
	require.Equal(t, 0, code, stderr)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stdout), "\n")+1, "one JSON object on one line")
	return out
}

func TestLabRunJSONHasEveryContractField(t *testing.T) {
	out := labJSON(t, "--signups", "40", "--concurrency", "4", "--retry-after", "200ms")
	for _, f := range []string{"mode", "signups_attempted", "signups_succeeded", "signups_failed", "latency_ms",
		"throughput_per_s", "duration_s", "effect_latency_ms", "emails_sent", "email_duplicates", "analytics_events",
		"retries", "redeliveries", "dead_lettered", "max_consumer_lag", "lost", "orphaned_users",
		"in_flight", "dlq_total", "emails_for_failed_signups", "max_pending", "paused_s", "drain_s", "poison",
		"consumer_crashes", "drained", "sandbox", "redis"} {
		assert.Contains(t, out, f)
	}
	for _, q := range []string{"latency_ms", "effect_latency_ms"} {
		m, ok := out[q].(map[string]any)
		require.True(t, ok, q)
		for _, k := range []string{"p50", "p95", "p99", "max"} {
			assert.Contains(t, m, k, q)
		}
	}
	assert.Equal(t, "async", out["mode"])
	assert.EqualValues(t, 40, out["signups_succeeded"])
	assert.EqualValues(t, 40, out["emails_sent"])
	assert.EqualValues(t, 0, out["lost"])
	assert.EqualValues(t, 0, out["email_duplicates"])
}

func TestLabRunEmailDownSyncVersusAsync(t *testing.T) {
	sync := labJSON(t, "--mode", "sync", "--email-down", "--signups", "30", "--concurrency", "4")
	assert.EqualValues(t, 30, sync["signups_failed"])
	assert.Equal(t, sync["signups_failed"], sync["orphaned_users"])

	async := labJSON(t, "--mode", "async", "--email-down", "--recover-after", "300ms", "--retry-after", "100ms",
		"--signups", "30", "--concurrency", "4")
	assert.EqualValues(t, 30, async["signups_succeeded"])
	assert.Equal(t, async["signups_succeeded"], async["emails_sent"])
	assert.EqualValues(t, 0, async["lost"])
	assert.EqualValues(t, 0, async["email_duplicates"])
	assert.EqualValues(t, 0, async["orphaned_users"])
}

// Flags that do nothing in the chosen mode are accepted with a one-line
// warning each, so a learner is not misled into thinking they mattered.
func TestLabRunWarnsAboutFlagsThatDoNothingInTheMode(t *testing.T) {
	code, _, stderr := runCLI(t, "lab", "run", "--mode", "sync", "--crash-rate", "0.1", "--publish", "naive",
		"--signups", "2", "--concurrency", "1", "--log-level", "warn")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "warning: --crash-rate: ")
	assert.Contains(t, stderr, "warning: --publish: ")
	code, _, stderr = runCLI(t, "lab", "run", "--breaker", "--signups", "2", "--concurrency", "1", "--log-level", "warn")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "warning: --breaker: "), stderr)
}

func TestLabRunPrintsAReadableSummary(t *testing.T) {
	code, stdout, stderr := runCLI(t, "lab", "run", "--mode", "sync", "--signups", "10", "--concurrency", "2", "--log-level", "warn")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Lab run: sync mode, 10 signups")
	assert.Contains(t, stdout, "10 succeeded")
	assert.Contains(t, stdout, "Orphans")
	assert.Regexp(t, `Latency\s+p50 [0-9.]+ ms`, stdout)
}

func TestWorkerRefusesEmbeddedRedis(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	code, _, stderr := runCLI(t, "worker")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "REDIS_URL")
	code, _, stderr = runCLI(t, "worker", "--redis-url", "redis://127.0.0.1:1/0", "--consumers", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--consumers")
}

// A worker started while its Redis is down (an orchestrator starting both,
// or a Redis restart) waits for it and joins once it answers; with
// --redis-wait 0 it gives up at once, exit code 1.
func TestWorkerWaitsForItsRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	srv.Stop()
	url := "redis://" + srv.Addr + "/0"

	code, _, stderr := runCLI(t, "worker", "--redis-url", url, "--redis-wait", "0")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "unreachable")
	code, _, stderr = runCLI(t, "worker", "--redis-url", url, "--redis-wait", "-1s")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--redis-wait")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--redis-url", url, "--redis-wait", "30s", "--sandbox", "waiting"}, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "waiting for redis") }, 10*time.Second, 10*time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("the worker gave up (exit %d) instead of waiting:\n%s", code, errb.String())
	case <-time.After(500 * time.Millisecond):
	}
	srv.Start()
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "worker joined") }, 10*time.Second, 10*time.Millisecond)
	stop()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop after the signal")
	}
}

// A worker joins a sandbox's groups, processes what `lab run` publishes,
// and stops cleanly on a signal.
func TestWorkerSharesTheWorkAndStopsOnSignal(t *testing.T) {
	if !redistest.Real() {
		t.Skip("a worker needs a real Redis (REDIS_URL) to share work across processes")
	}
	db := redistest.Open(t)
	id := redistest.Sandbox(t, db.Client)
	ctx, stop := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--sandbox", id, "--consumers", "2", "--retry-after", "200ms"}, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "worker joined") }, 10*time.Second, 10*time.Millisecond)
	res := labJSON(t, "--sandbox", id, "--consumers", "0", "--signups", "50", "--concurrency", "4")
	assert.EqualValues(t, 50, res["emails_sent"], "the worker sent every email")
	assert.EqualValues(t, 0, res["lost"])
	assert.EqualValues(t, 0, res["email_duplicates"])
	stop()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop after the signal")
	}
	assert.Contains(t, errb.String(), "worker stopped")
}
