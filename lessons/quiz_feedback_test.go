package lessons

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
)

// Learner ids as the server issues them: 32 hex digits.
const (
	learnerA = "0123456789abcdef0123456789abcdef"
	learnerB = "fedcba9876543210fedcba9876543210"
)

func shippedCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load(content.FS, Options{Figures: anyFigure})
	require.NoError(t, err)
	return c
}

func values(opts []*Option) []string {
	var vs []string
	for _, o := range opts {
		vs = append(vs, o.Value)
	}
	return vs
}

// fieldset cuts one question's fieldset out of a rendered check.
func fieldset(t *testing.T, html, id string) string {
	t.Helper()
	i := strings.Index(html, `id="q-`+id+`"`)
	require.GreaterOrEqual(t, i, 0, "question %s is rendered", id)
	i = strings.LastIndex(html[:i], "<fieldset")
	j := strings.Index(html[i:], "</fieldset>")
	require.Greater(t, j, 0)
	return html[i : i+j]
}

func TestOptionOrderIsPerLearnerAndStable(t *testing.T) {
	c := shippedCatalog(t)
	again := shippedCatalog(t) // a fresh load: nothing is remembered between them
	differ, choice := 0, 0
	for ci, ch := range c.Chapters {
		for qi, q := range ch.Quiz.Questions {
			a, b := values(q.OptionsFor(learnerA)), values(q.OptionsFor(learnerB))
			assert.Equal(t, a, values(again.Chapters[ci].Quiz.Questions[qi].OptionsFor(learnerA)), "%s: the same learner sees the same order on every visit", q.ID)
			assert.Equal(t, a, values(q.OptionsFor(learnerA)), "%s: asking twice gives the same order", q.ID)
			if q.Kind == "classify" {
				assert.Equal(t, []string{"sync", "async"}, a, "%s: classify questions keep sync, async", q.ID)
				assert.Equal(t, a, b)
				continue
			}
			choice++
			assert.ElementsMatch(t, values(q.Options), a, "%s: the same options, only reordered", q.ID)
			if !slices.Equal(a, b) {
				differ++
			}
		}
	}
	require.Positive(t, choice)
	assert.Positive(t, differ, "two learners see a different order for at least some question")
	t.Logf("learners A and B see %d of %d choice questions in a different order", differ, choice)

	// Across learners the right answer lands in every position.
	q := c.Chapters[0].Quiz.Questions[0]
	require.Equal(t, "choice", q.Kind)
	at := make([]int, len(q.Options))
	const learners = 300
	for i := range learners {
		opts := q.OptionsFor(fmt.Sprintf("%032x", i))
		at[slices.IndexFunc(opts, func(o *Option) bool { return o.Correct })]++
	}
	for pos, n := range at {
		assert.Greater(t, n, learners/len(at)/2, "the right answer is at position %d for some learners: %v", pos+1, at)
	}

	// The rendered form follows the learner's order; the cached one has the
	// default order, the same for everybody.
	ch := c.Chapters[0]
	fa, err := RenderQuizFor(ch, learnerA, nil)
	require.NoError(t, err)
	fa2, err := RenderQuizFor(ch, learnerA, nil)
	require.NoError(t, err)
	assert.Equal(t, fa, fa2)
	var forms []string
	for _, l := range []string{learnerA, learnerB, "00000000000000000000000000000001", "00000000000000000000000000000002"} {
		f, err := RenderQuizFor(ch, l, nil)
		require.NoError(t, err)
		forms = append(forms, string(f))
	}
	slices.Sort(forms)
	assert.Greater(t, len(slices.Compact(forms)), 1, "learners get differently ordered forms of the first chapter")
	def, err := RenderQuizFor(ch, "", nil)
	require.NoError(t, err)
	assert.Equal(t, ch.QuizForm, def)

	// Unanswered questions come from a cache of each order: every learner's
	// form still lists every question's options in that learner's order.
	for i := range 60 {
		l := fmt.Sprintf("%032x", 1000+i)
		f, err := RenderQuizFor(ch, l, nil)
		require.NoError(t, err)
		for _, q := range ch.Quiz.Questions {
			at := -1
			for _, o := range q.OptionsFor(l) {
				j := strings.Index(string(f), `name="answer-`+q.ID+`" value="`+o.Value+`"`)
				require.Greater(t, j, at, "learner %s, question %s: options out of the learner's order", l, q.ID)
				at = j
			}
		}
	}
}

