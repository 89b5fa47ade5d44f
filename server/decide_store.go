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

// decideDraft is what the wizard keeps per learner: the answers so far and
// the furthest step reached, so a returning learner resumes where they were.
type decideDraft struct {
	Answers decide.Answers `json:"answers"`
	Reached int            `json:"reached"`
}

func decideKey(learner string) string { return "cr:{" + learner + "}:decide" }

// loadDraft returns the learner's draft; ok is false when there is none.
func (s *Server) loadDraft(ctx context.Context, learner string) (decideDraft, bool, error) {
	var d decideDraft
	b, err := s.cfg.Redis.Get(ctx, decideKey(learner)).Bytes()
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
	return d, true, nil
}

func (s *Server) saveDraft(ctx context.Context, learner string, d decideDraft) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode decision draft: %w", err)
	}
	if err := s.cfg.Redis.Set(ctx, decideKey(learner), b, decideTTL).Err(); err != nil {
		return fmt.Errorf("save decision draft: %w", err)
	}
	return nil
}

func (s *Server) deleteDraft(ctx context.Context, learner string) error {
	if err := s.cfg.Redis.Del(ctx, decideKey(learner)).Err(); err != nil {
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
