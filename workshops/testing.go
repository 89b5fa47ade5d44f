package workshops

import (
	"context"
	"time"
)

// DeleteAll deletes every workshop s's index counts, and the index: tests
// call it when they end, so a shared Redis keeps no workshop of theirs.
func DeleteAll(s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	codes, _ := s.Codes(ctx)
	for _, code := range codes {
		s.Delete(ctx, code)
	}
	s.c.Del(ctx, s.opt.Index)
}
