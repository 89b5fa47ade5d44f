package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/decide"
)

// decideTTL is how long a learner's unfinished decision is kept after their
// last change.
const decideTTL = 30 * 24 * time.Hour

// maxDecideDraftBytes bounds one stored draft. Every field is cut to its
// limit before saving; this bounds the whole, which the limits alone allow
// to reach megabytes (600 interactions of long names). Any answers file a
// team really writes is far smaller.
const maxDecideDraftBytes = 512 << 10

// errDecideDraftTooLarge is a draft over maxDecideDraftBytes: not saved.
var errDecideDraftTooLarge = errors.New("decision draft too large")

// decideRedisTimeout bounds every Redis call a decide request makes, so a
// hung or unreachable Redis gives the learner a clear page quickly.
var decideRedisTimeout = 2 * time.Second

var errDecideRedisTimeout = errors.New("redis did not answer in time")

// withDecideDeadline runs one Redis call under decideRedisTimeout. The call
// gets the deadline on its context, which stops waiting for a connection,
// dialling and retries; and the caller stops waiting at the deadline even
// when the client is set to bound socket reads by its own ReadTimeout
// instead (go-redis without ContextTimeoutEnabled): the call then finishes
// in the background, bounded by that timeout.
func withDecideDeadline[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, decideRedisTimeout, fmt.Errorf("%w (%s)", errDecideRedisTimeout, decideRedisTimeout))
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
			r.err = fmt.Errorf("%w: %w", errDecideRedisTimeout, r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// decideDraft is what the wizard keeps per learner: the answers so far and
// the furthest step reached, so a returning learner resumes where they were.
type decideDraft struct {
	Answers decide.Answers `json:"answers"`
	Reached int            `json:"reached"`
}

func decideKey(learner string) string { return "cr:{" + learner + "}:decide" }

// loadDraft returns the learner's draft; ok is false when there is none. A
// draft saved before its fields were bounded is cut to the limits.
func (s *Server) loadDraft(ctx context.Context, learner string) (decideDraft, bool, error) {
	var d decideDraft
	b, err := withDecideDeadline(ctx, func(ctx context.Context) ([]byte, error) {
		return s.cfg.Redis.Get(ctx, decideKey(learner)).Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("load decision draft: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		// A draft this version cannot read is treated as absent rather
		// than locking the learner out of the wizard.
		s.log.Warn("unreadable decision draft", "err", err)
		return decideDraft{}, false, nil
	}
	d.Answers, _ = decide.Clip(d.Answers)
	return d, true, nil
}

// encodeDecideDraft is the stored form of d; a draft over
// maxDecideDraftBytes is refused with errDecideDraftTooLarge.
func encodeDecideDraft(d decideDraft) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode decision draft: %w", err)
	}
	if len(b) > maxDecideDraftBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", errDecideDraftTooLarge, len(b), maxDecideDraftBytes)
	}
	return b, nil
}

func (s *Server) saveDraft(ctx context.Context, learner string, d decideDraft) error {
	b, err := encodeDecideDraft(d)
	if err != nil {
		return err
	}
	_, err = withDecideDeadline(ctx, func(ctx context.Context) (string, error) {
		return s.cfg.Redis.Set(ctx, decideKey(learner), b, decideTTL).Result()
	})
	if err != nil {
		return fmt.Errorf("save decision draft: %w", err)
	}
	return nil
}

func (s *Server) deleteDraft(ctx context.Context, learner string) error {
	_, err := withDecideDeadline(ctx, func(ctx context.Context) (int64, error) {
		return s.cfg.Redis.Del(ctx, decideKey(learner)).Result()
	})
	if err != nil {
		return fmt.Errorf("delete decision draft: %w", err)
	}
	return nil
}

// encodeDecideJSON writes answers as indented JSON, the same shape the CLI reads.
func encodeDecideJSON(w io.Writer, a decide.Answers) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(a)
}
