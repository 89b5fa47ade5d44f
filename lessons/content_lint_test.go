package lessons

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
)

// TestContentLint loads the real chapters the way the server does. Load
// itself checks front matter, quizzes (one correct option, every why, at
// least three questions of both kinds), glossary ids and internal links; this
// test adds the checks that only make sense for the shipped course.
//
// Source blocks and figures are not resolved here, because lessons may not
// import labs; server/lessons_test.go (TestLessonsQuoteTheRealLabSource)
// loads the same content with labs.Source and the recorded runs, as serve.go
// must.
func TestContentLint(t *testing.T) {
	c, err := Load(content.FS, Options{Figures: anyFigure})
	require.NoError(t, err, "the real lessons must load")
	require.NotEmpty(t, c.Chapters, "content/lessons has no chapters")
	for _, ch := range c.Chapters {
		t.Run(ch.Slug, func(t *testing.T) {
			assert.NotEmpty(t, ch.Headings, "a chapter has sections")
			require.NotNil(t, ch.Quiz)
			assert.GreaterOrEqual(t, len(ch.Quiz.Questions), MinQuestions)
			for _, q := range ch.Quiz.Questions {
				right := 0
				for _, o := range q.Options {
					assert.NotEmpty(t, strings.TrimSpace(string(o.Why)), "question %s: every option explains itself", q.ID)
					if o.Correct {
						right++
					}
				}
				assert.Equal(t, 1, right, "question %s has exactly one right answer", q.ID)
			}
			assert.NotContains(t, string(ch.Before+ch.After), "raw HTML omitted")
		})
	}
	// The right answer is not always shown first, in the default order of
	// the cached and printable pages (learners each get their own order).
	first, choice := 0, 0
	for _, ch := range c.Chapters {
		for _, q := range ch.Quiz.Questions {
			if q.Kind == "choice" {
				choice++
				if q.OptionsFor("")[0].Correct {
					first++
				}
			}
		}
	}
	if choice >= 3 {
		assert.Less(t, first, choice, "every choice question shows its right answer first")
	}
	for _, term := range c.Glossary {
		assert.NotEmpty(t, term.Plain, "glossary %s", term.ID)
	}
}

// anyFigure stands in for the recorded runs where lessons cannot read them:
// every reference resolves, to a placeholder.
func anyFigure(scenario, run, name string) (Figure, error) {
	return Figure{Text: "(" + name + ")", Run: scenario + " run " + run, Href: "/labs/results/" + scenario}, nil
}
