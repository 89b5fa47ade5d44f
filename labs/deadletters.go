package labs

import (
	"context"
	"fmt"
	"regexp"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// DeadLetter is a message a group gave up on, with the reason in plain words.
type DeadLetter = stream.DeadLetter

// DeadLetters lists up to limit dead letters, newest first (limit 1..1000).
func (s *Sandbox) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit < 1 || limit > 1000 {
		return nil, fieldErr("limit", "%d is not between 1 and 1000", limit)
	}
	return s.store.DeadLetters(ctx, limit)
}

// Replay puts a dead letter back on the stream for its group only: the other
// group acknowledges the copy unread. Replaying the same letter twice gives
// ErrNotFound the second time; a replayed event the group already finished
// is skipped by its idempotency record.
func (s *Sandbox) Replay(ctx context.Context, deadID string) (DeadLetter, error) {
	if !streamIDPattern.MatchString(deadID) {
		return DeadLetter{}, fieldErr("id", "%q is not a stream entry id", deadID)
	}
	return s.store.Replay(ctx, deadID)
}

var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// InjectPoison adds one message no consumer can read to the event stream, so
// a learner can watch it fail, land in the dead-letter stream and be
// replayed. It returns the entry id.
func (s *Sandbox) InjectPoison(ctx context.Context) (string, error) {
	if s.ctx.Err() != nil {
		return "", ErrClosed
	}
	id, err := s.store.AddPoison(ctx, "")
	if err != nil {
		return "", fmt.Errorf("inject poison message: %w", err)
	}
	return id, nil
}
