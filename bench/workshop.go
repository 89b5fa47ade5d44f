package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

type workshopOpts struct {
	Participants int           `json:"participants"`
	Signups      int           `json:"signups_each"`
	Concurrency  int           `json:"concurrency_each"`
	Instances    int           `json:"instances"`
	KillAfter    time.Duration `json:"-"`
	Cap          time.Duration `json:"-"`
}

// failover is what the run with two instances, one killed, showed.
type failover struct {
	KilledAtS float64 `json:"killed_at_s"`
	// Moved is how many participants' labs ran in the killed instance;
	// TakenUp how many the other instance took up, the slowest after
	// TakeUpMaxS seconds.
	Moved      int     `json:"participants_moved"`
	TakenUp    int     `json:"labs_taken_up"`
	TakeUpMaxS float64 `json:"take_up_max_s"`
	// Their sandboxes' audit from Redis once drained.
	roomAudit
	NothingLost bool `json:"nothing_lost"`
}

// person is one participant: a cookie jar, a lab, an instance.
type person struct {
	name string
	c    *http.Client
	lab  string
	app  *app // the instance the participant's requests go to
}

// roomAudit sums the Redis audit of some sandboxes: every stored user, the
// emails sent for them, duplicates, and events still unfinished.
type roomAudit struct {
	Users      int64 `json:"users"`
	Emails     int64 `json:"emails_sent"`
	Duplicates int64 `json:"email_duplicates"`
	Unfinished int64 `json:"unfinished"`
}

// audit adds up the Redis audits of the participants' sandboxes.
func (a *roomAudit) audit(ctx context.Context, r *benchRedis, people []*person) error {
	for _, p := range people {
		tot, err := r.totals(ctx, sandboxOf(p.lab))
		if err != nil {
			return fmt.Errorf("audit the sandbox of %s: %w", p.name, err)
		}
		a.Users += tot.Users
		a.Emails += tot.EmailsSent
		a.Duplicates += tot.EmailDuplicates
		a.Unfinished += tot.Unfinished
	}
	return nil
}

type workshopReport struct {
	Machine machine      `json:"machine"`
	Options workshopOpts `json:"options"`
	// Joins: how long a join took (POST /join to its answer) and how long
	// until the open board showed the name.
	JoinP50        float64 `json:"join_p50_ms"`
	JoinMax        float64 `json:"join_max_ms"`
	JoinToBoardP50 float64 `json:"join_to_board_p50_ms"`
	JoinToBoardMax float64 `json:"join_to_board_max_ms"`
	HandToBoardP50 float64 `json:"hand_to_board_during_load_p50_ms"`
	HandToBoardMax float64 `json:"hand_to_board_during_load_max_ms"`
	HandsMeasured  int     `json:"hands_measured"`
	Attempted      int64   `json:"signups_attempted"`
	Succeeded      int64   `json:"signups_succeeded"`
	Emails         int64   `json:"emails_sent"`
	Duplicates     int64   `json:"email_duplicates"`
	Lost           int64   `json:"lost"`
	InFlight       int64   `json:"in_flight_at_drain_end"`
	// What the runs left in flight their sandboxes' consumers go on
	// delivering: the room is audited in Redis until every stored user's
	// email is sent (or the time runs out). DeliveredAllS is when the last
	// sandbox had finished, from the start of the runs (0: not within the
	// time); Final is the audit's sum then.
	DeliveredAllS    float64    `json:"delivered_all_s"`
	Final            *roomAudit `json:"final_audit,omitempty"`
	RunsFinished     int        `json:"runs_finished"`
	Seconds          float64    `json:"seconds_from_start_to_last_run"`
	PeakRSSMiB       float64    `json:"peak_rss_mib"`
	AllComplete      bool       `json:"all_complete"`
	BoardUnderSecond bool       `json:"board_under_1s"`
	RSSUnderGiB      bool       `json:"rss_under_1gib"`
	// Failover is set for --instances 2 --kill-after D: the second
	// instance is SIGKILLed D after the runs start.
	Failover *failover `json:"failover,omitempty"`
}

