package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// instance is one `crossroads serve` process of several sharing a Redis.
type instance struct {
	base string
	cmd  *exec.Cmd
	log  string
}

// startInstance runs this test binary as `crossroads serve` on a port of its
// own, advertising it to the other instances, and waits until it is ready.
func startInstance(t *testing.T, redisURL string) *instance {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	in := &instance{base: "http://" + addr, log: filepath.Join(t.TempDir(), "serve.log")}
	logf, err := os.Create(in.log)
	require.NoError(t, err)
	t.Cleanup(func() { logf.Close() })
	in.cmd = exec.Command(os.Args[0], "serve", "--addr", addr, "--metrics-addr", "", "--redis-url", redisURL,
		"--lab-per-address", "0", "--rate-sandboxes", "off", "--advertise-url", in.base)
	in.cmd.Env = append(os.Environ(), "CROSSROADS_TEST_RUN_MAIN=1")
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	require.NoError(t, in.cmd.Start())
	t.Cleanup(in.kill)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(in.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(in.log)
			t.Fatalf("serve on %s never became ready: %v\n%s", addr, err, b)
		}
	}
}

// kill ends the process at once, as a crash or an OOM kill would: nothing
// is handed over, no lease released.
func (in *instance) kill() {
	if in.cmd.Process != nil && in.cmd.ProcessState == nil {
		in.cmd.Process.Kill()
		in.cmd.Wait()
	}
}

var labBaseRe = regexp.MustCompile(`/labs/s/(lab-[0-9a-f]{32})`)

// Two app instances on one Redis: a learner's requests reach either; the
// one not running the lab passes them on. When the instance running it is
// killed mid-run, the other takes the lab up — same sandbox, same settings —
// and the run's events are all delivered, none lost, none twice.
func TestALabSurvivesTheDeathOfItsInstance(t *testing.T) {
	srv := redistest.StartServer(t)
	a := startInstance(t, srv.URL())
	b := startInstance(t, srv.URL())
	jar, err := cookiejar.New(nil) // one jar: 127.0.0.1 cookies go to both ports
	require.NoError(t, err)
	client := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	get := func(base, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "application/json")
		res, err := client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	post := func(base, path string, form url.Values) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "fetch")
		req.Header.Set("Origin", base)
		res, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Less(t, res.StatusCode, 300, "POST %s: %s", path, body)
	}

	res, err := client.Get(a.base + "/labs")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	m := labBaseRe.FindStringSubmatch(string(page))
	require.NotNil(t, m, "the lab page names its sandbox")
	sb, path := m[1], m[0]

	// b is not running the lab: it passes the request on to a.
	code, body := get(b.base, path+"/snapshot")
	require.Equal(t, http.StatusOK, code, body)
	var snap struct {
		Snapshot struct {
			ID       string `json:"id"`
			Settings struct {
				Mode           string `json:"mode"`
				EmailConsumers int    `json:"email_consumers"`
			} `json:"settings"`
		} `json:"snapshot"`
		Runs int `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	assert.Equal(t, sb, snap.Snapshot.ID, "b answered with a's lab")

	// An async run whose emails take a while: one consumer, 100 ms each.
	post(a.base, path+"/settings", url.Values{"partial": {"1"}, "mode": {"async"}, "email_latency": {"100ms"}, "email_consumers": {"1"}})
	const signups = 120
	post(a.base, path+"/run", url.Values{"signups": {strconv.Itoa(signups)}, "concurrency": {"8"}})

	db, err := redisdb.Open(context.Background(), srv.URL(), redisdb.Options{})
	require.NoError(t, err)
	defer db.Close()
	store := stream.New(db.Client, sb)
	totals := func() stream.Totals {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tot, err := store.Totals(ctx, "email", "analytics")
		require.NoError(t, err)
		return tot
	}
	// Every signup is in, and emails are still being sent: kill a now.
	require.Eventually(t, func() bool {
		tot := totals()
		return tot.Users == signups && tot.Unfinished > signups/2
	}, 20*time.Second, 50*time.Millisecond, "the run's signups are stored while most emails wait")
	a.kill()
	killed := time.Now()
	t.Logf("killed the first instance with %+v", totals())

	// b takes the lab up once a's lease has run out (10 s at most).
	require.Eventually(t, func() bool {
		code, body = get(b.base, path+"/snapshot")
		return code == http.StatusOK
	}, 30*time.Second, 250*time.Millisecond, "b never took the lab up: %d %s", code, body)
	t.Logf("b took the lab up %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	assert.Equal(t, sb, snap.Snapshot.ID, "the same sandbox")
	assert.Equal(t, "async", snap.Snapshot.Settings.Mode, "with the learner's settings")
	assert.Equal(t, 1, snap.Snapshot.Settings.EmailConsumers)

	require.Eventually(t, func() bool { return totals().Unfinished == 0 }, 60*time.Second, 200*time.Millisecond,
		"b's consumers deliver what a left: %+v", totals())
	tot := totals()
	assert.EqualValues(t, signups, tot.Users)
	assert.EqualValues(t, signups, tot.EmailsSent, "every user got their email")
	assert.Zero(t, tot.EmailDuplicates, "and none twice")
	assert.EqualValues(t, signups, tot.AnalyticsEvents)
	logB, _ := os.ReadFile(b.log)
	assert.Contains(t, string(logB), "lab taken up", "b says it took the lab over")
}