func TestGradeIsByValueWhateverTheOrder(t *testing.T) {
	c := shippedCatalog(t)
	for _, ch := range c.Chapters {
		for _, learner := range []string{learnerA, learnerB} {
			form := map[string][]string{}
			for _, q := range ch.Quiz.Questions {
				opts := q.OptionsFor(learner)
				i := slices.IndexFunc(opts, func(o *Option) bool { return o.Correct })
				form[AnswerField+q.ID] = []string{opts[i].Value}
			}
			r, err := ch.Quiz.Grade(form)
			require.NoError(t, err)
			assert.True(t, r.Perfect(), "%s, learner %s", ch.Slug, learner)
		}
	}

	// The fixture's q1 has its right answer written first: its value is
	// right wherever a learner sees it, and its written position is no
	// answer at all.
	f := loadFixture(t)
	ch, _ := f.Chapter("waiting")
	r, err := ch.Quiz.Grade(map[string][]string{"answer-q1": {valueOf(t, ch, "q1", 0)}})
	require.NoError(t, err)
	assert.True(t, r.Questions[0].Correct)
	_, err = ch.Quiz.Grade(map[string][]string{"answer-q1": {"0"}})
	require.ErrorIs(t, err, ErrBadAnswer)
}

func TestGradeCountsRevealedQuestionsAsNotRight(t *testing.T) {
	ch, _ := loadFixture(t).Chapter("waiting")
	right := valueOf(t, ch, "q1", 0)
	r, err := ch.Quiz.Grade(map[string][]string{
		"answer-q1": {right}, "answer-q2": {"sync"}, "answer-q3": {valueOf(t, ch, "q3", 1)}, // all right
		RevealField: {"q1", "q3"},
	})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Score, "only q2 counts: q1 and q3 were revealed")
	assert.Equal(t, 2, r.Revealed())
	assert.True(t, r.Questions[0].Revealed)
	assert.False(t, r.Questions[0].Correct)
	assert.Equal(t, right, r.Questions[0].Chosen, "the choice is kept")
	assert.False(t, r.Perfect())
}

func TestWrongAnswerExplainsOnlyTheChosenOption(t *testing.T) {
	ch, _ := loadFixture(t).Chapter("waiting")
	q1 := ch.Quiz.Questions[0]
	right, wrong := q1.Options[0], q1.Options[1]
	require.True(t, right.Correct)

	r, err := ch.Quiz.Grade(map[string][]string{"answer-q1": {wrong.Value}, "answer-q2": {"sync"}})
	require.NoError(t, err)
	h, err := RenderQuizFor(ch, learnerA, r)
	require.NoError(t, err)
	s := string(h)

	w := fieldset(t, s, "q1")
	assert.Contains(t, w, `class="question is-wrong"`)
	assert.Contains(t, w, string(wrong.Why), "why the chosen option is wrong")
	assert.NotContains(t, w, string(right.Why), "the right option's explanation is kept back")
	assert.NotContains(t, w, "is-correct", "nothing marks the right option")
	assert.NotContains(t, w, "Right answer")
	assert.Equal(t, 1, strings.Count(w, `class="why"`), "one explanation: the chosen option's")
	assert.Contains(t, w, `value="`+wrong.Value+`" checked`, "the learner's answer stays selected")
	assert.Contains(t, w, `name="reveal" value="q1"`, "the learner can ask for the answers")
	assert.Contains(t, w, `formnovalidate`, "showing the answers needs no other answer")
	assert.Contains(t, w, `formaction="/lessons/waiting/quiz#q-q1"`, "and comes back to the question")

	// A right answer explains every option and marks the right one.
	ok := fieldset(t, s, "q2")
	assert.Contains(t, ok, `class="question is-right"`)
	for _, o := range ch.Quiz.Questions[1].Options {
		assert.Contains(t, ok, string(o.Why))
	}
	assert.Contains(t, ok, `class="option is-correct is-chosen"`)
	assert.Contains(t, ok, "✓ Right answer.")
	assert.NotContains(t, ok, `name="reveal"`)

	// Unanswered: no explanation, but the answers can be shown.
	none := fieldset(t, s, "q3")
	assert.Contains(t, none, "Not answered.")
	assert.NotContains(t, none, `class="why"`)
	assert.Contains(t, none, `name="reveal" value="q3"`)

	assert.Contains(t, s, "You got <strong>1 of 3</strong> right.")
	assert.NotContains(t, s, "data-perfect")
}

