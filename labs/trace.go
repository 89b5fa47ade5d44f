package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/crossroads-learn/crossroads/labs/load"
)

// TraceStep is one thing that happened to a traced signup.
type TraceStep struct {
	// AtMS is milliseconds since the signup request was sent.
	AtMS  float64 `json:"at_ms"`
	Where string  `json:"where"`
	What  string  `json:"what"`
}

// Trace follows one signup from the request to its effects, linked by the
// W3C trace context the request, the event and every call carry.
type Trace struct {
	TraceParent string      `json:"traceparent"`
	Status      int         `json:"status"`
	Reply       SignupReply `json:"reply"`
	Steps       []TraceStep `json:"steps"`
	// Complete is true when both effects were seen before the wait ended.
	Complete bool `json:"complete"`
}

// tracer collects steps for the few signups being traced; for all others
// add costs one map lookup under a read lock.
type tracer struct {
	mu     sync.RWMutex
	active map[string]*traceRec
}

type traceRec struct {
	start   time.Time
	steps   []TraceStep
	effects map[string]bool
}

func newTracer() *tracer { return &tracer{active: map[string]*traceRec{}} }

func (t *tracer) begin(traceparent string) {
	t.mu.Lock()
	t.active[traceID(traceparent)] = &traceRec{start: time.Now(), effects: map[string]bool{}}
	t.mu.Unlock()
}

// end stops tracing and returns the steps seen.
func (t *tracer) end(traceparent string) []TraceStep {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := traceID(traceparent)
	rec := t.active[id]
	delete(t.active, id)
	if rec == nil {
		return nil
	}
	return append([]TraceStep(nil), rec.steps...)
}

func (t *tracer) add(traceparent, where, what string) {
	t.mu.RLock()
	rec := t.active[traceID(traceparent)]
	t.mu.RUnlock()
	if rec == nil {
		return
	}
	t.mu.Lock()
	if t.active[traceID(traceparent)] == rec {
		rec.steps = append(rec.steps, TraceStep{AtMS: round3(float64(time.Since(rec.start).Microseconds()) / 1000), Where: where, What: what})
	}
	t.mu.Unlock()
}

func (t *tracer) effect(traceparent, service string) {
	t.mu.Lock()
	if rec := t.active[traceID(traceparent)]; rec != nil {
		rec.effects[service] = true
	}
	t.mu.Unlock()
}

func (t *tracer) complete(traceparent string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rec := t.active[traceID(traceparent)]
	return rec != nil && rec.effects[ServiceEmail] && rec.effects[ServiceAnalytics]
}

// Trace sends one signup through the API and follows it until both effects
// happened (or wait ran out): request, storage, publish, each consumer's
// delivery, calls, retries and acks, in order.
func (s *Sandbox) Trace(ctx context.Context, email, name string, wait time.Duration) (Trace, error) {
	if s.api == nil {
		return Trace{}, fmt.Errorf("trace a signup: this sandbox is a worker without a signup API")
	}
	if err := checkDuration("wait", wait, 0, time.Minute); err != nil {
		return Trace{}, err
	}
	tp := newTraceParent()
	s.trace.begin(tp)
	tr := Trace{TraceParent: tp}
	body, _ := json.Marshal(load.Body{Email: email, Name: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.SignupURL(), bytes.NewReader(body))
	if err != nil {
		s.trace.end(tp)
		return tr, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", tp)
	resp, err := s.client.HTTP().Do(req)
	if err != nil {
		s.trace.end(tp)
		return tr, fmt.Errorf("trace a signup: %w", err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	tr.Status = resp.StatusCode
	json.Unmarshal(raw, &tr.Reply)
	if resp.StatusCode/100 == 2 {
		deadline := time.Now().Add(wait)
		for !s.trace.complete(tp) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	tr.Complete = s.trace.complete(tp)
	tr.Steps = s.trace.end(tp)
	if resp.StatusCode == http.StatusBadRequest {
		return tr, &FieldError{Field: tr.Reply.Field, Reason: tr.Reply.Error}
	}
	return tr, nil
}