func workshopCmd(c *common) *cobra.Command {
	o := workshopOpts{}
	cmd := &cobra.Command{
		Use:   "workshop",
		Short: "a room of participants joins a workshop and each runs an async load in their own sandbox",
		Long: `workshop builds crossroads, starts "crossroads serve" on loopback against the Redis (a private
redis-server unless --redis-url), creates a workshop and keeps its board open over SSE as a facilitator
would, then --participants clients join (cookie jar each), open their lab and all start an async run of
--signups signups at once. It reports how long the board took to show each join and, during the load, each
raised hand; whether every run completed with nothing lost; and the app process's peak RSS (from /proc).

With --instances 2 two serve processes share the Redis (each advertising its address), the participants
split between them; with --kill-after D the second is SIGKILLed D after the runs start, its participants
carry on against the first (as a proxy would send them), which takes their labs up, and the report audits
their sandboxes in Redis: every stored user's email sent once, nothing left unfinished.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWorkshop(cmd.Context(), c, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.Participants, "participants", 300, "participants who join and run a load")
	f.IntVar(&o.Signups, "signups", 1000, "signups in each participant's run")
	f.IntVar(&o.Concurrency, "concurrency", 1, "signups in flight in each participant's run")
	f.IntVar(&o.Instances, "instances", 1, "serve processes sharing the Redis (1 or 2)")
	f.DurationVar(&o.KillAfter, "kill-after", 0, "with --instances 2: SIGKILL the second this long after the runs start (0: never)")
	f.DurationVar(&o.Cap, "duration", 10*time.Minute, "longest the whole measurement may take")
	return cmd
}

func runWorkshop(ctx context.Context, c *common, o workshopOpts) error {
	if o.Participants < 1 || o.Participants > 2000 || o.Signups < 1 || o.Concurrency < 1 || o.Cap <= 0 {
		return errors.New("workshop: --participants 1..2000, --signups and --concurrency at least 1, --duration positive")
	}
	if o.Instances < 1 || o.Instances > 2 || o.KillAfter < 0 || (o.KillAfter > 0 && o.Instances != 2) {
		return errors.New("workshop: --instances 1 or 2; --kill-after needs --instances 2")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Cap)
	defer cancel()
	r, err := openRedis(ctx, c.redisURL)
	if err != nil {
		return err
	}
	defer r.stop()
	bin, err := buildApp(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(bin))
	apps := make([]*app, o.Instances)
	for i := range apps {
		if apps[i], err = startApp(ctx, bin, r.URL, o); err != nil {
			return err
		}
		defer apps[i].stop()
	}
	first := apps[0] // the facilitator's
	rep := workshopReport{Machine: describeMachine(r.Version), Options: o}

	fac := newBrowser()
	code, err := first.createWorkshop(ctx, fac)
	if err != nil {
		return err
	}
	board, err := first.openBoard(ctx, fac, code)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "workshop %s created; %d participants joining\n", code, o.Participants)

	// Joins, 32 at a time; each name's first sight on the board is timed.
	people := make([]*person, o.Participants)
	joinLat := &latencies{}
	boardLat := &latencies{}
	var joinErr atomic.Value
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range people {
		p := &person{name: fmt.Sprintf("Participant %03d", i+1), c: newBrowser(), app: apps[i%len(apps)]}
		people[i] = p
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			if err := p.app.join(ctx, p.c, code, p.name); err != nil {
				joinErr.Store(err)
				return
			}
			joinLat.add(time.Since(t0))
			seen := board.waitFor(ctx, ">"+p.name+"</th>", t0)
			boardLat.add(seen.Sub(t0))
			lab, err := p.app.openLab(ctx, p.c)
			if err != nil {
				joinErr.Store(err)
				return
			}
			p.lab = lab
		})
	}
	wg.Wait()
	if err, _ := joinErr.Load().(error); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	rep.JoinP50, rep.JoinMax = joinLat.quantile(0.5), joinLat.quantile(1)
	rep.JoinToBoardP50, rep.JoinToBoardMax = boardLat.quantile(0.5), boardLat.quantile(1)
	fmt.Fprintf(os.Stderr, "all joined in %v; board showed a join after p50 %.0f ms, max %.0f ms\n",
		time.Since(start).Round(time.Millisecond), rep.JoinToBoardP50, rep.JoinToBoardMax)

	// Every participant starts a run at once.
	runStart := time.Now()
	form := url.Values{"signups": {strconv.Itoa(o.Signups)}, "concurrency": {strconv.Itoa(o.Concurrency)}}.Encode()
	var startErr atomic.Value
	for _, p := range people {
		wg.Go(func() {
			if err := p.app.post(ctx, p.c, p.lab+"/run", form, http.StatusSeeOther); err != nil {
				startErr.Store(err)
			}
		})
	}
	wg.Wait()
	if err, _ := startErr.Load().(error); err != nil {
		return fmt.Errorf("start runs: %w", err)
	}

	// While the room runs, a hand goes up every second; the board's answer
	// is timed.
	handLat := &latencies{}
	handsDone := make(chan struct{})
	go func() {
		defer close(handsDone)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			if first.running(ctx, people[0].c, people[0].lab) == 0 {
				return
			}
			// Hands of participants on the first instance: the board's
			// answer must not wait for a killed one.
			p := people[(i*len(apps))%len(people)]
			t0 := time.Now()
			if first.post(ctx, p.c, "/workshops/"+code+"/hand", "up=1", http.StatusSeeOther) != nil {
				continue
			}
			seen := board.waitFor(ctx, `ws-name">`+p.name+`</span> <span class="muted">waiting`, t0)
			handLat.add(seen.Sub(t0))
			first.post(ctx, p.c, "/workshops/"+code+"/hand", "up=0", http.StatusSeeOther)
		}
	}()

	// The second instance dies mid-run; its participants go on with the
	// first, as a proxy would send them once its health check failed.
	var moved []*person
	var killedAt time.Time
	if o.KillAfter > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(o.KillAfter):
		}
		apps[1].kill()
		killedAt = time.Now()
		for _, p := range people {
			if p.app == apps[1] {
				p.app = first
				moved = append(moved, p)
			}
		}
		fmt.Fprintf(os.Stderr, "%4.0f s: killed the second instance; %d participants move to the first\n",
			killedAt.Sub(runStart).Seconds(), len(moved))
		rep.Failover = &failover{KilledAtS: round(killedAt.Sub(runStart).Seconds(), 1), Moved: len(moved)}
	}
	isMoved := func(p *person) bool { return slices.Contains(moved, p) }

	// Wait for every run to end (load and drain). A moved participant's run
	// died with its instance: theirs is over once the first instance has
	// taken the lab up and drained what the run had stored.
	takenUp := map[*person]time.Time{}
	for {
		busy := 0
		for _, p := range people {
			if !isMoved(p) {
				busy += p.app.running(ctx, p.c, p.lab)
				continue
			}
			if _, ok := takenUp[p]; !ok {
				if !p.app.serves(ctx, p.c, p.lab) {
					busy++
					continue
				}
				takenUp[p] = time.Now()
			}
			if settled, _, err := r.settled(ctx, sandboxOf(p.lab)); err != nil || !settled {
				busy++
			}
		}
		if busy == 0 || ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "%4.0f s: %d runs going, RSS %.0f MiB\n", time.Since(runStart).Seconds(), busy, first.peakMiB())
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	rep.Seconds = round(time.Since(runStart).Seconds(), 1)
	<-handsDone
	if f := rep.Failover; f != nil {
		f.TakenUp = len(takenUp)
		for _, at := range takenUp {
			f.TakeUpMaxS = max(f.TakeUpMaxS, round(at.Sub(killedAt).Seconds(), 1))
		}
		if err := f.audit(context.WithoutCancel(ctx), r, moved); err != nil {
			return err
		}
		f.NothingLost = f.TakenUp == f.Moved && f.Users > 0 && f.Emails == f.Users && f.Duplicates == 0 && f.Unfinished == 0
	}
	// The figures are read even when the time ran out.
	capped := ctx
	ctx, cancelRead := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancelRead()
	rep.HandToBoardP50, rep.HandToBoardMax, rep.HandsMeasured = handLat.quantile(0.5), handLat.quantile(1), handLat.len()
	for _, p := range people {
		if isMoved(p) {
			continue // audited above
		}
		res, err := p.app.lastRun(ctx, p.c, p.lab)
		if err != nil {
			return err
		}
		if res == nil {
			continue
		}
		rep.RunsFinished++
		rep.Attempted += res.Attempted
		rep.Succeeded += res.Succeeded
		rep.Emails += res.Emails
		rep.Duplicates += res.Duplicates
		rep.Lost += res.Lost
		rep.InFlight += res.InFlight
	}
	// The room is complete when every user the runs stored has had their
	// email, once: after the runs' own drains ended, their sandboxes'
	// consumers go on with what was still in flight. The streams are
	// watched until every sandbox is settled.
	audit := context.WithoutCancel(capped)
	stayed := slices.DeleteFunc(slices.Clone(people), isMoved)
	waiting := map[*person]bool{}
	for _, p := range stayed {
		waiting[p] = true
	}
	for len(waiting) > 0 && capped.Err() == nil {
		var left int64
		for p := range waiting {
			ok, n, err := r.settled(audit, sandboxOf(p.lab))
			if err != nil {
				return fmt.Errorf("look at a sandbox's stream: %w", err)
			}
			left += n
			if ok {
				delete(waiting, p)
			}
		}
		if len(waiting) == 0 {
			rep.DeliveredAllS = round(time.Since(runStart).Seconds(), 1)
			break
		}
		fmt.Fprintf(os.Stderr, "%4.0f s: %d sandboxes still sending, about %d emails to go, RSS %.0f MiB\n",
			time.Since(runStart).Seconds(), len(waiting), left, first.peakMiB())
		select {
		case <-capped.Done():
		case <-time.After(10 * time.Second):
		}
	}
	// Then the whole audit, user by user.
	rep.Final = &roomAudit{}
	if err := rep.Final.audit(audit, r, stayed); err != nil {
		return err
	}
	if rep.Final.Unfinished > 0 {
		rep.DeliveredAllS = 0
	}
	for _, a := range apps {
		rep.PeakRSSMiB = max(rep.PeakRSSMiB, round(a.peakMiB(), 0))
	}
	finishing := o.Participants - len(moved)
	rep.AllComplete = rep.RunsFinished == finishing && rep.Lost == 0 && rep.Duplicates == 0 &&
		rep.Succeeded == int64(finishing*o.Signups) && rep.DeliveredAllS > 0 &&
		rep.Final.Users == rep.Succeeded && rep.Final.Emails == rep.Final.Users && rep.Final.Duplicates == 0 &&
		(rep.Failover == nil || rep.Failover.NothingLost)
	rep.BoardUnderSecond = rep.JoinToBoardMax < 1000 && rep.HandToBoardMax < 1000
	rep.RSSUnderGiB = rep.PeakRSSMiB < 1024
	if c.json {
		return printJSON(os.Stdout, rep)
	}
	rep.Machine.print(os.Stdout)
	fmt.Printf("%d participants on %d instance(s), each an async run of %d signups at concurrency %d, all started at once\n\n",
		o.Participants, o.Instances, o.Signups, o.Concurrency)
	t := table{head: []string{"figure", "value"}}
	t.add("join, p50 / max ms", fmt.Sprintf("%.1f / %.1f", rep.JoinP50, rep.JoinMax))
	t.add("join to board, p50 / max ms", fmt.Sprintf("%.0f / %.0f", rep.JoinToBoardP50, rep.JoinToBoardMax))
	t.add("hand to board under load, p50 / max ms", fmt.Sprintf("%.0f / %.0f (%d hands)", rep.HandToBoardP50, rep.HandToBoardMax, rep.HandsMeasured))
	t.add("runs finished", fmt.Sprintf("%d of %d", rep.RunsFinished, finishing))
	t.add("signups succeeded / attempted", fmt.Sprintf("%d / %d", rep.Succeeded, rep.Attempted))
	t.add("emails sent / duplicates", fmt.Sprintf("%d / %d", rep.Emails, rep.Duplicates))
	t.add("lost / in flight at drain end", fmt.Sprintf("%d / %d", rep.Lost, rep.InFlight))
	t.add("start to last run's end, s", rep.Seconds)
	if rep.DeliveredAllS > 0 {
		t.add("start to the room's last email, s", rep.DeliveredAllS)
	} else {
		t.add("start to the room's last email, s", "not within --duration")
	}
	t.add("afterwards in Redis: users / emails / duplicates / unfinished", fmt.Sprintf("%d / %d / %d / %d",
		rep.Final.Users, rep.Final.Emails, rep.Final.Duplicates, rep.Final.Unfinished))
	t.add("app peak RSS, MiB (largest instance)", rep.PeakRSSMiB)
	if f := rep.Failover; f != nil {
		t.add("second instance killed at, s", f.KilledAtS)
		t.add("its participants' labs taken up", fmt.Sprintf("%d of %d, the last %.1f s after the kill", f.TakenUp, f.Moved, f.TakeUpMaxS))
		t.add("their users stored / emails / duplicates", fmt.Sprintf("%d / %d / %d", f.Users, f.Emails, f.Duplicates))
		t.add("their events unfinished", f.Unfinished)
	}
	t.print(os.Stdout)
	fmt.Printf("\nall complete, nothing lost: %s; board under 1 s: %s; RSS under 1 GiB: %s\n",
		yes(rep.AllComplete), yes(rep.BoardUnderSecond), yes(rep.RSSUnderGiB))
	return nil
}