func TestShowingTheAnswersExplainsEveryOption(t *testing.T) {
	ch, _ := loadFixture(t).Chapter("waiting")
	q1 := ch.Quiz.Questions[0]
	q1Wrong, q3Right := valueOf(t, ch, "q1", 1), valueOf(t, ch, "q3", 1)
	r, err := ch.Quiz.Grade(map[string][]string{"answer-q1": {q1Wrong}, "answer-q2": {"sync"}, "answer-q3": {q3Right}, RevealField: {"q1"}})
	require.NoError(t, err)
	h, err := RenderQuizFor(ch, learnerB, r)
	require.NoError(t, err)
	s := string(h)
	w := fieldset(t, s, "q1")
	assert.Contains(t, w, `class="question is-revealed"`)
	for _, o := range q1.Options {
		assert.Contains(t, w, string(o.Why), "every option explains itself")
	}
	assert.Contains(t, w, `class="option is-correct"`, "the right option is marked")
	assert.Contains(t, w, "✓ Right answer.")
	assert.Contains(t, w, "<em>(your answer)</em>")
	assert.Contains(t, w, "counts as not answered right in this check")
	assert.NotContains(t, w, `name="reveal"`, "nothing left to show")
	assert.Contains(t, s, "You got <strong>2 of 3</strong> right. Questions whose answers you showed count as not right this time.")

	// The unanswered form explains nothing and offers no answers.
	assert.NotContains(t, string(ch.QuizForm), `class="why"`)
	assert.NotContains(t, string(ch.QuizForm), `name="reveal"`)
	assert.NotContains(t, string(ch.QuizForm), "is-correct")

	// A perfect check says so, for the page's script.
	r, err = ch.Quiz.Grade(map[string][]string{"answer-q1": {valueOf(t, ch, "q1", 0)}, "answer-q2": {"sync"}, "answer-q3": {q3Right}})
	require.NoError(t, err)
	h, err = RenderQuizFor(ch, learnerB, r)
	require.NoError(t, err)
	assert.Contains(t, string(h), "data-perfect")
	assert.Equal(t, 3, strings.Count(string(h), `class="question is-right"`))
}

// longestQuiz is a knowledge check whose right option is the longest in
// every choice question but those listed in evenOut.
func longestQuiz(evenOut ...int) string {
	var b strings.Builder
	b.WriteString("```quiz\n")
	for i := 1; i <= 4; i++ {
		wrong := "Short."
		if slices.Contains(evenOut, i) {
			wrong = "A wrong answer that is every bit as long and careful as the right one."
		}
		fmt.Fprintf(&b, `- id: c%d
  kind: choice
  prompt: Question %d?
  options:
    - text: %s
      why: Not so.
    - text: The right answer, carefully qualified and therefore rather long.
      correct: true
      why: So.
`, i, i, wrong)
	}
	b.WriteString(`- id: k
  kind: classify
  prompt: Sending a welcome email.
  answer: async
  why:
    sync: The user would wait.
    async: Nobody needs it now.
` + "```\n")
	return b.String()
}

