package lessons

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProgressTTL is how long a learner's progress lives after their last
// change, matching the learner cookie's lifetime.
const ProgressTTL = 400 * 24 * time.Hour

// MaxImportBytes bounds an imported progress file.
const MaxImportBytes = 64 << 10

// ExportVersion is the format version of exported progress files.
const ExportVersion = 1

// ChapterProgress is what a learner has done in one chapter.
type ChapterProgress struct {
	Completed bool `json:"completed"`
	// BestScore and LastScore are numbers of right answers. Get reports -1
	// when the check was never taken; Export writes 0 then (Attempts is 0).
	BestScore int `json:"best_score"`
	LastScore int `json:"last_score"`
	Attempts  int `json:"attempts"`
	// Total is the number of questions, for display; it is not stored.
	Total int `json:"total"`
}

// Taken reports whether the knowledge check was ever answered.
func (p ChapterProgress) Taken() bool { return p.Attempts > 0 }

// Progress is a learner's progress by chapter slug.
type Progress map[string]ChapterProgress

// Completed counts completed chapters.
func (p Progress) Completed() int {
	n := 0
	for _, c := range p {
		if c.Completed {
			n++
		}
	}
	return n
}

// Export is the JSON file a learner downloads and may import elsewhere.
type Export struct {
	Version    int                        `json:"version"`
	ExportedAt time.Time                  `json:"exported_at"`
	Chapters   map[string]ChapterProgress `json:"chapters"`
}

// ErrBadImport marks an import file that cannot be accepted; the message
// names the field. The server answers it with 400.
var ErrBadImport = errors.New("invalid progress file")

// Store keeps progress in Redis, one hash per learner:
// cr:{learner}:lessons with fields <slug>.done, <slug>.best, <slug>.last and
// <slug>.n (attempts). The hash tag keeps a learner's keys on one cluster slot.
type Store struct {
	rdb redis.UniversalClient
	cat *Catalog
}

// NewStore returns a progress store for the chapters of cat.
func NewStore(rdb redis.UniversalClient, cat *Catalog) *Store { return &Store{rdb: rdb, cat: cat} }

func progressKey(learner string) string { return "cr:{" + learner + "}:lessons" }

