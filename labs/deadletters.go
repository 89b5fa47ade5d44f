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
	page, _, err := s.DeadLetterPage(ctx, DeadQuery{Limit: limit})
	return page, err
}

// DeadQuery picks a page of dead letters (see stream.DeadQuery).
type DeadQuery = stream.DeadQuery

// DeadLetterPage lists the dead letters q picks, newest first, and where the
// next page starts ("" when there is none).
func (s *Sandbox) DeadLetterPage(ctx context.Context, q DeadQuery) ([]DeadLetter, string, error) {
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, "", fieldErr("limit", "%d is not between 1 and 1000", q.Limit)
	}
	if q.Before != "" && !streamIDPattern.MatchString(q.Before) {
		return nil, "", fieldErr("before", "%q is not a stream entry id", q.Before)
	}
	return s.store.DeadLetters(ctx, q)
}

// DeadCounts counts the dead letters by group and why ("email:gave_up").
func (s *Sandbox) DeadCounts(ctx context.Context) (map[string]int64, error) {
	return s.store.DeadCounts(ctx)
}

// Replay puts a dead letter back on the stream for its group only: the other
// group acknowledges the copy unread. Replaying the same letter twice gives
// ErrNotFound the second time; a replayed event the group already finished
// is skipped by its idempotency record.
func (s *Sandbox) Replay(ctx context.Context, deadID string) (DeadLetter, error) {
	if !streamIDPattern.MatchString(deadID) {
		return DeadLetter{}, fieldErr("id", "%q is not a stream entry id", deadID)
	}
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	dl, err := s.store.Replay(ctx, deadID)
	if err == nil {
		s.appended()
	}
	return dl, err
}

var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// InjectPoison adds one message no consumer can read to the event stream, so
// a learner can watch it fail, land in the dead-letter stream and be
// replayed. It returns the entry id.
func (s *Sandbox) InjectPoison(ctx context.Context) (string, error) {
	if s.ctx.Err() != nil {
		return "", ErrClosed
	}
	s.dataMu.RLock()
	id, err := s.store.AddPoison(ctx, "")
	s.dataMu.RUnlock()
	if err != nil {
		return "", fmt.Errorf("inject poison message: %w", err)
	}
	s.appended()
	return id, nil
}

// SignupRecord is what Redis knows about one signup (see stream.SignupRecord).
type SignupRecord = stream.SignupRecord

var userIDPattern = regexp.MustCompile(`^u_[0-9a-f]{16}$`)

// Signup reads the record of one signup by its user id: the user, where its
// event went, and what each group and service did with it.
func (s *Sandbox) Signup(ctx context.Context, userID string) (SignupRecord, error) {
	if !userIDPattern.MatchString(userID) {
		return SignupRecord{}, fieldErr("user", "%q is not a user id like u_0123456789abcdef", userID)
	}
	return s.store.Record(ctx, userID, Groups, Groups)
}
