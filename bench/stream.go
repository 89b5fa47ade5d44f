package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

type streamOpts struct {
	Messages   int           `json:"messages"`
	Publishers int           `json:"publishers"`
	Consumers  int           `json:"consumers"`
	Rounds     int           `json:"rounds"`
	Batch      int           `json:"batch"`
	LabBatch   int           `json:"lab_batch"`
	RawBatch   int           `json:"raw_batch"`
	Payload    int           `json:"payload_bytes"`
	Cap        time.Duration `json:"-"`
	LabPath    bool          `json:"-"`
}

// streamRun is one contender's one run.
type streamRun struct {
	Contender string  `json:"contender"`
	Round     int     `json:"round"`
	Messages  int     `json:"messages"`
	Seconds   float64 `json:"seconds"`
	PerS      float64 `json:"msgs_per_s"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Complete  bool    `json:"complete"`
	Note      string  `json:"note,omitempty"`
}

// contender measures one implementation: publish n messages from the
// publishers, consume them with the consumers of one group, and return when
// every message was acknowledged or ctx ends.
type contender struct {
	name string
	run  func(ctx context.Context, r *benchRedis, o streamOpts, lat *latencies, fin *finisher) error
}

func streamCmd(c *common) *cobra.Command {
	o := streamOpts{}
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "the lab's stream layer vs watermill-redisstream vs raw pipelined go-redis, interleaved",
		Long: `stream publishes the same number of messages of the same size from the same number of
publishers to one consumer group with the same number of consumers, for:
  crossroads        the lab's stream layer (labs/stream) alone: the outbox script per message
                    (concurrent ones share round trips), XREADGROUP batches of --batch, the
                    idempotency check per batch, and one MULTI/EXEC per batch writing the
                    idempotency records and the XACK (AckAll); zero-latency handler, no HTTP
  crossroads-1by1   the same store as the lab's consumers use it (labs/consumer.go): batches of
                    --lab-batch, and per message one MULTI/EXEC that marks it started and acks
                    the one before, so a crash loses no finished work
  watermill         watermill-redisstream publisher + subscribers in one consumer group
  raw               the ceiling: pipelined XADD, XREADGROUP, one XACK per batch (go-redis)
Runs are interleaved round by round; the table shows medians of the rounds.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStream(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Messages, "messages", 20000, "messages per run")
	f.IntVar(&o.Publishers, "publishers", 16, "concurrent publishers")
	f.IntVar(&o.Consumers, "consumers", 16, "consumers in the group")
	f.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds (A/B/A/B...)")
	f.IntVar(&o.Batch, "batch", 100, "messages a Crossroads consumer reads and acks at once")
	f.IntVar(&o.LabBatch, "lab-batch", 10, "messages the lab's consumer sequence reads at once (the lab's default)")
	f.IntVar(&o.RawBatch, "raw-batch", 100, "pipeline and read batch of the raw ceiling")
	f.DurationVar(&o.Cap, "duration", 60*time.Second, "longest one run may take before it is cut short")
	f.BoolVar(&o.LabPath, "lab-path", true, "also measure the lab's real path (HTTP signup API + HTTP effect call per message)")
	return cmd
}

type streamReport struct {
	Machine  machine     `json:"machine"`
	Options  streamOpts  `json:"options"`
	Runs     []streamRun `json:"runs"`
	Summary  []summary   `json:"summary"`
	LabPath  *labPath    `json:"lab_path,omitempty"`
	Goal3x   bool        `json:"goal_3x_watermill"`
	Goal10x  bool        `json:"goal_within_10x_raw"`
	Baseline string      `json:"baseline"`
}

