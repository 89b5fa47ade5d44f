package decide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Drafts keeps each learner's unfinished decision in Redis, so that a
// learner who leaves the wizard finds it where they left it, on any app
// instance. All of its Redis commands are in this file.
type Drafts struct {
	c   redis.UniversalClient
	log *slog.Logger
	// Timeout bounds every call (DraftTimeout unless set).
	Timeout time.Duration
}

// Draft is what the wizard keeps per learner: the answers so far and the
// furthest step reached, so a returning learner resumes where they were.
type Draft struct {
	Answers Answers `json:"answers"`
	Reached int     `json:"reached"`
}

// DraftTTL is how long a learner's unfinished decision is kept after their
// last change.
const DraftTTL = 30 * 24 * time.Hour

// MaxDraftBytes bounds one stored draft. Every field is cut to its limit
// before saving; this bounds the whole, which the limits alone allow to
// reach megabytes (600 interactions of long names). Any answers file a team
// really writes is far smaller.
const MaxDraftBytes = 512 << 10

// DraftTimeout is how long a draft call waits for Redis by default, so
// that a hung or unreachable Redis gives the learner a clear page quickly.
const DraftTimeout = 2 * time.Second

// ErrDraftTooLarge is a draft over MaxDraftBytes: not saved.
var ErrDraftTooLarge = errors.New("decision draft too large")

// ErrRedisTimeout is a draft call Redis did not answer within the timeout.
var ErrRedisTimeout = errors.New("redis did not answer in time")

// NewDrafts returns the draft store on c; log notes drafts it cannot read.
func NewDrafts(c redis.UniversalClient, log *slog.Logger) *Drafts {
	if log == nil {
		log = slog.Default()
	}
	return &Drafts{c: c, log: log, Timeout: DraftTimeout}
}

func draftKey(learner string) string { return "cr:{" + learner + "}:decide" }

// Load returns the learner's draft; ok is false when there is none. A draft
// saved before its fields were bounded is cut to the limits, and one this
// version cannot read counts as none rather than locking the learner out of
// the wizard.
func (d *Drafts) Load(ctx context.Context, learner string) (Draft, bool, error) {
	b, err := withDeadline(ctx, d.Timeout, func(ctx context.Context) ([]byte, error) {
		return d.c.Get(ctx, draftKey(learner)).Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return Draft{}, false, nil
	}
	if err != nil {
		return Draft{}, false, fmt.Errorf("load decision draft: %w", err)
	}
	var dr Draft
	if err := json.Unmarshal(b, &dr); err != nil {
		d.log.Warn("unreadable decision draft", "err", err)
		return Draft{}, false, nil
	}
	dr.Answers, _ = Clip(dr.Answers)
	return dr, true, nil
}

// EncodeDraft is the stored form of dr; a draft over MaxDraftBytes is
// refused with ErrDraftTooLarge.
func EncodeDraft(dr Draft) ([]byte, error) {
	b, err := json.Marshal(dr)
	if err != nil {
		return nil, fmt.Errorf("encode decision draft: %w", err)
	}
	if len(b) > MaxDraftBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrDraftTooLarge, len(b), MaxDraftBytes)
	}
	return b, nil
}

// Save stores the learner's draft for DraftTTL from now.
func (d *Drafts) Save(ctx context.Context, learner string, dr Draft) error {
	b, err := EncodeDraft(dr)
	if err != nil {
		return err
	}
	_, err = withDeadline(ctx, d.Timeout, func(ctx context.Context) (string, error) {
		return d.c.Set(ctx, draftKey(learner), b, DraftTTL).Result()
	})
	if err != nil {
		return fmt.Errorf("save decision draft: %w", err)
	}
	return nil
}

// Delete forgets the learner's draft.
func (d *Drafts) Delete(ctx context.Context, learner string) error {
	_, err := withDeadline(ctx, d.Timeout, func(ctx context.Context) (int64, error) {
		return d.c.Del(ctx, draftKey(learner)).Result()
	})
	if err != nil {
		return fmt.Errorf("delete decision draft: %w", err)
	}
	return nil
}

// withDeadline runs one Redis call under timeout. The call gets the
// deadline on its context, which stops waiting for a connection, dialling
// and retries; and the caller stops waiting at the deadline even when the
// client bounds socket reads by its own ReadTimeout instead (go-redis
// without ContextTimeoutEnabled): the call then finishes in the background,
// bounded by that timeout.
func withDeadline[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w (%s)", ErrRedisTimeout, timeout))
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.err = fmt.Errorf("%w: %w", ErrRedisTimeout, r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}
