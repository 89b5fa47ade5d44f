//go:build chaos

package labs

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// The chaos soak (issue 13): 20,000 async signups while consumers crash,
// email fails 30 % of the time and goes down for a minute, analytics hangs
// past its timeout, `crossroads worker` processes are killed with SIGKILL
// and replaced, and Redis (appendonly, fsync always) is restarted once. At
// the end nothing may be lost or sent twice, every event must be processed
// or dead-lettered with a reason, nothing may stay pending, no entry may
// have passed its delivery budget, and no goroutine may be left behind.
//
// Run it with
//
//	go test -tags chaos -count=1 -run TestChaos -v -timeout 8m ./labs/
//
// CHAOS_SEED=<n> replays a schedule: the seed fixes when each fault
// strikes, for how long and which worker is killed. What it cannot fix is
// the engine's own dice (which calls fail at 30 %, which consumer crashes)
// and the machine's timing, so a failure a seed found may need a few runs
// to reappear; the seed is printed at the start and again on failure.

const (
	chaosSignups  = 20_000
	chaosRate     = 200 // signups per second: the load lasts 100 s
	chaosBound    = 5 * time.Minute
	chaosWorkers  = 2
	chaosBudget   = 8
	chaosTimeout  = 500 * time.Millisecond
	chaosOutage   = time.Minute
	chaosLoadTime = time.Duration(chaosSignups/chaosRate) * time.Second
)