// recordScript stores a quiz score atomically: last score, attempts, the best
// score so far, and completion when every answer was right.
var recordScript = redis.NewScript(`
local best = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. '.best') or '-1')
local score = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1] .. '.last', score)
redis.call('HINCRBY', KEYS[1], ARGV[1] .. '.n', 1)
if score > best then redis.call('HSET', KEYS[1], ARGV[1] .. '.best', score) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], ARGV[1] .. '.done', 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// RecordQuiz stores a graded knowledge check for slug.
func (s *Store) RecordQuiz(ctx context.Context, learner, slug string, r *Result) error {
	perfect := "0"
	if r.Perfect() {
		perfect = "1"
	}
	err := recordScript.Run(ctx, s.rdb, []string{progressKey(learner)}, slug, r.Score, perfect, ProgressTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("record quiz score for %s: %w", slug, err)
	}
	return nil
}

// MarkComplete marks slug as read.
func (s *Store) MarkComplete(ctx context.Context, learner, slug string) error {
	key := progressKey(learner)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, slug+".done", 1)
		p.PExpire(ctx, key, ProgressTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %s complete: %w", slug, err)
	}
	return nil
}

// Get returns the learner's progress for every known chapter. Chapters
// without progress are absent; fields of removed chapters are ignored.
func (s *Store) Get(ctx context.Context, learner string) (Progress, error) {
	m, err := s.rdb.HGetAll(ctx, progressKey(learner)).Result()
	if err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	return s.parse(m), nil
}

// GetMany reads the progress of several learners in one round trip (a
// workshop's board), in the order given.
func (s *Store) GetMany(ctx context.Context, learners []string) ([]Progress, error) {
	cmds := make([]*redis.MapStringStringCmd, len(learners))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range learners {
			cmds[i] = p.HGetAll(ctx, progressKey(l))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	out := make([]Progress, len(learners))
	for i, c := range cmds {
		out[i] = s.parse(c.Val())
	}
	return out, nil
}

// parse reads a progress hash.
func (s *Store) parse(m map[string]string) Progress {
	p := Progress{}
	for k, v := range m {
		slug, field, ok := strings.Cut(k, ".")
		ch, known := s.cat.Chapter(slug)
		if !ok || !known {
			continue
		}
		cp, seen := p[slug]
		if !seen {
			cp = ChapterProgress{BestScore: -1, LastScore: -1, Total: len(ch.Quiz.Questions)}
		}
		n, _ := strconv.Atoi(v)
		switch field {
		case "done":
			cp.Completed = v == "1"
		case "best":
			cp.BestScore = n
		case "last":
			cp.LastScore = n
		case "n":
			cp.Attempts = n
		}
		p[slug] = cp
	}
	return p
}

// Reset deletes the learner's progress.
func (s *Store) Reset(ctx context.Context, learner string) error {
	if err := s.rdb.Del(ctx, progressKey(learner)).Err(); err != nil {
		return fmt.Errorf("reset progress: %w", err)
	}
	return nil
}

// Export returns the learner's progress as an export document.
func (s *Store) Export(ctx context.Context, learner string, now time.Time) (*Export, error) {
	p, err := s.Get(ctx, learner)
	if err != nil {
		return nil, err
	}
	e := &Export{Version: ExportVersion, ExportedAt: now.UTC().Truncate(time.Second), Chapters: map[string]ChapterProgress{}}
	for slug, cp := range p {
		if !cp.Taken() {
			cp.BestScore, cp.LastScore = 0, 0
		}
		e.Chapters[slug] = cp
	}
	return e, nil
}

// ParseImport reads and validates an export document. Every problem is an
// ErrBadImport naming the field.
func (s *Store) ParseImport(r io.Reader) (*Export, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrBadImport, err)
	}
	if len(b) > MaxImportBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d KiB", ErrBadImport, MaxImportBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Export
	if err := dec.Decode(&e); err != nil {
		// The decoder quotes unknown field names whole: keep the message
		// short, whatever the file holds.
		return nil, fmt.Errorf("%w: not a Crossroads progress file: %s", ErrBadImport, truncate(err.Error(), 200))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: unexpected data after the JSON object", ErrBadImport)
	}
	if e.Version != ExportVersion {
		return nil, fmt.Errorf("%w: version: %d is not supported (expected %d)", ErrBadImport, e.Version, ExportVersion)
	}
	if e.Chapters == nil {
		return nil, fmt.Errorf("%w: chapters: missing", ErrBadImport)
	}
	for _, slug := range slices.Sorted(maps.Keys(e.Chapters)) {
		cp := e.Chapters[slug]
		ch, ok := s.cat.Chapter(slug)
		if !ok {
			return nil, fmt.Errorf("%w: chapters.%s: no chapter has this slug", ErrBadImport, truncate(slug, 40))
		}
		n := len(ch.Quiz.Questions)
		field := "chapters." + slug
		switch {
		case cp.Attempts < 0:
			return nil, fmt.Errorf("%w: %s.attempts: must not be negative", ErrBadImport, field)
		case cp.BestScore < 0 || cp.BestScore > n:
			return nil, fmt.Errorf("%w: %s.best_score: %d is outside 0..%d", ErrBadImport, field, cp.BestScore, n)
		case cp.LastScore < 0 || cp.LastScore > n:
			return nil, fmt.Errorf("%w: %s.last_score: %d is outside 0..%d", ErrBadImport, field, cp.LastScore, n)
		case cp.LastScore > cp.BestScore:
			return nil, fmt.Errorf("%w: %s.last_score: %d is higher than best_score %d", ErrBadImport, field, cp.LastScore, cp.BestScore)
		case cp.Attempts == 0 && (cp.BestScore > 0 || cp.LastScore > 0):
			return nil, fmt.Errorf("%w: %s: scores without attempts", ErrBadImport, field)
		}
	}
	return &e, nil
}

// Import replaces the learner's progress with e (from ParseImport).
func (s *Store) Import(ctx context.Context, learner string, e *Export) error {
	key := progressKey(learner)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		var fields []any
		for slug, cp := range e.Chapters {
			if cp.Completed {
				fields = append(fields, slug+".done", 1)
			}
			if cp.Attempts > 0 {
				fields = append(fields, slug+".best", cp.BestScore, slug+".last", cp.LastScore, slug+".n", cp.Attempts)
			}
		}
		if len(fields) > 0 {
			p.HSet(ctx, key, fields...)
			p.PExpire(ctx, key, ProgressTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import progress: %w", err)
	}
	return nil
}
