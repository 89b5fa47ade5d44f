package lessons

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func newStore(t *testing.T) (*Store, string) {
	db := redistest.Open(t)
	learner := redistest.Sandbox(t, db.Client)
	return NewStore(db.Client, loadFixture(t)), learner
}

func TestProgressRecordsBestAndLast(t *testing.T) {
	s, learner := newStore(t)
	ctx := context.Background()
	ch, _ := s.cat.Chapter("waiting")

	p, err := s.Get(ctx, learner)
	require.NoError(t, err)
	assert.Empty(t, p)

	grade := func(form map[string][]string) *Result {
		r, err := ch.Quiz.Grade(form)
		require.NoError(t, err)
		require.NoError(t, s.RecordQuiz(ctx, learner, "waiting", r))
		return r
	}
	q1Right, q1Wrong, q3Right := valueOf(t, ch, "q1", 0), valueOf(t, ch, "q1", 1), valueOf(t, ch, "q3", 1)
	grade(map[string][]string{"answer-q1": {q1Right}})
	grade(map[string][]string{"answer-q1": {q1Right}, "answer-q2": {"sync"}})
	grade(map[string][]string{"answer-q1": {q1Wrong}})
	p, err = s.Get(ctx, learner)
	require.NoError(t, err)
	assert.Equal(t, ChapterProgress{BestScore: 2, LastScore: 0, Attempts: 3, Total: 3}, p["waiting"])
	assert.False(t, p["waiting"].Completed, "only a perfect check completes a chapter")

	grade(map[string][]string{"answer-q1": {q1Right}, "answer-q2": {"sync"}, "answer-q3": {q3Right}})
	require.NoError(t, s.MarkComplete(ctx, learner, "handing-off"))
	p, err = s.Get(ctx, learner)
	require.NoError(t, err)
	assert.Equal(t, ChapterProgress{Completed: true, BestScore: 3, LastScore: 3, Attempts: 4, Total: 3}, p["waiting"])
	assert.True(t, p["handing-off"].Completed)
	assert.False(t, p["handing-off"].Taken())
	assert.Equal(t, 2, p.Completed())

	require.NoError(t, s.Reset(ctx, learner))
	p, err = s.Get(ctx, learner)
	require.NoError(t, err)
	assert.Empty(t, p)
}

func TestProgressExportImportRoundTrip(t *testing.T) {
	s, learner := newStore(t)
	ctx := context.Background()
	ch, _ := s.cat.Chapter("waiting")
	r, err := ch.Quiz.Grade(map[string][]string{"answer-q1": {valueOf(t, ch, "q1", 0)}, "answer-q2": {"sync"}})
	require.NoError(t, err)
	require.NoError(t, s.RecordQuiz(ctx, learner, "waiting", r))
	require.NoError(t, s.MarkComplete(ctx, learner, "handing-off"))
	before, err := s.Get(ctx, learner)
	require.NoError(t, err)

	e, err := s.Export(ctx, learner, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"exported_at":"2026-11-25T12:00:00Z","chapters":{
		"waiting":{"completed":false,"best_score":2,"last_score":2,"attempts":1,"total":3},
		"handing-off":{"completed":true,"best_score":0,"last_score":0,"attempts":0,"total":3}}}`, string(b))

	// Import into another learner, and over existing progress.
	other := redistest.Sandbox(t, s.rdb)
	require.NoError(t, s.MarkComplete(ctx, other, "waiting"))
	parsed, err := s.ParseImport(strings.NewReader(string(b)))
	require.NoError(t, err)
	require.NoError(t, s.Import(ctx, other, parsed))
	after, err := s.Get(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestParseImportRejectsBadFiles(t *testing.T) {
	s, _ := newStore(t)
	cases := map[string]struct{ file, want string }{
		"not json":        {"hello", "not a Crossroads progress file"},
		"unknown field":   {`{"version":1,"chapters":{},"admin":true}`, `unknown field "admin"`},
		"wrong version":   {`{"version":2,"chapters":{}}`, "version: 2 is not supported"},
		"no chapters":     {`{"version":1}`, "chapters: missing"},
		"unknown chapter": {`{"version":1,"chapters":{"nope":{}}}`, "chapters.nope: no chapter has this slug"},
		"score too high":  {`{"version":1,"chapters":{"waiting":{"best_score":9,"last_score":1,"attempts":1}}}`, "chapters.waiting.best_score: 9 is outside 0..3"},
		"negative score":  {`{"version":1,"chapters":{"waiting":{"best_score":1,"last_score":-1,"attempts":1}}}`, "chapters.waiting.last_score: -1 is outside"},
		"last over best":  {`{"version":1,"chapters":{"waiting":{"best_score":1,"last_score":2,"attempts":1}}}`, "last_score: 2 is higher than best_score 1"},
		"no attempts":     {`{"version":1,"chapters":{"waiting":{"best_score":1,"last_score":1}}}`, "scores without attempts"},
		"trailing data":   {`{"version":1,"chapters":{}} {}`, "unexpected data"},
		"too large":       {`{"version":1,"chapters":{},"x":"` + strings.Repeat("a", MaxImportBytes) + `"}`, "larger than 64 KiB"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.ParseImport(strings.NewReader(tc.file))
			require.ErrorIs(t, err, ErrBadImport)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
