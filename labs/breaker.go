package labs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/crossroads-learn/crossroads/labs/service"
)

// ErrBreakerOpen is returned without calling a service whose circuit breaker
// is open: the caller fails fast instead of waiting for a timeout.
var ErrBreakerOpen = errors.New("circuit breaker open")

// BreakerPolicy tunes a circuit breaker.
type BreakerPolicy struct {
	// Failures in a row that open the breaker.
	Failures uint32
	// Cooldown is how long it stays open before letting a trial call through.
	Cooldown time.Duration
}

func (bp BreakerPolicy) withDefaults(failures uint32) BreakerPolicy {
	if bp.Failures == 0 {
		bp.Failures = failures
	}
	if bp.Cooldown <= 0 {
		bp.Cooldown = time.Second
	}
	return bp
}

func (bp BreakerPolicy) settings(name string, onChange func(from, to gobreaker.State)) gobreaker.Settings {
	return gobreaker.Settings{
		Name:        name,
		Timeout:     bp.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= bp.Failures },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if onChange != nil {
				onChange(from, to)
			}
		},
	}
}

// downstream is one service as the synchronous signup reaches it: a timeout
// per call and, when the settings ask for it, a circuit breaker that opens
// after consecutive failures.
type downstream struct {
	name    string
	url     string
	client  *service.Client
	breaker *gobreaker.CircuitBreaker[service.Reply]
}

func newDownstream(name, url string, c *service.Client, bp BreakerPolicy, onChange func(from, to gobreaker.State)) *downstream {
	return &downstream{name: name, url: url, client: c,
		breaker: gobreaker.NewCircuitBreaker[service.Reply](bp.settings(name, onChange))}
}

// call asks the service for its effect, waiting at most timeout; with
// useBreaker an open breaker answers at once with ErrBreakerOpen.
func (d *downstream) call(ctx context.Context, timeout time.Duration, useBreaker bool, req service.Request, key, traceparent string) (service.Reply, error) {
	do := func() (service.Reply, error) {
		return d.client.Call(ctx, d.name, d.url, timeout, req, key, traceparent)
	}
	if !useBreaker {
		return do()
	}
	reply, err := d.breaker.Execute(do)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return reply, fmt.Errorf("%s: %w", d.name, ErrBreakerOpen)
	}
	return reply, err
}