func withQuiz(t *testing.T, quiz string) string {
	src := readFixture(t, "lessons/02-handing-off.md")
	i := strings.Index(src, "```quiz")
	require.Positive(t, i)
	return src[:i] + quiz
}

func TestLintRightOptionIsNotUsuallyTheLongest(t *testing.T) {
	// The fixture's own three choice questions are too few to judge.
	loadFixture(t)

	// Four more questions whose right answer is the longest: 4 of 6.
	const file = "lessons/02-handing-off.md"
	_, err := Load(fixtureWith(t, file, withQuiz(t, longestQuiz())), Options{})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "the right option is the longest in 4 of 6 choice questions (67 %); at most 40 % may be")
	assert.Contains(t, msg, file+`:24: question "c1": the right option is the longest (64 characters; the longest wrong one has 6)`, "each question is named at its line")
	assert.Contains(t, msg, file+`:42: question "c3"`)
	assert.NotContains(t, msg, `question "q1"`, "q1's right option is shorter than its wrong one")

	// Even two of them out and the share is 2 of 6: fine.
	_, err = Load(fixtureWith(t, file, withQuiz(t, longestQuiz(1, 3))), Options{})
	require.NoError(t, err)
}

func TestLintRightOptionLengthOnTheShippedCourse(t *testing.T) {
	c := shippedCatalog(t) // Load runs the lint: it passes
	longest, shortest, choice := 0, 0, 0
	for _, ch := range c.Chapters {
		for _, q := range ch.Quiz.Questions {
			if q.Kind != "choice" {
				continue
			}
			choice++
			right, _, ok := longestRight(q)
			if ok {
				longest++
			}
			short := true
			for _, o := range q.Options {
				if !o.Correct && o.length < right {
					short = false
				}
			}
			if short {
				shortest++
			}
		}
	}
	t.Logf("the right option is the longest in %d and the shortest in %d of %d choice questions", longest, shortest, choice)
	assert.LessOrEqual(t, float64(longest), MaxLongestRight*float64(choice))
	assert.LessOrEqual(t, float64(shortest), 0.5*float64(choice), "nor is the shortest a giveaway")
}

func TestLongestRightCountsWhatTheLearnerReads(t *testing.T) {
	q := &Question{Kind: "choice", Options: []*Option{
		{Correct: true, length: 10},
		{length: 10},
	}}
	_, _, ok := longestRight(q)
	assert.False(t, ok, "a tie gives nothing away")

	src := readFixture(t, "lessons/02-handing-off.md")
	src = strings.Replace(src, "- text: At the sender.", "- text: \"**At** the sender's `desk`.\"", 1)
	c, err := Load(fixtureWith(t, "lessons/02-handing-off.md", src), Options{})
	require.NoError(t, err)
	ch, _ := c.Chapter("handing-off")
	q = ch.Quiz.Questions[2]
	assert.Equal(t, len("At the sender's desk."), q.Options[1].length, "markup is not counted; a typographic apostrophe is one character")
	assert.Equal(t, len("In the pile at the post office."), q.Options[0].length)
}

// The forms kept per chapter are bounded: learners past the bound still get
// their own order, rendered again when it was forgotten.
func TestQuizFormsKeptAreBounded(t *testing.T) {
	var c formCache
	for i := range maxQuizForms + 200 {
		c.put(strconv.Itoa(i), "form")
	}
	assert.Equal(t, maxQuizForms, c.len())

	// A copy of a chapter with an empty cache of its own.
	ch := *shippedCatalog(t).Chapters[0]
	quiz := *ch.Quiz
	quiz.forms = &formCache{}
	ch.Quiz = &quiz
	first, err := RenderQuizFor(&ch, learnerA, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, quiz.forms.len(), "the learner's form is kept")
	again, err := RenderQuizFor(&ch, learnerA, nil)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, 1, quiz.forms.len())
}