type summary struct {
	Contender   string  `json:"contender"`
	PerS        float64 `json:"msgs_per_s"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	VsWatermill float64 `json:"vs_watermill"`
	VsRaw       float64 `json:"vs_raw"`
}

// labPath is the lab's whole async path: HTTP signup API, outbox, two
// consumer groups, an HTTP call to each service per message.
type labPath struct {
	Signups    int64   `json:"signups"`
	AcceptedS  float64 `json:"accepted_per_s"`
	CompletedS float64 `json:"completed_per_s"`
	SignupP50  float64 `json:"signup_p50_ms"`
	SignupP99  float64 `json:"signup_p99_ms"`
	EffectP50  float64 `json:"effect_p50_ms"`
	EffectP99  float64 `json:"effect_p99_ms"`
	Drained    bool    `json:"drained"`
}

func runStream(ctx context.Context, c *common, o streamOpts) error {
	if o.Messages < 1 || o.Publishers < 1 || o.Consumers < 1 || o.Rounds < 1 || o.Batch < 1 || o.LabBatch < 1 || o.RawBatch < 1 {
		return errors.New("stream: --messages, --publishers, --consumers, --rounds, --batch and --raw-batch must be at least 1")
	}
	r, err := openRedis(ctx, c.redisURL)
	if err != nil {
		return err
	}
	defer r.stop()
	o.Payload = len(samplePayload())
	rep := streamReport{Machine: describeMachine(r.Version), Options: o, Baseline: "watermill"}
	contenders := []contender{
		{"crossroads", runCrossroads(true)},
		{"watermill", runWatermill},
		{"crossroads-1by1", runCrossroads(false)},
		{"raw", runRaw},
	}
	lats := map[string]*latencies{}
	rates := map[string][]float64{}
	for round := 1; round <= o.Rounds; round++ {
		for _, ct := range contenders {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			run, lat, err := measure(ctx, r, o, ct, round)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", ct.name, round, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-16s %8.0f msgs/s  p50 %7.2f ms  p99 %7.2f ms%s\n", round, ct.name, run.PerS, run.P50, run.P99, map[bool]string{false: "  (cut short)", true: ""}[run.Complete])
			rep.Runs = append(rep.Runs, run)
			if lats[ct.name] == nil {
				lats[ct.name] = &latencies{}
			}
			lats[ct.name].addAll(lat.ds)
			rates[ct.name] = append(rates[ct.name], run.PerS)
		}
	}
	wm, raw := median(rates["watermill"]), median(rates["raw"])
	for _, ct := range contenders {
		s := summary{Contender: ct.name, PerS: round(median(rates[ct.name]), 0), P50: lats[ct.name].quantile(0.5), P99: lats[ct.name].quantile(0.99)}
		if wm > 0 {
			s.VsWatermill = round(s.PerS/wm, 2)
		}
		if raw > 0 {
			s.VsRaw = round(s.PerS/raw, 3)
		}
		rep.Summary = append(rep.Summary, s)
	}
	cr := rep.Summary[0]
	rep.Goal3x, rep.Goal10x = cr.VsWatermill >= 3, cr.VsRaw >= 0.1
	if o.LabPath {
		lp, err := measureLabPath(ctx, r, o)
		if err != nil {
			return fmt.Errorf("lab path: %w", err)
		}
		rep.LabPath = &lp
	}
	if c.json {
		return printJSON(os.Stdout, rep)
	}
	printStream(rep)
	return nil
}

func printStream(rep streamReport) {
	o := rep.Options
	rep.Machine.print(os.Stdout)
	fmt.Printf("%d messages of %d bytes, %d publishers, %d consumers in one group, %d interleaved rounds (medians)\n\n",
		o.Messages, o.Payload, o.Publishers, o.Consumers, o.Rounds)
	t := table{head: []string{"contender", "msgs/s", "p50 ms", "p99 ms", "× watermill", "÷ raw"}}
	for _, s := range rep.Summary {
		t.add(s.Contender, s.PerS, s.P50, s.P99, s.VsWatermill, s.VsRaw)
	}
	if lp := rep.LabPath; lp != nil {
		t.add("lab path (HTTP)", lp.CompletedS, lp.EffectP50, lp.EffectP99, "", "")
	}
	t.print(os.Stdout)
	cr := rep.Summary[0]
	fmt.Printf("\ngoal ≥ 3× watermill end to end: %s (%.2f×); goal within 10× of raw: %s (raw is %.1f× crossroads)\n",
		yes(rep.Goal3x), cr.VsWatermill, yes(rep.Goal10x), 1/max(cr.VsRaw, 1e-9))
	if lp := rep.LabPath; lp != nil {
		fmt.Printf("lab path: %d signups through the HTTP signup API (%.0f accepted/s, signup p50 %.2f ms, p99 %.2f ms), "+
			"both groups calling their service over HTTP per message; completed = welcome emails per second from the first signup to the last email; latency is signup request to email\n",
			lp.Signups, lp.AcceptedS, lp.SignupP50, lp.SignupP99)
	}
}

func yes(b bool) string {
	if b {
		return "met"
	}
	return "NOT met"
}

// measure runs one contender once, bounded by o.Cap.
func measure(ctx context.Context, r *benchRedis, o streamOpts, ct contender, rnd int) (streamRun, *latencies, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Cap)
	defer cancel()
	lat := &latencies{}
	fin := newFinisher(o.Messages)
	err := ct.run(ctx, r, o, lat, fin)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return streamRun{}, nil, err
	}
	n, elapsed := fin.result()
	run := streamRun{Contender: ct.name, Round: rnd, Messages: int(n), Seconds: round3(elapsed.Seconds()),
		PerS: round(float64(n)/elapsed.Seconds(), 0), P50: lat.quantile(0.5), P99: lat.quantile(0.99), Complete: n >= int64(o.Messages)}
	return run, lat, nil
}

func round3(v float64) float64 { return round(v, 3) }

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sampleEvent is the lab's user.signedup event for user i.
func sampleEvent(run string, i int, at time.Time) (stream.User, stream.Event) {
	id := fmt.Sprintf("u_%s_%07d", run, i)
	u := stream.User{ID: id, Email: id + "@example.com", Name: "Bench User " + strconv.Itoa(i), Mode: "async",
		EventID: fmt.Sprintf("evt_%s_%07d", run, i), CreatedAt: at}
	return u, stream.SignedUp(u, at, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
}

// samplePayload is one event as the lab's stream carries it; the peers send
// payloads of the same size.
func samplePayload() []byte {
	_, ev := sampleEvent("000000000000", 0, time.Now())
	b, _ := json.Marshal(ev)
	return b
}

// split hands n jobs to workers goroutines; each gets the indices i with
// i % workers == w.
func split(n, workers int, job func(w, i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := job(w, i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// finisher times a run from its first publish (begin) until target messages
// were acknowledged, when it closes done: connecting, creating groups and
// cleaning up are not part of the figure.
type finisher struct {
	acked  atomic.Int64
	target int64
	began  time.Time
	ended  atomic.Int64 // unix ns
	once   sync.Once
	done   chan struct{}
}

func newFinisher(target int) *finisher {
	return &finisher{target: int64(target), done: make(chan struct{})}
}

func (f *finisher) begin() { f.began = time.Now() }

func (f *finisher) add(n int) {
	if f.acked.Add(int64(n)) >= f.target {
		f.once.Do(func() {
			f.ended.Store(time.Now().UnixNano())
			close(f.done)
		})
	}
}

// result is how many were acknowledged and over how long (until now for a
// run cut short).
func (f *finisher) result() (int64, time.Duration) {
	end := time.Now()
	if ns := f.ended.Load(); ns != 0 {
		end = time.Unix(0, ns)
	}
	return f.acked.Load(), end.Sub(f.began)
}

// ---- Crossroads ---------------------------------------------------------------

// runCrossroads publishes through the outbox script and consumes the way the
// lab's consumers do (labs/consumer.go): read a batch, check the idempotency
// records of the batch, then per message mark it started while acking the
// message before it in one MULTI/EXEC, and ack the last one at the end of
// the batch. batched acks a whole batch in one MULTI/EXEC instead (AckAll):
// what a handler that needs no per-message crash accounting can do.
func runCrossroads(batched bool) func(ctx context.Context, r *benchRedis, o streamOpts, lat *latencies, fin *finisher) error {
	return func(ctx context.Context, r *benchRedis, o streamOpts, lat *latencies, fin *finisher) error {
		c, err := r.client(o.Publishers + o.Consumers + 4)
		if err != nil {
			return err
		}
		defer c.Close()
		run := randomID()
		sb := "bench" + run
		defer deleteKeys(context.WithoutCancel(ctx), c, stream.Pattern(sb))
		st := stream.New(c, sb)
		const group = "email"
		if err := st.EnsureGroups(ctx, group); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		errc := make(chan error, o.Consumers+1)
		for i := range o.Consumers {
			name := fmt.Sprintf("%s-%d", group, i)
			wg.Go(func() {
				n := o.LabBatch
				if batched {
					n = o.Batch
				}
				if err := consumeCrossroads(ctx, st, group, name, n, batched, lat, fin); err != nil && ctx.Err() == nil {
					errc <- err
					cancel()
				}
			})
		}
		fin.begin()
		err = split(o.Messages, o.Publishers, func(_, i int) error {
			u, ev := sampleEvent(run, i, time.Now())
			if _, _, err := st.CreateUser(ctx, u, "", &ev); err != nil {
				return fmt.Errorf("publish through the outbox: %w", err)
			}
			return nil
		})
		if err == nil {
			select {
			case <-fin.done:
			case <-ctx.Done():
			}
		}
		cancel()
		wg.Wait()
		close(errc)
		return errors.Join(err, <-errc)
	}
}

func consumeCrossroads(ctx context.Context, st *stream.Store, group, name string, batch int, batched bool, lat *latencies, fin *finisher) error {
	for ctx.Err() == nil {
		ds, err := st.Read(ctx, group, name, batch, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			continue
		}
		evs := make([]stream.Event, len(ds))
		ids := make([]string, len(ds))
		for i, d := range ds {
			if evs[i], err = stream.Decode(d.Values); err != nil {
				return err
			}
			ids[i] = evs[i].ID
		}
		seen, err := st.DoneAlready(ctx, group, ids)
		if err != nil {
			return err
		}
		if batched {
			fs := make([]stream.Finished, 0, len(ds))
			for i, d := range ds {
				if !seen[i] {
					fs = append(fs, stream.Finished{ID: d.ID, EventID: evs[i].ID}) // the zero-latency handler
				}
			}
			if err := st.AckAll(ctx, group, fs); err != nil {
				return err
			}
			now := time.Now()
			for _, ev := range evs {
				lat.add(now.Sub(ev.RequestedAt))
			}
			fin.add(len(ds))
			continue
		}
		var prev *stream.Finished
		var prevAt time.Time
		for i, d := range ds {
			if seen[i] {
				if err := st.Ack(ctx, group, stream.Finished{ID: d.ID, EventID: evs[i].ID}); err != nil {
					return err
				}
				fin.add(1)
				continue
			}
			if err := st.Begin(ctx, group, name, d.ID, prev); err != nil {
				return err
			}
			if prev != nil {
				lat.add(time.Since(prevAt))
				fin.add(1)
			}
			// The zero-latency handler: nothing to do.
			prev, prevAt = &stream.Finished{ID: d.ID, EventID: evs[i].ID}, evs[i].RequestedAt
		}
		if prev != nil {
			if err := st.Ack(ctx, group, *prev); err != nil {
				return err
			}
			lat.add(time.Since(prevAt))
			fin.add(1)
		}
	}
	return nil
}

// ---- Watermill -------------------------------------------------------------------

const tsKey = "bench_ts"

func runWatermill(ctx context.Context, r *benchRedis, o streamOpts, lat *latencies, fin *finisher) error {
	c, err := r.client(o.Publishers + o.Consumers + 4)
	if err != nil {
		return err
	}
	defer c.Close()
	topic := "bench:wm:" + randomID()
	defer deleteKeys(context.WithoutCancel(ctx), c, topic+"*")
	logger := watermill.NopLogger{}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: c}, logger)
	if err != nil {
		return fmt.Errorf("watermill publisher: %w", err)
	}
	defer pub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var subs []*redisstream.Subscriber
	var wg sync.WaitGroup
	for i := range o.Consumers {
		sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
			Client: c, ConsumerGroup: "email", Consumer: fmt.Sprintf("email-%d", i),
			// A bounded first read, so Close never waits on a read that blocks forever.
			DisableIndefiniteInitialBlock: true,
		}, logger)
		if err != nil {
			return fmt.Errorf("watermill subscriber: %w", err)
		}
		subs = append(subs, sub)
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			return fmt.Errorf("watermill subscribe: %w", err)
		}
		wg.Go(func() {
			for m := range msgs {
				ns, _ := strconv.ParseInt(m.Metadata.Get(tsKey), 10, 64)
				// The zero-latency handler acks at once; the subscriber
				// XACKs before it reads the next message.
				m.Ack()
				lat.add(time.Since(time.Unix(0, ns)))
				fin.add(1)
			}
		})
	}
	payload := samplePayload()
	fin.begin()
	err = split(o.Messages, o.Publishers, func(_, _ int) error {
		m := message.NewMessage(watermill.NewUUID(), payload)
		m.Metadata.Set(tsKey, strconv.FormatInt(time.Now().UnixNano(), 10))
		if err := pub.Publish(topic, m); err != nil {
			return fmt.Errorf("watermill publish: %w", err)
		}
		return nil
	})
	if err == nil {
		select {
		case <-fin.done:
		case <-ctx.Done():
		}
	}
	cancel()
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
	return err
}

// ---- raw go-redis -------------------------------------------------------------------

// runRaw is the ceiling: each publisher sends XADDs in pipelines of RawBatch,
// each consumer reads RawBatch entries at a time and acks them with one XACK.
func runRaw(ctx context.Context, r *benchRedis, o streamOpts, lat *latencies, fin *finisher) error {
	c, err := r.client(o.Publishers + o.Consumers + 4)
	if err != nil {
		return err
	}
	defer c.Close()
	key := "bench:raw:" + randomID()
	defer deleteKeys(context.WithoutCancel(ctx), c, key)
	const group = "email"
	if err := c.XGroupCreateMkStream(ctx, key, group, "0").Err(); err != nil {
		return fmt.Errorf("raw: create group: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, o.Consumers)
	for i := range o.Consumers {
		name := fmt.Sprintf("%s-%d", group, i)
		wg.Go(func() {
			for ctx.Err() == nil {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: name, Streams: []string{key, ">"},
					Count: int64(o.RawBatch), Block: 100 * time.Millisecond}).Result()
				if errors.Is(err, redis.Nil) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("raw: read: %w", err)
						cancel()
					}
					return
				}
				msgs := res[0].Messages
				ids := make([]string, len(msgs))
				for j, m := range msgs {
					ids[j] = m.ID
				}
				if err := c.XAck(ctx, key, group, ids...).Err(); err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("raw: ack: %w", err)
						cancel()
					}
					return
				}
				now := time.Now()
				for _, m := range msgs {
					s, _ := m.Values["ts"].(string)
					ns, _ := strconv.ParseInt(s, 10, 64)
					lat.add(now.Sub(time.Unix(0, ns)))
				}
				fin.add(len(msgs))
			}
		})
	}
	payload := string(samplePayload())
	per := (o.Messages + o.Publishers - 1) / o.Publishers
	fin.begin()
	err = split(o.Publishers, o.Publishers, func(w, _ int) error {
		n := min(per, o.Messages-w*per)
		for sent := 0; sent < n; {
			k := min(o.RawBatch, n-sent)
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for range k {
					p.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"payload", payload, "ts", strconv.FormatInt(time.Now().UnixNano(), 10)}})
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("raw: pipelined XADD: %w", err)
			}
			sent += k
		}
		return nil
	})
	if err == nil {
		select {
		case <-fin.done:
		case <-ctx.Done():
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	return errors.Join(err, <-errc)
}

// ---- the lab's real path -------------------------------------------------------------

// measureLabPath runs the lab itself: signups through its HTTP API in async
// mode (outbox), both consumer groups with o.Consumers consumers each, each
// calling its zero-latency service over HTTP per message.
func measureLabPath(ctx context.Context, r *benchRedis, o streamOpts) (labPath, error) {
	c, err := r.client(o.Publishers + 2*o.Consumers + 8)
	if err != nil {
		return labPath{}, err
	}
	defer c.Close()
	s := labs.DefaultSettings()
	s.Mode = labs.ModeAsync
	s.EmailConsumers, s.AnalyticsConsumers = min(o.Consumers, labs.MaxConsumers), min(o.Consumers, labs.MaxConsumers)
	n := min(o.Messages, labs.MaxSignups)
	sb, err := labs.New(ctx, c, "bench"+randomID(), labs.Options{Settings: &s, DeleteOnClose: true,
		Storage: labs.Storage{Users: int64(n) * 2, Stream: int64(n) * 2, Dead: int64(n)}})
	if err != nil {
		return labPath{}, fmt.Errorf("start a lab sandbox: %w", err)
	}
	defer sb.Close()
	res, err := sb.Run(ctx, labs.LoadSpec{Signups: n, Concurrency: o.Publishers, DrainTimeout: o.Cap})
	if err != nil {
		return labPath{}, fmt.Errorf("run the lab: %w", err)
	}
	total := res.DurationS + res.DrainS
	lp := labPath{Signups: res.SignupsSucceeded, AcceptedS: round(res.ThroughputPerS, 0), SignupP50: res.Latency.P50, SignupP99: res.Latency.P99,
		EffectP50: res.EffectLatency.P50, EffectP99: res.EffectLatency.P99, Drained: res.Drained}
	if total > 0 {
		lp.CompletedS = round(float64(res.EmailsSent)/total, 0)
	}
	return lp, nil
}
