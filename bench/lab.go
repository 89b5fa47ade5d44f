package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/labs"
)

type labOpts struct {
	Latencies   []time.Duration `json:"-"`
	LatenciesMS []float64       `json:"latencies_ms"`
	Consumers   []int           `json:"consumers"`
	Concurrency int             `json:"concurrency"`
	Duration    time.Duration   `json:"-"`
	DurationS   float64         `json:"duration_s"`
	Drain       time.Duration   `json:"-"`
	DrainS      float64         `json:"drain_s"`
}

type labRow struct {
	LatencyMS  float64 `json:"downstream_latency_ms"`
	Mode       string  `json:"mode"`
	Consumers  int     `json:"consumers,omitempty"`
	Accepted   int64   `json:"accepted"`
	AcceptedS  float64 `json:"accepted_per_s"`
	Completed  int64   `json:"completed"`
	CompletedS float64 `json:"completed_per_s"`
	SignupP50  float64 `json:"signup_p50_ms"`
	SignupP99  float64 `json:"signup_p99_ms"`
	EffectP50  float64 `json:"effect_p50_ms"`
	InFlight   int64   `json:"in_flight_after_drain"`
}

type labReport struct {
	Machine machine  `json:"machine"`
	Options labOpts  `json:"options"`
	Rows    []labRow `json:"rows"`
}

func labCmd(c *common) *cobra.Command {
	o := labOpts{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "sync vs async signups/s, accepted vs completed, by downstream latency and consumers",
		Long: `lab runs the lab itself (HTTP signup API, email and analytics services over HTTP, the
consumer groups) with a closed-loop load of --concurrency clients for --duration per cell:
sync mode once per latency (it has no consumers), async with each consumer count (per
group). Accepted is signups answered 2xx per second of load; completed is welcome emails
sent per second from the first signup until the work drained (or --drain ran out after
the load), so it shows where each mode's ceiling comes from.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.DurationSliceVar(&o.Latencies, "latencies", []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond}, "downstream latencies (each service)")
	f.IntSliceVar(&o.Consumers, "consumers", []int{1, 4, 16}, "consumers per group for the async runs")
	f.IntVar(&o.Concurrency, "concurrency", 16, "signups in flight (closed loop)")
	f.DurationVar(&o.Duration, "duration", 3*time.Second, "load per cell")
	f.DurationVar(&o.Drain, "drain", 5*time.Second, "how long a cell waits for its work to finish after the load")
	return cmd
}

func runLab(ctx context.Context, c *common, o labOpts) error {
	if o.Concurrency < 1 || o.Concurrency > labs.MaxConcurrency || o.Duration <= 0 || o.Duration > time.Minute || o.Drain < 0 || o.Drain > 5*time.Minute {
		return errors.New("lab: --concurrency 1..1000, --duration up to 1m, --drain up to 5m")
	}
	for _, n := range o.Consumers {
		if n < 1 || n > labs.MaxConsumers {
			return fmt.Errorf("lab: --consumers %d is not between 1 and %d", n, labs.MaxConsumers)
		}
	}
	o.DurationS, o.DrainS = o.Duration.Seconds(), o.Drain.Seconds()
	for _, l := range o.Latencies {
		o.LatenciesMS = append(o.LatenciesMS, ms(l))
	}
	r, err := openRedis(ctx, c.redisURL)
	if err != nil {
		return err
	}
	defer r.stop()
	rc, err := r.client(64)
	if err != nil {
		return err
	}
	defer rc.Close()
	rep := labReport{Machine: describeMachine(r.Version), Options: o}
	for _, l := range o.Latencies {
		cells := []struct {
			mode labs.Mode
			n    int
		}{{labs.ModeSync, 1}}
		for _, n := range o.Consumers {
			cells = append(cells, struct {
				mode labs.Mode
				n    int
			}{labs.ModeAsync, n})
		}
		for _, cell := range cells {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s := labs.DefaultSettings()
			s.Mode = cell.mode
			s.Email.Latency, s.Analytics.Latency = l, l
			s.Timeout = max(time.Second, 3*l)
			s.EmailConsumers, s.AnalyticsConsumers = cell.n, cell.n
			sb, err := labs.New(ctx, rc, "bench"+randomID(), labs.Options{Settings: &s, DeleteOnClose: true,
				Storage: labs.Storage{Users: labs.MaxSignups, Stream: labs.MaxSignups, Dead: labs.MaxSignups}})
			if err != nil {
				return fmt.Errorf("start a lab sandbox: %w", err)
			}
			res, err := sb.Run(ctx, labs.LoadSpec{Signups: labs.MaxSignups, Concurrency: o.Concurrency, Duration: o.Duration, DrainTimeout: max(o.Drain, time.Millisecond)})
			closeErr := sb.Close()
			if err != nil {
				return fmt.Errorf("run the lab (%s, %v): %w", cell.mode, l, err)
			}
			if closeErr != nil {
				return fmt.Errorf("close the lab sandbox: %w", closeErr)
			}
			row := labRow{LatencyMS: ms(l), Mode: string(cell.mode), Accepted: res.SignupsSucceeded, AcceptedS: round(res.ThroughputPerS, 1),
				Completed: res.EmailsSent, SignupP50: res.Latency.P50, SignupP99: res.Latency.P99, EffectP50: res.EffectLatency.P50, InFlight: res.InFlight}
			if cell.mode == labs.ModeAsync {
				row.Consumers = cell.n
			}
			if total := res.DurationS + res.DrainS; total > 0 {
				row.CompletedS = round(float64(res.EmailsSent)/total, 1)
			}
			fmt.Fprintf(os.Stderr, "%6.0f ms %-5s consumers %2d  accepted %8.1f/s  completed %8.1f/s  in flight %d\n",
				row.LatencyMS, row.Mode, row.Consumers, row.AcceptedS, row.CompletedS, row.InFlight)
			rep.Rows = append(rep.Rows, row)
		}
	}
	if c.json {
		return printJSON(os.Stdout, rep)
	}
	rep.Machine.print(os.Stdout)
	fmt.Printf("closed loop of %d signups in flight for %s per cell, drain up to %s; both services at the latency shown\n\n", o.Concurrency, o.Duration, o.Drain)
	t := table{head: []string{"latency ms", "mode", "consumers", "accepted/s", "completed/s", "signup p50 ms", "signup p99 ms", "email p50 ms", "left in flight"}}
	for _, row := range rep.Rows {
		cons := "-"
		if row.Consumers > 0 {
			cons = fmt.Sprint(row.Consumers)
		}
		t.add(row.LatencyMS, row.Mode, cons, row.AcceptedS, row.CompletedS, row.SignupP50, row.SignupP99, row.EffectP50, row.InFlight)
	}
	t.print(os.Stdout)
	return nil
}
