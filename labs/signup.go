package labs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/crossroads-learn/crossroads/labs/load"
	"github.com/crossroads-learn/crossroads/labs/service"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// User is the record the signup API stores.
type User = stream.User

// signupAPI is the user service: the HTTP endpoint a learner's load hits.
type signupAPI struct {
	store     *stream.Store
	email     *downstream
	analytics *downstream
	settings  func() Settings
	count     *counters
	latency   *load.Histogram // how long valid signups took to answer
	metrics   *promMetrics
	trace     *tracer
	flows     *flowLog
	// data is held for reading around every write (see Sandbox.dataMu);
	// appended wakes the consumers after an event reached the stream.
	data     *sync.RWMutex
	appended func()
}

// signupRequest is one validated signup.
type signupRequest struct {
	Email          string
	Name           string
	IdempotencyKey string
	TraceParent    string
	// Run is the lab run the signup belongs to ("" for a one-off).
	Run        string
	ReceivedAt time.Time
	// Shown signups are drawn in the live picture.
	Shown bool
}

func (r signupRequest) newUser(mode Mode) User {
	return User{ID: newID("u_"), Email: r.Email, Name: r.Name, Mode: string(mode), EventID: newID("evt_"), Run: r.Run, CreatedAt: time.Now().UTC()}
}

// signupSync creates the user, then calls the email service and then the
// analytics service, waiting for each: the caller waits for both, one after
// the other. When a call fails the signup fails, although the user now exists.
func (a *signupAPI) signupSync(ctx context.Context, req signupRequest) (User, error) {
	user, created, err := a.storeUser(ctx, req, req.newUser(ModeSync), nil)
	if err != nil {
		return User{}, err
	}
	if err := a.call(ctx, a.email, user, req); err != nil {
		return user, a.orphan(ctx, user, created, fmt.Errorf("send welcome email: %w", err))
	}
	if err := a.call(ctx, a.analytics, user, req); err != nil && !a.settings().Fallback {
		return user, a.orphan(ctx, user, created, fmt.Errorf("track signup: %w", err))
	}
	return user, nil
}

// signupAsync creates the user and appends the user.signedup fact to the
// stream in one atomic write (an outbox), then returns at once: the email and
// analytics consumers do their part later, at their own pace, and retry on
// failure.
func (a *signupAPI) signupAsync(ctx context.Context, req signupRequest) (User, error) {
	user := req.newUser(ModeAsync)
	event := stream.SignedUp(user, req.ReceivedAt, req.TraceParent)
	if a.settings().Publish == PublishNaive {
		return a.signupNaive(ctx, req, user, event)
	}
	if err := a.injectedPublishFailure(); err != nil {
		return User{}, err // nothing was written: the outbox keeps both or neither
	}
	user, _, err := a.storeUser(ctx, req, user, &event)
	return user, err
}

// signupNaive writes the user and then publishes in a second call: when the
// publish fails the user exists but no consumer will ever hear of it.
func (a *signupAPI) signupNaive(ctx context.Context, req signupRequest, user User, event stream.Event) (User, error) {
	user, created, err := a.storeUser(ctx, req, user, nil)
	if err != nil || !created {
		return user, err
	}
	if err := a.injectedPublishFailure(); err != nil {
		return user, a.orphan(ctx, user, created, err)
	}
	a.data.RLock()
	err = a.store.Publish(ctx, event)
	a.data.RUnlock()
	if err != nil {
		a.count.publishFailed.Add(1)
		return user, a.orphan(ctx, user, created, fmt.Errorf("publish %s: %w", EventSignedUp, err))
	}
	a.appended()
	a.trace.add(req.TraceParent, "api", EventSignedUp+" published")
	a.flow(req, Flow{Kind: FlowPublished, Where: "stream", OK: true})
	return user, nil
}

