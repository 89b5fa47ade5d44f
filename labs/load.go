package labs

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

// LoadSpec is one bounded load against the signup API.
type LoadSpec struct {
	// Signups is how many signups to send (1..100,000).
	Signups int `json:"signups"`
	// Concurrency caps the requests in flight (1..1,000). Without Rate the
	// load is a closed loop: Concurrency clients send back to back.
	Concurrency int `json:"concurrency"`
	// Rate, when set, sends that many signups per second (open loop)
	// whatever the answers take; latency counts from each planned start.
	Rate float64 `json:"rate"`
	// Duration ends the load early (0: when all signups are sent; at most
	// 10 minutes either way).
	Duration time.Duration `json:"duration"`
	// RecoverAfter brings downed or hanging services back after this long.
	RecoverAfter time.Duration `json:"recover_after"`
	// DrainTimeout is how long an async run waits for consumers to finish
	// (default 30 s, at most 10 minutes).
	DrainTimeout time.Duration `json:"drain_timeout"`
}

// Validate returns a *FieldError for the first value out of range.
func (l LoadSpec) Validate() error {
	if err := checkInt("signups", l.Signups, 1, MaxSignups); err != nil {
		return err
	}
	if err := checkInt("concurrency", l.Concurrency, 1, MaxConcurrency); err != nil {
		return err
	}
	if !(l.Rate >= 0 && l.Rate <= MaxRate) {
		return fieldErr("rate", "%v is not between 0 and %d per second", l.Rate, MaxRate)
	}
	if err := checkDuration("duration", l.Duration, 0, MaxDuration); err != nil {
		return err
	}
	if err := checkDuration("recover_after", l.RecoverAfter, 0, MaxDuration); err != nil {
		return err
	}
	return checkDuration("drain_timeout", l.DrainTimeout, 0, MaxDuration)
}

// RunProgress is a load in flight.
type RunProgress struct {
	Started time.Time `json:"started"`
	Target  int       `json:"target"`
	Sent    int64     `json:"sent"`
	// Phase is "load" while signups are sent, then "drain".
	Phase string `json:"phase"`
}

// loadOutcome is what the client side of a load saw.
type loadOutcome struct {
	attempted, succeeded, failed int64
	latency                      histogram
	duration                     time.Duration
}

// generate sends the load to url and records each answer. It stops at the
// signup count, the duration, or when ctx ends, whichever comes first.
func generate(ctx context.Context, hc *http.Client, url string, spec LoadSpec, tag string, sent *atomic.Int64) *loadOutcome {
	out := &loadOutcome{}
	limit := MaxDuration
	if spec.Duration > 0 {
		limit = spec.Duration
	}
	// sending stops at the limit; requests already sent still get their
	// answer (each is bounded by the client timeout) unless ctx is cancelled.
	sendCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var mu sync.Mutex // guards the counts of out
	one := func(i int, planned time.Time) {
		sent.Add(1)
		ok := signupOnce(ctx, hc, url, fmt.Sprintf("learner-%s-%d@example.test", tag, i), fmt.Sprintf("Learner %d", i), fmt.Sprintf("%s-%d", tag, i))
		if !ok && ctx.Err() != nil {
			return // cut short by the end of the load: not an answer
		}
		out.latency.record(time.Since(planned))
		mu.Lock()
		defer mu.Unlock()
		out.attempted++
		if ok {
			out.succeeded++
		} else {
			out.failed++
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	if spec.Rate <= 0 { // closed loop: each client sends its next signup when answered
		var next atomic.Int64
		for range spec.Concurrency {
			wg.Go(func() {
				for sendCtx.Err() == nil {
					i := int(next.Add(1))
					if i > spec.Signups {
						return
					}
					one(i, time.Now())
				}
			})
		}
	} else { // open loop: signups arrive on schedule, answered or not
		slots := make(chan struct{}, spec.Concurrency)
		interval := time.Duration(float64(time.Second) / spec.Rate)
	arrivals:
		for i := 1; i <= spec.Signups; i++ {
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
	out.duration = time.Since(start)
	return out
}

func waitUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	return sleep(ctx, nil, d) // a nil stop channel never fires
}

// signupOnce posts one signup and reports whether it succeeded (2xx).
func signupOnce(ctx context.Context, hc *http.Client, url, email, name, idemKey string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*MaxTimeout+10*time.Second) // two calls, then storage
	defer cancel()
	body, _ := json.Marshal(signupBody{Email: email, Name: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}