func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q is not a number: %v", s, err)
		}
		seed = n
	}
	t.Logf("CHAOS_SEED=%d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the schedule of this run is replayed by: CHAOS_SEED=%d go test -tags chaos -count=1 -run TestChaos -v -timeout 8m ./labs/", seed)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	bin := buildCrossroads(t)
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	logDir := t.TempDir()
	mainLog, err := os.Create(filepath.Join(logDir, "sandbox.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer mainLog.Close()
	db, err := redisdb.Open(context.Background(), srv.URL(), redisdb.Options{})
	if err != nil {
		t.Fatalf("open the soak's redis: %v", err)
	}
	dbOpen := true
	defer func() {
		if dbOpen {
			db.Close()
		}
	}()

	s := DefaultSettings()
	s.Email.ErrorRate = 0.3
	s.Timeout = chaosTimeout
	s.RetryAfter = 200 * time.Millisecond
	s.RetryMaxBackoff = 5 * time.Second
	s.MaxDeliveries = chaosBudget
	s.MaxRetryAge = 10 * time.Minute
	s.Lease = time.Second
	s.EmailConsumers, s.AnalyticsConsumers = 4, 4
	id := "chaos"
	sb, err := New(context.Background(), db.Client, id, Options{
		Settings: &s, Logger: slog.New(slog.NewTextHandler(mainLog, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Storage: Storage{Users: 2 * chaosSignups, Stream: 2 * chaosSignups, Dead: chaosSignups},
	})
	if err != nil {
		t.Fatalf("open the soak's sandbox: %v", err)
	}
	sbOpen := true
	defer func() {
		if sbOpen {
			sb.Close()
		}
	}()

	workers := &workerPool{t: t, bin: bin, dir: logDir, args: []string{
		"worker", "--sandbox", id, "--redis-url", srv.URL(), "--consumers", "2", "--log-level", "info",
		"--timeout", chaosTimeout.String(), "--max-deliveries", strconv.Itoa(chaosBudget),
		"--retry-after", s.RetryAfter.String(), "--retry-max-backoff", s.RetryMaxBackoff.String(),
		"--max-retry-age", s.MaxRetryAge.String(), "--lease", s.Lease.String(),
		// Consumers crash now and then in every worker, and analytics takes
		// up to 700 ms where the timeout is 500 ms: about 3 calls in 10 hang
		// past it.
		"--crash-rate", "0.02", "--analytics-jitter", "700ms",
	}}
	defer workers.stopAll(syscall.SIGKILL)
	for range chaosWorkers {
		workers.start("0.3")
	}

	plan := chaosPlan(rng)
	for _, e := range plan {
		t.Logf("plan: %6.1f s  %s", e.at.Seconds(), e.what)
	}

	budget := &deliveryWatch{c: db.Client, key: stream.EventsKey(id)}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watched sync.WaitGroup
	watched.Go(func() { budget.run(watchCtx) })

	ctx, cancel := context.WithTimeout(context.Background(), chaosBound)
	defer cancel()
	start := time.Now()
	type outcome struct {
		res Result
		err error
	}
	ran := make(chan outcome, 1)
	go func() {
		res, err := sb.Run(ctx, LoadSpec{Signups: chaosSignups, Concurrency: 64, Rate: chaosRate, DrainTimeout: 150 * time.Second})
		ran <- outcome{res, err}
	}()

	// The faults strike on this goroutine, one after the other, so a Redis
	// restart never overlaps a worker's start.
	var restarts, kills int
	emailRate := "0.3"
	for _, e := range plan {
		if wait := time.Until(start.Add(e.at)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		switch e.kind {
		case faultCrashes:
			_, err = sb.Update(func(s *Settings) { s.CrashRate = e.rate })
		case faultAnalyticsHang:
			_, err = sb.Update(func(s *Settings) { s.Analytics.Hang = e.on })
		case faultEmailDown:
			// The workers' own email services fail every call while the
			// sandbox's is down: the outage is everyone's.
			if _, err = sb.Update(func(s *Settings) { s.Email.Down = e.on }); err == nil {
				emailRate = map[bool]string{true: "1", false: "0.3"}[e.on]
				kills += workers.replaceAll(emailRate)
			}
		case faultKillWorker:
			workers.kill(rng.IntN(chaosWorkers))
			workers.start(emailRate)
			kills++
		case faultRestartRedis:
			srv.Stop()
			time.Sleep(e.down)
			srv.Start()
			restarts++
		}
		if err != nil {
			t.Errorf("%s: %v", e.what, err)
		}
	}
	out := <-ran
	soak := time.Since(start)
	stopWatch()
	watched.Wait()
	res := out.res
	if out.err != nil {
		t.Fatalf("the soak's run: %v", out.err)
	}

	// What Redis says, across every process that worked on the sandbox.
	actx, cancelAudit := context.WithTimeout(context.Background(), time.Minute)
	defer cancelAudit()
	tot, err := sb.Totals(actx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sb.store.ReadState(actx, Groups)
	if err != nil {
		t.Fatal(err)
	}
	var dead []stream.DeadLetter
	for before := ""; ; {
		page, next, err := sb.store.DeadLetters(actx, stream.DeadQuery{Limit: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, page...)
		if next == "" {
			break
		}
		before = next
	}
	processed := map[string]int64{}
	deadIDs := map[string]int64{}
	for _, g := range Groups {
		if processed[g], err = db.Client.SCard(actx, stream.DoneKey(id, g)).Result(); err != nil {
			t.Fatal(err)
		}
		if deadIDs[g], err = db.Client.HLen(actx, stream.DeadIDsKey(id, g)).Result(); err != nil {
			t.Fatal(err)
		}
	}
	c := sb.Counters()

	// Graceful stops: workers first (they hand back nothing now: all is
	// done), then the sandbox and the client, so that goleak sees only
	// what was left behind.
	exits := workers.stopAll(syscall.SIGTERM)
	sbOpen = false
	if err := sb.Close(); err != nil {
		t.Errorf("close the sandbox: %v", err)
	}
	dbOpen = false
	db.Close()

	byCode := map[string]int{}
	unexplained, overBudget := 0, 0
	for _, dl := range dead {
		byCode[dl.Group+":"+dl.Code]++
		if dl.Code == "" || dl.Reason == "" {
			unexplained++
		}
		if dl.Deliveries > chaosBudget {
			overBudget++
		}
	}
	codes := make([]string, 0, len(byCode))
	for k, v := range byCode {
		codes = append(codes, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(codes)
	var pending []string
	for _, g := range st.Groups {
		pending = append(pending, fmt.Sprintf("%s pending=%d waiting=%d behind=%v", g.Name, g.Pending, g.Waiting, st.Behind(g)))
	}
	t.Logf(`chaos soak figures (CHAOS_SEED=%d), %s, redis %s:
  signups            attempted %d, succeeded %d, failed %d (%.0f/s)
  users              %d (stored although the signup failed: %d, of which the API could record %d)
  lost               %d
  email              sent %d, duplicates %d (run audit %d)
  analytics          %d users tracked
  processed          email %d, analytics %d
  dead-lettered      email %d, analytics %d  [%s]
  in flight at end   %d; unfinished (totals) %d
  pending at end     %s
  budget             max delivery count seen pending %d, dead letters over the budget %d, without a reason %d (budget %d)
  this process       retries %d, redeliveries %d, consumer crashes %d, deduplicated %d
  faults             redis restarts %d, worker SIGKILLs %d, workers that died by themselves %d
  drain              %.1f s (drained %v); paused %v`,
		seed, soak.Round(time.Second), db.Version,
		res.SignupsAttempted, res.SignupsSucceeded, res.SignupsFailed, res.ThroughputPerS,
		tot.Users, tot.Users-res.SignupsSucceeded, res.OrphanedUsers,
		res.Lost,
		tot.EmailsSent, tot.EmailDuplicates, res.EmailDuplicates,
		tot.AnalyticsEvents,
		processed[ServiceEmail], processed[ServiceAnalytics],
		deadIDs[ServiceEmail], deadIDs[ServiceAnalytics], strings.Join(codes, " "),
		res.InFlight, tot.Unfinished,
		strings.Join(pending, "; "),
		budget.max(), overBudget, unexplained, chaosBudget,
		c.Retries, c.Redeliveries, c.Crashes, c.Deduplicated,
		restarts, kills, exits,
		res.DrainS, res.Drained, res.PausedS)

	check := func(ok bool, format string, args ...any) {
		if !ok {
			t.Errorf(format, args...)
		}
	}
	check(res.SignupsAttempted == chaosSignups, "attempted %d signups, want %d", res.SignupsAttempted, chaosSignups)
	check(restarts == 1, "redis restarted %d times, want once", restarts)
	check(res.Drained, "the run did not drain within its timeout")
	check(res.Lost == 0, "lost = %d, want 0", res.Lost)
	check(res.EmailDuplicates == 0 && tot.EmailDuplicates == 0, "email duplicates: run %d, totals %d; want 0", res.EmailDuplicates, tot.EmailDuplicates)
	check(res.InFlight == 0 && tot.Unfinished == 0, "events neither processed nor dead-lettered: run %d, totals %d", res.InFlight, tot.Unfinished)
	for _, g := range Groups {
		check(processed[g]+deadIDs[g] == tot.Users, "group %s: processed %d + dead-lettered %d != %d users", g, processed[g], deadIDs[g], tot.Users)
	}
	check(int64(len(dead)) == deadIDs[ServiceEmail]+deadIDs[ServiceAnalytics], "%d dead letters on the stream, %d recorded", len(dead), deadIDs[ServiceEmail]+deadIDs[ServiceAnalytics])
	check(unexplained == 0, "%d dead letters without a code or reason", unexplained)
	for _, g := range st.Groups {
		check(g.Pending == 0 && g.Waiting == 0 && !st.Behind(g), "group %s: pending %d, waiting %d, behind %v at the end", g.Name, g.Pending, g.Waiting, st.Behind(g))
	}
	check(budget.max() <= chaosBudget && overBudget == 0, "an entry passed its budget of %d: max pending count %d, %d dead letters over it", chaosBudget, budget.max(), overBudget)
	check(exits == 0, "%d worker processes died by themselves (see their logs)", exits)
	check(soak < chaosBound, "the soak took %v, longer than %v", soak, chaosBound)
	if t.Failed() {
		t.Logf("sandbox log (tail):\n%s", tail(filepath.Join(logDir, "sandbox.log"), 40))
		workers.logTails()
	}
	goleak.VerifyNone(t, leakOptions...)
}

type faultKind int

const (
	faultCrashes faultKind = iota
	faultAnalyticsHang
	faultEmailDown
	faultKillWorker
	faultRestartRedis
)

// fault is one step of the schedule: at this offset from the load's start,
// set crash rate, analytics hang or email down (on), kill a worker, or
// restart Redis for down.
type fault struct {
	at   time.Duration
	kind faultKind
	on   bool
	rate float64
	down time.Duration
	what string
}

// chaosPlan draws the schedule from rng. Crash and hang windows each take
// one third of the load's 90 s at most, so windows of a kind never
// overlap; the outage starts within the first 35 s so it ends while the
// load still runs.
func chaosPlan(rng *rand.Rand) []fault {
	sec := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(time.Second))
	}
	var plan []fault
	for slot := range 3 {
		base := float64(slot * 30)
		at, length := sec(base, base+15), sec(5, 15)
		rate := 0.05 + rng.Float64()*0.15
		plan = append(plan,
			fault{at: at, kind: faultCrashes, rate: rate, what: fmt.Sprintf("consumers crash at %.0f %%", rate*100)},
			fault{at: at + length, kind: faultCrashes, what: "consumers stop crashing"})
		at, length = sec(base, base+20), sec(2, 8)
		plan = append(plan,
			fault{at: at, kind: faultAnalyticsHang, on: true, what: "analytics hangs"},
			fault{at: at + length, kind: faultAnalyticsHang, what: "analytics answers again"})
	}
	down := sec(10, 35)
	plan = append(plan,
		fault{at: down, kind: faultEmailDown, on: true, what: "email goes down (workers' email fails every call)"},
		fault{at: down + chaosOutage, kind: faultEmailDown, what: "email is back"})
	for range 3 {
		plan = append(plan, fault{at: sec(5, 95), kind: faultKillWorker, what: "SIGKILL a worker, start another"})
	}
	plan = append(plan, fault{at: sec(5, 90), kind: faultRestartRedis, down: sec(0.5, 3), what: "restart redis"})
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	for i := range plan {
		if plan[i].kind == faultRestartRedis {
			plan[i].what = fmt.Sprintf("restart redis (down %.1f s)", plan[i].down.Seconds())
		}
	}
	return plan
}

// buildCrossroads builds the command from the module root into a temp dir.
func buildCrossroads(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(t.TempDir(), "crossroads")
	build := exec.Command("go", "build", "-o", bin, "./cmd/crossroads")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crossroads: %v\n%s", err, out)
	}
	return bin
}

// workerPool runs `crossroads worker` processes: chaosWorkers slots, each
// holding one process at a time.
type workerPool struct {
	t    *testing.T
	bin  string
	dir  string
	args []string

	mu      sync.Mutex
	slots   []*workerProc
	all     []*workerProc
	started int
}

type workerProc struct {
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
	err    error
	killed bool // by the test: its exit is expected
}

// start runs a worker whose email fails at emailRate, in the first free
// slot.
func (p *workerPool) start(emailRate string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started++
	log := filepath.Join(p.dir, fmt.Sprintf("worker-%d.log", p.started))
	f, err := os.Create(log)
	if err != nil {
		p.t.Fatalf("worker log: %v", err)
	}
	defer f.Close()
	cmd := exec.Command(p.bin, append(append([]string(nil), p.args...), "--email-error-rate", emailRate)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start a worker: %v", err)
	}
	w := &workerProc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		close(w.done)
	}()
	// A start ends when the worker has joined its groups, so that the next
	// fault (a Redis restart) never falls inside it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "worker joined") {
			break
		}
		select {
		case <-w.done:
			p.t.Errorf("worker-%d exited before it joined: %v\n%s", p.started, w.err, tail(log, 15))
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			p.t.Errorf("worker-%d did not join within 30 s:\n%s", p.started, tail(log, 15))
		}
		break
	}
	p.all = append(p.all, w)
	for i, s := range p.slots {
		if s == nil {
			p.slots[i] = w
			return
		}
	}
	p.slots = append(p.slots, w)
}

// kill sends SIGKILL to the worker in slot i and frees the slot.
func (p *workerPool) kill(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= len(p.slots) || p.slots[i] == nil {
		return
	}
	w := p.slots[i]
	p.slots[i] = nil
	w.killed = true
	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// replaceAll kills every worker with SIGKILL and starts as many whose email
// fails at emailRate; it returns how many it killed.
func (p *workerPool) replaceAll(emailRate string) int {
	n := 0
	for i := range chaosWorkers {
		p.kill(i)
		p.start(emailRate)
		n++
	}
	return n
}

// stopAll signals every worker still running, waits for them (SIGKILL after
// 20 s) and returns how many workers exited although nobody stopped them.
func (p *workerPool) stopAll(sig syscall.Signal) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.slots {
		if w == nil {
			continue
		}
		select {
		case <-w.done: // it exited by itself: counted below
			continue
		default:
		}
		w.killed = true
		w.cmd.Process.Signal(sig)
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			w.cmd.Process.Kill()
			<-w.done
		}
		if sig == syscall.SIGTERM && w.err != nil {
			p.t.Errorf("worker %d stopped with %v; log:\n%s", i, w.err, tail(w.log, 20))
		}
		p.slots[i] = nil
	}
	exits := 0
	for _, w := range p.all {
		if !w.killed {
			exits++
		}
	}
	return exits
}

func (p *workerPool) logTails() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.all {
		p.t.Logf("%s (killed by the test: %v, exit %v):\n%s", filepath.Base(w.log), w.killed, w.err, tail(w.log, 15))
	}
}

// deliveryWatch samples the pending lists and remembers the highest delivery
// count any entry had: it must never pass the budget.
type deliveryWatch struct {
	c   redis.UniversalClient
	key string
	mu  sync.Mutex
	top int64
}

func (b *deliveryWatch) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, g := range Groups {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			p, err := b.c.XPendingExt(cctx, &redis.XPendingExtArgs{Stream: b.key, Group: g, Start: "-", End: "+", Count: 20_000}).Result()
			cancel()
			if err != nil {
				continue // Redis restarting, or the group not there yet
			}
			b.mu.Lock()
			for _, e := range p {
				b.top = max(b.top, e.RetryCount)
			}
			b.mu.Unlock()
		}
	}
}

func (b *deliveryWatch) max() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.top
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