// storeUser writes the user (and, with ev, its event in the same script) and
// says so in the trace and the picture.
func (a *signupAPI) storeUser(ctx context.Context, req signupRequest, u User, ev *stream.Event) (User, bool, error) {
	a.data.RLock()
	user, created, err := a.store.CreateUser(ctx, u, req.IdempotencyKey, ev)
	a.data.RUnlock()
	if created && ev != nil {
		a.appended()
	}
	switch {
	case err != nil:
		a.trace.add(req.TraceParent, "api", "storing the user failed: "+err.Error())
	case !created:
		a.trace.add(req.TraceParent, "api", "user "+user.ID+" already existed for this Idempotency-Key: nothing stored")
	case ev != nil:
		a.trace.add(req.TraceParent, "api", "user "+user.ID+" stored and "+EventSignedUp+" published, in one atomic write")
		a.flow(req, Flow{Kind: FlowPublished, Where: "stream", OK: true})
	default:
		a.trace.add(req.TraceParent, "api", "user "+user.ID+" stored")
		a.flow(req, Flow{Kind: FlowStored, Where: "api", OK: true})
	}
	return user, created, err
}

// flow records f for the picture when the signup is shown.
func (a *signupAPI) flow(req signupRequest, f Flow) {
	if req.Shown {
		f.ID = traceID(req.TraceParent)[:12]
		a.flows.add(f)
	}
}

func (a *signupAPI) injectedPublishFailure() error {
	if r := a.settings().PublishErrorRate; r > 0 && rand.Float64() < r {
		a.count.publishFailed.Add(1)
		return errPublishFailed
	}
	return nil
}

var errPublishFailed = errors.New("publish failed (injected)")

// call asks one service for its effect with the user's event id as the
// idempotency key, so a retried signup is recognised downstream.
func (a *signupAPI) call(ctx context.Context, d *downstream, u User, req signupRequest) error {
	s := a.settings()
	a.trace.add(req.TraceParent, "api", "calling "+d.name+" service")
	start := time.Now()
	_, err := d.call(ctx, s.Timeout, s.Breaker, service.Request{UserID: u.ID, Email: u.Email, RequestedAt: req.ReceivedAt, Run: req.Run}, u.EventID, req.TraceParent)
	outcome := "ok"
	switch {
	case errors.Is(err, ErrBreakerOpen):
		outcome = "breaker_open"
	case err != nil:
		outcome = "error"
	}
	a.metrics.calls.WithLabelValues(d.name, outcome).Inc()
	a.flow(req, Flow{Kind: FlowCall, Where: d.name, OK: err == nil, MS: msSince(start), Detail: failureWord(err)})
	if err != nil {
		a.trace.add(req.TraceParent, "api", d.name+" call failed: "+err.Error())
		return &callError{err}
	}
	a.trace.add(req.TraceParent, "api", d.name+" service answered")
	return nil
}

// orphan notes a user stored for a signup that is about to report failure,
// and returns err.
func (a *signupAPI) orphan(ctx context.Context, u User, created bool, err error) error {
	if !created {
		return err
	}
	a.count.orphaned.Add(1)
	if markErr := a.store.MarkFailed(context.WithoutCancel(ctx), u.Run, u.ID); markErr != nil {
		return errors.Join(err, markErr)
	}
	return err
}

// callError marks a failed downstream call (as opposed to a storage error).
type callError struct{ err error }

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// SignupReply is the JSON the API answers with.
type SignupReply struct {
	UserID  string `json:"user_id,omitempty"`
	EventID string `json:"event_id,omitempty"`
	Mode    Mode   `json:"mode"`
	Error   string `json:"error,omitempty"`
	// Field names the input that was wrong, on a 400 or 409.
	Field string `json:"field,omitempty"`
}

