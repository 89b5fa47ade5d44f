// Package service is the lab's simulated downstream services — the email
// service and the analytics service a signup needs — and the client that
// calls them. Each is a real HTTP server on loopback whose faults (latency,
// errors, an outage, a hang) change live, and whose every effect is written
// to a ledger, so that a duplicate welcome email is observed, never assumed.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the live fault settings of one service.
type Faults struct {
	// Latency is added to every request; Jitter adds up to that much more.
	Latency time.Duration `json:"latency"`
	Jitter  time.Duration `json:"jitter"`
	// ErrorRate is the share of requests answered 503 (0..1).
	ErrorRate float64 `json:"error_rate"`
	// Down refuses connections; Hang accepts and never answers.
	Down bool `json:"down"`
	Hang bool `json:"hang"`
}

// maxHang bounds how long a hanging service holds a request whose caller
// never gives up.
const maxHang = time.Minute

// Request is what a service is asked to do for one user.
type Request struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	// RequestedAt is when the signup began, to measure effect latency.
	RequestedAt time.Time `json:"requested_at"`
	// Run is the lab run the signup belonged to ("" for none).
	Run string `json:"run,omitempty"`
}

// Reply tells the caller whether this request changed anything.
type Reply struct {
	Applied   bool `json:"applied"`
	Duplicate bool `json:"duplicate"`
}

// Ledger records effects. Apply returns 1 for a user's first effect, n > 1
// when the user has now had it n times, and -1 when the idempotency key was
// seen before and nothing was done; key "" means no key.
type Ledger interface {
	ApplyEffect(ctx context.Context, service, userID, key string) (int64, error)
}

// Config is what a service needs from the sandbox around it.
type Config struct {
	Name   string
	Ledger Ledger
	// Faults returns the faults in force now.
	Faults func() Faults
	// Idempotent reports whether the service honours Idempotency-Key.
	Idempotent func() bool
	// Observe is told of every effect applied (count as Ledger returns it).
	Observe func(service string, req Request, count int64, traceparent string)
	Log     *slog.Logger
	// Next, when set, names a service this one calls and waits for before
	// it answers (and before its effect): a synchronous chain. A "" url
	// calls nothing. Client makes those calls.
	Next   func() (name, url string)
	Client *Client
}

// maxHop bounds how long a service waits for the next one in a chain.
const maxHop = 30 * time.Second

// Service is one simulated downstream service.
type Service struct {
	cfg Config

	mu      sync.Mutex
	addr    string
	srv     *http.Server
	ln      net.Listener // srv's; closed at once when the service goes down
	down    bool
	closed  bool
	closing chan struct{} // closed on shutdown, releases waiting requests

	inFlight atomic.Int64
}

// Start listens on a free loopback port and serves.
func Start(cfg Config) (*Service, error) {
	s := &Service{cfg: cfg, closing: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s service: %w", cfg.Name, err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// URL is the endpoint a client posts effect requests to.
func (s *Service) URL() string { return "http://" + s.addr + "/effects" }

func (s *Service) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.srv, s.ln = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Warn("service stopped", "service", s.cfg.Name, "err", err)
		}
	}()
}

// SetDown makes the service refuse connections (its listener is closed) or
// listen again on the same address.
func (s *Service) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || down == s.down {
		return nil
	}
	if down {
		s.down = true
		err := s.srv.Close()
		// Close leaves the listener open if srv.Serve has not started
		// yet; connections made meanwhile would wait in its backlog and
		// then be reset, not refused. Closing it here refuses them now.
		s.ln.Close()
		return err
	}
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; give the kernel a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("restart %s service on %s: %w", s.cfg.Name, s.addr, err)
	}
	s.down = false
	s.serve(ln)
	return nil
}

// Close stops the service; requests still waiting end at once.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	StopServer(srv)
	ln.Close() // in case srv.Serve had not started

}

// InFlight is how many requests the service is working on (or holding).
func (s *Service) InFlight() int64 { return s.inFlight.Load() }

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/effects" {
		http.NotFound(w, r)
		return
	}
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	// Reading the whole request first lets the server notice a caller that
	// gives up, which a hanging service needs to let go of it.
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.UserID == "" {
		http.Error(w, "bad effect request: a JSON object with user_id is required", http.StatusBadRequest)
		return
	}
	f := s.cfg.Faults()
	if f.Hang { // hold the request until the caller gives up; never answer
		t := time.NewTimer(maxHang)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		case <-t.C:
		}
		return
	}
	// Slow work goes on whether or not the caller still waits, as it does in
	// a real service: a call that timed out can still take effect.
	if d := f.Latency + jitter(f.Jitter); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}
	if s.cfg.Next != nil {
		if name, next := s.cfg.Next(); next != "" {
			if _, err := s.cfg.Client.Call(r.Context(), name, next, maxHop, req, r.Header.Get("Idempotency-Key"), r.Header.Get("traceparent")); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
	}
	if s.cfg.Ledger == nil { // a hop of a chain: it only passes the call on
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Reply{})
		return
	}
	key := ""
	if s.cfg.Idempotent() {
		key = r.Header.Get("Idempotency-Key")
	}
	// The effect must not be half-applied because the caller went away.
	n, err := s.cfg.Ledger.ApplyEffect(context.WithoutCancel(r.Context()), s.cfg.Name, req.UserID, key)
	if err != nil {
		http.Error(w, "ledger unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.cfg.Observe(s.cfg.Name, req, n, r.Header.Get("traceparent"))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Reply{Applied: n > 0, Duplicate: n > 1})
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// StopServer closes srv and waits, for a bounded time, for the requests in
// flight to finish, so that none of them writes to Redis after the sandbox
// has deleted its keys.
func StopServer(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
}
