package labs

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
	"time"
)

// effectRequest is what the email and analytics services are asked to do.
type effectRequest struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	// RequestedAt is when the signup began, to measure effect latency.
	RequestedAt time.Time `json:"requested_at"`
}

// effectReply tells the caller whether this request changed anything.
type effectReply struct {
	Applied   bool `json:"applied"`
	Duplicate bool `json:"duplicate"`
}

// service is a simulated downstream (email or analytics): a real HTTP server
// on loopback whose faults change live. Its ledger lives in Redis, so effects
// are observed across processes rather than assumed.
type service struct {
	name     string
	store    *store
	settings func() Settings
	observe  func(service string, req effectRequest, count int64, traceparent string)
	log      *slog.Logger

	mu      sync.Mutex
	addr    string
	srv     *http.Server
	down    bool
	closed  bool
	closing chan struct{} // closed on shutdown, releases hanging requests
}

func startService(name string, st *store, settings func() Settings, observe func(string, effectRequest, int64, string), log *slog.Logger) (*service, error) {
	s := &service{name: name, store: st, settings: settings, observe: observe, log: log, closing: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s service: %w", name, err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

func (s *service) url() string { return "http://" + s.addr + "/effects" }

func (s *service) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("service stopped", "service", s.name, "err", err)
		}
	}()
}

// setDown makes the service refuse connections (its listener is closed) or
// listen again on the same address.
func (s *service) setDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || down == s.down {
		return nil
	}
	if down {
		s.down = true
		return s.srv.Close()
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
		return fmt.Errorf("restart %s service on %s: %w", s.name, s.addr, err)
	}
	s.down = false
	s.serve(ln)
	return nil
}

func (s *service) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing) // hanging and sleeping requests end now
	srv := s.srv
	s.mu.Unlock()
	stopServer(srv)
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/effects" {
		http.NotFound(w, r)
		return
	}
	f := s.settings().faults(s.name)
	ctx := r.Context()
	if f.Hang {
		select { // hold the request until the caller gives up
		case <-ctx.Done():
		case <-s.closing:
		}
		return
	}
	if d := f.Latency + jitter(f.Jitter); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		http.Error(w, s.name+" service: injected failure", http.StatusServiceUnavailable)
		return
	}
	var req effectRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.UserID == "" {
		http.Error(w, "bad effect request", http.StatusBadRequest)
		return
	}
	key := ""
	if s.settings().Idempotency {
		key = r.Header.Get("Idempotency-Key")
	}
	// The effect must not be half-applied because the caller went away.
	n, err := s.store.applyEffect(context.WithoutCancel(ctx), s.name, req.UserID, key)
	if err != nil {
		http.Error(w, s.name+" service: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.observe(s.name, req, n, r.Header.Get("traceparent"))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(effectReply{Applied: n > 0, Duplicate: n > 1})
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// stopServer closes srv and waits, for a bounded time, for the requests in
// flight to finish, so that none of them writes to Redis after the sandbox
// has deleted its keys.
func stopServer(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
}
