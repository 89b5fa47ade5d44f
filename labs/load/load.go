// Package load is the lab's load generator: it sends a bounded number of
// signups to a signup API, closed loop (a fixed number of clients sending
// back to back) or open loop (arrivals on a schedule, answered or not), and
// records how long each answer took in a fixed-size histogram.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// RunHeader carries the run a signup belongs to, so that the run's figures
// count its own users only.
const RunHeader = "X-Lab-Run"

// Plan is one bounded load.
type Plan struct {
	Signups     int
	Concurrency int
	// Rate, when set, sends that many signups per second (open loop).
	Rate float64
	// Limit stops sending after this long; answers already asked for are
	// still awaited.
	Limit time.Duration
	// RequestTimeout bounds each signup request.
	RequestTimeout time.Duration
	// Run tags every signup, and makes its addresses and keys unique.
	Run string
}

// Outcome is what the client side of a load saw.
type Outcome struct {
	Attempted, Succeeded, Failed int64
	Latency                      Histogram
	Duration                     time.Duration
}

// Progress is a load's counts while it runs, and its answer times one window
// at a time, for live numbers and per-second charts.
type Progress struct {
	Sent, Succeeded, Failed atomic.Int64

	windows [2]Histogram
	cur     atomic.Int32
}

func (p *Progress) answered(ok bool, d time.Duration) {
	p.windows[p.cur.Load()].Record(d)
	if ok {
		p.Succeeded.Add(1)
	} else {
		p.Failed.Add(1)
	}
}

// Window returns the quantiles of the answers since the last call, and
// starts a new window. One caller at a time.
func (p *Progress) Window() Quantiles {
	old := p.cur.Load()
	p.windows[1-old].Reset()
	p.cur.Store(1 - old)
	return p.windows[old].Quantiles()
}

// Generate sends the load to url and records each answer in the returned
// outcome and, as it goes, in progress. It stops at the signup count, the
// limit, or when ctx ends, whichever comes first.
func Generate(ctx context.Context, hc *http.Client, url string, p Plan, progress *Progress) *Outcome {
	out := &Outcome{}
	sendCtx, cancel := context.WithTimeout(ctx, p.Limit)
	defer cancel()
	var mu sync.Mutex // guards the counts of out
	one := func(i int, planned time.Time) {
		progress.Sent.Add(1)
		ok := signupOnce(ctx, hc, url, p, i)
		if !ok && ctx.Err() != nil {
			return // cut short by the end of the load: not an answer
		}
		took := time.Since(planned)
		out.Latency.Record(took)
		progress.answered(ok, took)
		mu.Lock()
		defer mu.Unlock()
		out.Attempted++
		if ok {
			out.Succeeded++
		} else {
			out.Failed++
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	if p.Rate <= 0 { // closed loop: each client sends its next signup when answered
		var next atomic.Int64
		for range p.Concurrency {
			wg.Go(func() {
				for sendCtx.Err() == nil {
					i := int(next.Add(1))
					if i > p.Signups {
						return
					}
					one(i, time.Now())
				}
			})
		}
	} else { // open loop: signups arrive on schedule, answered or not
		slots := make(chan struct{}, p.Concurrency)
		interval := time.Duration(float64(time.Second) / p.Rate)
	arrivals:
		for i := 1; i <= p.Signups; i++ {
			planned := start.Add(time.Duration(i-1) * interval)
			if !waitUntil(sendCtx, planned) {
				break
			}
			select {
			case slots <- struct{}{}:
			case <-sendCtx.Done():
				break arrivals
			}
			wg.Go(func() {
				defer func() { <-slots }()
				one(i, planned)
			})
		}
	}
	wg.Wait()
	out.Duration = time.Since(start)
	return out
}

func waitUntil(ctx context.Context, at time.Time) bool {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Body is the JSON a signup posts.
type Body struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// signupOnce posts signup i of the plan and reports whether it succeeded.
func signupOnce(ctx context.Context, hc *http.Client, url string, p Plan, i int) bool {
	ctx, cancel := context.WithTimeout(ctx, p.RequestTimeout)
	defer cancel()
	body, _ := json.Marshal(Body{Email: fmt.Sprintf("learner-%s-%d@example.test", p.Run, i), Name: fmt.Sprintf("Learner %d", i)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", p.Run, i))
	req.Header.Set(RunHeader, p.Run)
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}
