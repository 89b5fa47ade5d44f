package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"
)

// Client calls the services over HTTP, one call at a time with a timeout,
// and says in plain words why a call failed and whether trying again can
// help.
type Client struct {
	http *http.Client
}

// NewClient returns a client tuned for many concurrent calls to a few
// loopback hosts.
func NewClient() *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Idle connections are kept for the next run's burst, but only briefly:
	// each is two file descriptors on a server that a whole room shares.
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 5 * time.Second
	t.Proxy = nil
	return &Client{http: &http.Client{Transport: t}}
}

// HTTP is the underlying client, shared with the load generator.
func (c *Client) HTTP() *http.Client { return c.http }

// CloseIdleConnections closes connections no call is using.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Call asks the service at url (named name) for its effect, waiting at most
// timeout. key travels as the Idempotency-Key so that a repeated call can be
// recognised. A failed call returns a *Failure.
func (c *Client) Call(ctx context.Context, name, url string, timeout time.Duration, req Request, key, traceparent string) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Reply{}, fmt.Errorf("%s: %w", name, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", key)
	if traceparent != "" {
		r.Header.Set("traceparent", traceparent)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return Reply{}, &Failure{Service: name, Kind: Timeout, Timeout: timeout, err: context.DeadlineExceeded}
		case errors.Is(err, syscall.ECONNREFUSED):
			return Reply{}, &Failure{Service: name, Kind: Refused, err: err}
		}
		return Reply{}, &Failure{Service: name, Kind: Unreachable, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return Reply{}, &Failure{Service: name, Kind: Status, Status: resp.StatusCode, Detail: string(bytes.TrimSpace(msg))}
	}
	var reply Reply
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return Reply{}, &Failure{Service: name, Kind: Unreadable, err: err}
	}
	return reply, nil
}

// Kind is why a call failed.
type Kind int

const (
	// Refused: nothing listens (the service is down).
	Refused Kind = iota
	// Timeout: no answer within the caller's timeout.
	Timeout
	// Unreachable: the connection failed some other way.
	Unreachable
	// Status: the service answered with an error status.
	Status
	// Unreadable: the answer could not be decoded.
	Unreadable
)

// Failure is a failed call, classified.
type Failure struct {
	Service string
	Kind    Kind
	// Status and Detail are the answer's status code and text (Kind Status).
	Status int
	Detail string
	// Timeout is the caller's timeout (Kind Timeout).
	Timeout time.Duration
	err     error
}

// Transient reports whether trying again later can succeed: an outage, a
// timeout, a 5xx or a 429 can pass; any other 4xx says the request itself is
// wrong and will be refused every time.
func (f *Failure) Transient() bool {
	if f.Kind != Status {
		return true
	}
	return f.Status >= 500 || f.Status == http.StatusTooManyRequests
}

func (f *Failure) Error() string {
	switch f.Kind {
	case Refused:
		return fmt.Sprintf("the %s service refused the connection (it is down)", f.Service)
	case Timeout:
		return fmt.Sprintf("the %s service did not answer within %v", f.Service, f.Timeout)
	case Status:
		detail := ""
		if f.Detail != "" {
			detail = ": " + f.Detail
		}
		if f.Transient() {
			return fmt.Sprintf("the %s service answered %d%s", f.Service, f.Status, detail)
		}
		return fmt.Sprintf("the %s service rejected the request with %d%s", f.Service, f.Status, detail)
	case Unreadable:
		return fmt.Sprintf("the %s service's answer could not be read: %v", f.Service, f.err)
	}
	return fmt.Sprintf("could not reach the %s service: %v", f.Service, f.err)
}

func (f *Failure) Unwrap() error { return f.err }

// Raw is the failure as the HTTP client saw it, for those who want the
// technical detail behind the plain words.
func (f *Failure) Raw() string {
	switch {
	case f.Kind == Status:
		return fmt.Sprintf("HTTP %d %s: %s", f.Status, http.StatusText(f.Status), f.Detail)
	case f.err != nil:
		return f.err.Error()
	}
	return f.Error()
}

// Permanent reports whether err says the request itself is wrong, so that
// no retry can succeed; anything else is worth another try.
func Permanent(err error) bool {
	var f *Failure
	return errors.As(err, &f) && !f.Transient()
}
