package lessons

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// valueOf is the form value of the option written i-th (from 0) in the
// question of ch with the given id: tests name options by where they are
// written, the form by their opaque values.
func valueOf(t testing.TB, ch *Chapter, id string, i int) string {
	t.Helper()
	for _, q := range ch.Quiz.Questions {
		if q.ID == id {
			require.Less(t, i, len(q.Options), "question %s has no option %d", id, i)
			return q.Options[i].Value
		}
	}
	require.Failf(t, "no such question", "%s has no question %s", ch.Slug, id)
	return ""
}

func TestGrade(t *testing.T) {
	ch, _ := loadFixture(t).Chapter("waiting")
	q := ch.Quiz
	// The fixture's q1 has its right answer written first, q3 second.
	q1Right, q1Wrong := valueOf(t, ch, "q1", 0), valueOf(t, ch, "q1", 1)
	q3Right := valueOf(t, ch, "q3", 1)

	r, err := q.Grade(map[string][]string{"answer-q1": {q1Right}, "answer-q2": {"sync"}, "answer-q3": {q3Right}, "other": {"ignored"}})
	require.NoError(t, err)
	assert.Equal(t, 3, r.Score)
	assert.True(t, r.Perfect())

	r, err = q.Grade(map[string][]string{"answer-q1": {q1Wrong}, "answer-q2": {"async"}})
	require.NoError(t, err)
	assert.Equal(t, 0, r.Score)
	assert.Equal(t, 3, r.Total)
	assert.Equal(t, q1Wrong, r.Questions[0].Chosen)
	assert.False(t, r.Questions[0].Correct)
	assert.Empty(t, r.Questions[2].Chosen, "unanswered")

	bad := map[string]map[string][]string{
		"unknown question":         {"answer-q9": {q1Right}},
		"written position":         {"answer-q1": {"0"}},
		"another written position": {"answer-q3": {"1"}},
		"option out of range":      {"answer-q1": {"7"}},
		"not a number":             {"answer-q1": {"zero"}},
		"another question's value": {"answer-q1": {q3Right}},
		"classify not allowed":     {"answer-q2": {"maybe"}},
		"choice value on classify": {"answer-q2": {q1Right}},
		"two values":               {"answer-q1": {q1Right, q1Wrong}},
		"reveal of no question":    {"reveal": {"q9"}},
	}
	for name, form := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := q.Grade(form)
			require.ErrorIs(t, err, ErrBadAnswer)
		})
	}
}

func TestSearch(t *testing.T) {
	c := loadFixture(t)
	hits := c.Search("timeout", 10)
	require.NotEmpty(t, hits)
	assert.Equal(t, "glossary", hits[0].Kind, "the term itself ranks first")
	assert.Equal(t, "/glossary#timeout", hits[0].URL)

	hits = c.Search("BROK", 10)
	require.NotEmpty(t, hits)
	urls := []string{}
	for _, h := range hits {
		urls = append(urls, h.URL)
	}
	assert.Contains(t, urls, "/lessons/handing-off#brokers", "prefix match, case-insensitive")

	hits = c.Search("redis streams", 10)
	require.Len(t, hits, 1, "every word must match")
	assert.Contains(t, hits[0].Snippet, "Redis Streams")
	assert.Contains(t, string(hits[0].Marked), "<mark>Redis</mark> <mark>Streams</mark>")
	assert.Equal(t, "a &lt;b&gt; <mark>retrying</mark> x", string(mark("a <b> retrying x", []string{"retr"})))

	assert.Empty(t, c.Search("  ", 10))
	assert.Empty(t, c.Search("zebra", 10))
	assert.Len(t, c.Search("the", 1), 1, "limit")
}

func TestQuizUsesTheChaptersOwnHeading(t *testing.T) {
	src := readFixture(t, "lessons/02-handing-off.md")
	src = strings.Replace(src, "```quiz", "## Check your understanding\n\n```quiz", 1)
	c, err := Load(fixtureWith(t, "lessons/02-handing-off.md", src), Options{})
	require.NoError(t, err)
	ch, _ := c.Chapter("handing-off")
	assert.Contains(t, string(ch.QuizForm), `<section class="quiz" id="quiz" aria-labelledby="check-your-understanding">`)
	assert.NotContains(t, string(ch.QuizForm), "Knowledge check", "no second heading")
	assert.NotContains(t, string(ch.TOC), "Knowledge check")
	assert.Contains(t, string(ch.TOC), `<a href="#check-your-understanding">`)
	assert.Contains(t, string(ch.Print), `aria-labelledby="handing-off--check-your-understanding"`)

	plain, _ := loadFixture(t).Chapter("handing-off")
	assert.Contains(t, string(plain.QuizForm), `<h2 id="quiz-title">Knowledge check</h2>`, "a check without its own heading gets one")
}