func (a *signupAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/signups" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	mode := a.settings().Mode
	req, err := readSignup(w, r)
	if err != nil {
		a.metrics.signup(mode, "invalid", time.Since(start))
		var fe *FieldError
		errors.As(err, &fe)
		writeJSON(w, http.StatusBadRequest, SignupReply{Mode: mode, Error: err.Error(), Field: fe.Field})
		return
	}
	req.ReceivedAt = start
	req.Shown = a.flows.admit("api")
	defer func() { a.latency.Record(time.Since(start)) }()
	a.count.signups.Add(1)
	a.trace.add(req.TraceParent, "api", "signup received ("+string(mode)+")")
	var user User
	if mode == ModeSync {
		user, err = a.signupSync(r.Context(), req)
	} else if user, err = a.signupAsync(r.Context(), req); err == nil {
		a.count.published.Add(1)
	}
	reply := SignupReply{UserID: user.ID, EventID: user.EventID, Mode: mode}
	a.flow(req, Flow{Kind: FlowSignup, Where: "api", OK: err == nil, MS: msSince(start), Detail: string(mode)})
	if err == nil {
		a.count.succeeded.Add(1)
		a.metrics.signup(mode, "ok", time.Since(start))
		a.trace.add(req.TraceParent, "api", "answered 201")
		writeJSON(w, http.StatusCreated, reply)
		return
	}
	status, outcome := signupStatus(err)
	if status == http.StatusConflict {
		reply.Field = "email"
	} else {
		a.count.failed.Add(1)
	}
	reply.Error = err.Error()
	a.metrics.signup(mode, outcome, time.Since(start))
	a.trace.add(req.TraceParent, "api", fmt.Sprintf("answered %d: %v", status, err))
	writeJSON(w, status, reply)
}

// signupStatus maps a failure to the status a client sees.
func signupStatus(err error) (int, string) {
	var ce *callError
	switch {
	case errors.Is(err, stream.ErrEmailTaken):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrBreakerOpen):
		return http.StatusServiceUnavailable, "failed"
	case errors.As(err, &ce) && errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "failed"
	case errors.As(err, &ce):
		return http.StatusBadGateway, "failed"
	}
	return http.StatusServiceUnavailable, "failed"
}

// readSignup decodes and validates a signup; errors are *FieldError.
func readSignup(w http.ResponseWriter, r *http.Request) (signupRequest, error) {
	var body load.Body
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		return signupRequest{}, fieldErr("body", "not a JSON object with email and name: %v", err)
	}
	req := signupRequest{
		Email:          strings.TrimSpace(body.Email),
		Name:           strings.TrimSpace(body.Name),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		TraceParent:    r.Header.Get("traceparent"),
		Run:            r.Header.Get(load.RunHeader),
	}
	if err := validateEmail(req.Email); err != nil {
		return req, err
	}
	if n := utf8.RuneCountInString(req.Name); n < 1 || n > 100 {
		return req, fieldErr("name", "must be 1 to 100 characters, got %d", n)
	}
	if k := req.IdempotencyKey; len(k) > 200 || strings.ContainsFunc(k, func(c rune) bool { return c <= ' ' || c > '~' }) {
		return req, fieldErr("Idempotency-Key", "must be at most 200 printable ASCII characters without spaces")
	}
	if req.Run != "" && !idPattern.MatchString(req.Run) {
		return req, fieldErr(load.RunHeader, "must be 1 to 64 letters, digits, '-' or '_'")
	}
	if traceID(req.TraceParent) == "" {
		req.TraceParent = newTraceParent()
	}
	return req, nil
}

func validateEmail(s string) error {
	if s == "" {
		return fieldErr("email", "is required")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndex(s, "@"):], ".") {
		return fieldErr("email", "%q is not an address like name@example.com", s)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func msSince(t time.Time) float64 { return round3(float64(time.Since(t).Microseconds()) / 1000) }

// failureWord says in one or two words why a call failed ("" if it did not).
func failureWord(err error) string {
	var f *service.Failure
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrBreakerOpen):
		return "breaker open"
	case errors.As(err, &f):
		switch f.Kind {
		case service.Refused:
			return "refused"
		case service.Timeout:
			return "timed out"
		case service.Status:
			return fmt.Sprint(f.Status)
		}
	}
	return "failed"
}
