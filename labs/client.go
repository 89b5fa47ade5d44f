package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrBreakerOpen is returned without calling a service whose circuit breaker
// is open: the caller fails fast instead of waiting for a timeout.
var ErrBreakerOpen = errors.New("circuit breaker open")

// downstream calls one service over HTTP with a timeout and, when asked, a
// circuit breaker that opens after consecutive failures.
type downstream struct {
	name    string
	url     string
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
}

// BreakerPolicy tunes the circuit breakers of sync mode.
type BreakerPolicy struct {
	// Failures in a row that open the breaker.
	Failures uint32
	// Cooldown is how long it stays open before letting a trial call through.
	Cooldown time.Duration
}

func newDownstream(name, url string, hc *http.Client, bp BreakerPolicy, onChange func(string, gobreaker.State)) *downstream {
	return &downstream{
		name: name, url: url, http: hc,
		breaker: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			Timeout:     bp.Cooldown,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= bp.Failures },
			OnStateChange: func(name string, _, to gobreaker.State) {
				if onChange != nil {
					onChange(name, to)
				}
			},
		}),
	}
}

// call asks the service for its effect, waiting at most timeout. The event id
// travels as the Idempotency-Key so a repeated call can be recognised.
func (d *downstream) call(ctx context.Context, timeout time.Duration, useBreaker bool, req effectRequest, key, traceparent string) (effectReply, error) {
	if !useBreaker {
		return d.post(ctx, timeout, req, key, traceparent)
	}
	var reply effectReply
	_, err := d.breaker.Execute(func() (struct{}, error) {
		var err error
		reply, err = d.post(ctx, timeout, req, key, traceparent)
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return reply, fmt.Errorf("%s: %w", d.name, ErrBreakerOpen)
	}
	return reply, err
}

func (d *downstream) post(ctx context.Context, timeout time.Duration, req effectRequest, key, traceparent string) (effectReply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return effectReply{}, fmt.Errorf("%s: %w", d.name, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", key)
	if traceparent != "" {
		r.Header.Set("traceparent", traceparent)
	}
	resp, err := d.http.Do(r)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return effectReply{}, fmt.Errorf("%s: no answer within %v: %w", d.name, timeout, context.DeadlineExceeded)
		}
		return effectReply{}, fmt.Errorf("%s: %w", d.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return effectReply{}, fmt.Errorf("%s: status %d: %s", d.name, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var reply effectReply
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return effectReply{}, fmt.Errorf("%s: read reply: %w", d.name, err)
	}
	return reply, nil
}

// newHTTPClient is tuned for many concurrent calls to a few loopback hosts.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2048
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 30 * time.Second
	t.Proxy = nil
	return &http.Client{Transport: t}
}