// app is a `crossroads serve` child process.
type app struct {
	base string
	cmd  *exec.Cmd
	dir  string
	peak atomic.Int64 // KiB
	done chan struct{}
}

// buildApp builds crossroads into a temporary folder and returns its path.
func buildApp(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "crossroads-bench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "crossroads")
	// Built in the app's own module (the replace in go.mod says where), with
	// its own go.sum: the bench module does not list the CLI's dependencies.
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/crossroads-learn/crossroads").Output()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("find the app's module: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crossroads")
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build crossroads: %w\n%s", err, out)
	}
	return bin, nil
}

// freeLoopbackAddr is a loopback address no one listens on now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startApp starts bin as `crossroads serve` on a free loopback port,
// advertising it to other instances on the same Redis.
func startApp(ctx context.Context, bin, redisURL string, o workshopOpts) (*app, error) {
	// The public address, and the app's private listener for its metrics
	// and profiles while the room runs.
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "crossroads-bench-app-")
	if err != nil {
		return nil, err
	}
	n := o.Participants
	cmd := exec.Command(bin, "serve", "--addr", addr, "--redis-url", redisURL, "--metrics-addr", metricsAddr, "--log-level", "warn",
		"--lab-max", strconv.Itoa(n+10), "--lab-per-address", "0", "--lab-inflight", strconv.Itoa(n*o.Concurrency+64),
		"--rate-joins", "off", "--rate-sandboxes", "off", "--rate-workshops", "off",
		"--workshop-participants", strconv.Itoa(n), "--max-conns", strconv.Itoa(8*n+512), "--advertise-url", "http://"+addr)
	log, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start crossroads serve: %w", err)
	}
	a := &app{base: "http://" + addr, cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() {
		for {
			select {
			case <-a.done:
				return
			case <-time.After(250 * time.Millisecond):
			}
			if kib := rssKiB(cmd.Process.Pid); kib > a.peak.Load() {
				a.peak.Store(kib)
			}
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err := http.Get(a.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				fmt.Fprintf(os.Stderr, "serve at %s; its metrics and profiles at http://%s/debug/pprof/\n", a.base, metricsAddr)
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("crossroads serve did not get ready; see %s", log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *app) stop() {
	close(a.done)
	a.cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan struct{})
	go func() { a.cmd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-waited
	}
	os.RemoveAll(a.dir)
}

// kill ends the process at once, as a crash would: nothing handed over.
func (a *app) kill() {
	a.cmd.Process.Kill()
}

func (a *app) peakMiB() float64 { return float64(a.peak.Load()) / 1024 }

// rssKiB reads a process's resident set from /proc (0 where there is none).
func rssKiB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// newBrowser is a client that keeps cookies and does not follow redirects.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (a *app) post(ctx context.Context, c *http.Client, path, form string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, strings.TrimSpace(string(body[:min(len(body), 300)])))
	}
	return nil
}

func (a *app) get(ctx context.Context, c *http.Client, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

var boardPath = regexp.MustCompile(`^/workshops/([A-Z0-9]{6})/board`)

func (a *app) createWorkshop(ctx context.Context, fac *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/workshops",
		strings.NewReader("title=Bench+workshop&item=chapter:synchronous-reality&item=decide:"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := fac.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	m := boardPath.FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || m == nil {
		return "", fmt.Errorf("create a workshop: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	return m[1], nil
}

func (a *app) join(ctx context.Context, c *http.Client, code, name string) error {
	if _, _, err := a.get(ctx, c, "/"); err != nil {
		return err
	}
	return a.post(ctx, c, "/join", url.Values{"code": {code}, "name": {name}}.Encode(), http.StatusSeeOther)
}

var labBase = regexp.MustCompile(`data-base="(/labs/s/lab-[0-9a-f]+)"`)

func (a *app) openLab(ctx context.Context, c *http.Client) (string, error) {
	path := "/labs"
	for range 3 {
		res, body, err := a.get(ctx, c, path)
		if err != nil {
			return "", err
		}
		if res.StatusCode == http.StatusSeeOther {
			path = res.Header.Get("Location")
			continue
		}
		if m := labBase.FindSubmatch(body); m != nil {
			return string(m[1]), nil
		}
		return "", fmt.Errorf("open the lab: %d", res.StatusCode)
	}
	return "", errors.New("open the lab: too many redirects")
}

// running is 1 until the sandbox's run is in its history (its load and
// drain are over), 0 then or when the history cannot be read. The history
// costs the app no Redis call, unlike a snapshot: the measurement must not
// load the server it measures.
func (a *app) running(ctx context.Context, c *http.Client, lab string) int {
	res, err := a.lastRun(ctx, c, lab)
	if err != nil || res != nil {
		return 0
	}
	return 1
}

// serves reports whether the instance answers for the participant's lab
// itself (it runs it, or has just taken it up), rather than passing the
// request on or asking to wait.
func (a *app) serves(ctx context.Context, c *http.Client, lab string) bool {
	res, _, err := a.get(ctx, c, lab+"/history.json")
	return err == nil && res.StatusCode == http.StatusOK
}

// sandboxOf is the sandbox id in a lab's path (/labs/s/ID).
func sandboxOf(lab string) string { return lab[strings.LastIndexByte(lab, '/')+1:] }

type runFigures struct {
	Attempted  int64 `json:"signups_attempted"`
	Succeeded  int64 `json:"signups_succeeded"`
	Emails     int64 `json:"emails_sent"`
	Duplicates int64 `json:"email_duplicates"`
	Lost       int64 `json:"lost"`
	InFlight   int64 `json:"in_flight"`
}

func (a *app) lastRun(ctx context.Context, c *http.Client, lab string) (*runFigures, error) {
	_, body, err := a.get(ctx, c, lab+"/history.json")
	if err != nil {
		return nil, err
	}
	var h struct {
		Runs []runFigures `json:"runs"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("read a run's figures: %w", err)
	}
	if len(h.Runs) == 0 {
		return nil, nil
	}
	return &h.Runs[len(h.Runs)-1], nil
}

// boardStream reads the facilitator's board events and tells when a text
// first appears in one.
type boardStream struct {
	mu     sync.Mutex
	events []boardEvent
	more   chan struct{} // closed and replaced on each event
}

type boardEvent struct {
	at   time.Time
	body string
}

// openBoard keeps the facilitator's board open over SSE as a browser's
// EventSource does: when the server ends a stream (each lives ten minutes
// at most) it connects again.
func (a *app) openBoard(ctx context.Context, fac *http.Client, code string) (*boardStream, error) {
	b := &boardStream{more: make(chan struct{})}
	dial := func() (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/workshops/"+code+"/board/events", nil)
		if err != nil {
			return nil, err
		}
		streamer := &http.Client{Jar: fac.Jar} // no timeout: the stream lives for the run
		res, err := streamer.Do(req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return nil, fmt.Errorf("board events: %d", res.StatusCode)
		}
		return res.Body, nil
	}
	body, err := dial()
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			b.read(body)
			body.Close()
			for {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(time.Second) // EventSource's default retry
				if body, err = dial(); err == nil {
					break
				}
			}
		}
	}()
	return b, nil
}

// read records every event of one stream until it ends.
func (b *boardStream) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var body strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			body.WriteString(strings.TrimPrefix(line, "data: "))
			body.WriteByte('\n')
			continue
		}
		b.mu.Lock()
		b.events = append(b.events, boardEvent{at: time.Now(), body: body.String()})
		if len(b.events) > 64 {
			b.events = slices.Delete(b.events, 0, len(b.events)-64)
		}
		close(b.more)
		b.more = make(chan struct{})
		b.mu.Unlock()
		body.Reset()
	}
}

// waitFor returns when the board first showed text after since, waiting
// for it up to 15 s (and returning the time it gave up: a figure that
// large says the board missed it).
func (b *boardStream) waitFor(ctx context.Context, text string, since time.Time) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		b.mu.Lock()
		for _, ev := range b.events {
			if ev.at.After(since) && strings.Contains(ev.body, text) {
				b.mu.Unlock()
				return ev.at
			}
		}
		more := b.more
		b.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return time.Now()
		}
	}
}
