package lessons

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// choiceValueRE is the one shape of every choice option's value.
var choiceValueRE = regexp.MustCompile(`^o[0-9a-f]{8}$`)

// TestChoiceValuesRevealNothing: in the shipped course no choice option's
// form value tells where the option is written or whether it is right, and
// the values are the same on every load.
func TestChoiceValuesRevealNothing(t *testing.T) {
	c := shippedCatalog(t)
	again := shippedCatalog(t)
	choice, rightFirst, rightLast := 0, 0, 0
	for ci, ch := range c.Chapters {
		for qi, q := range ch.Quiz.Questions {
			vs := values(q.Options)
			assert.Equal(t, vs, values(again.Chapters[ci].Quiz.Questions[qi].Options), "%s/%s: the same values on every load", ch.Slug, q.ID)
			if q.Kind == "classify" {
				assert.Equal(t, []string{"sync", "async"}, vs, "%s/%s", ch.Slug, q.ID)
				continue
			}
			choice++
			for j, o := range q.Options {
				assert.Regexp(t, choiceValueRE, o.Value, "%s/%s option %d: every value has the same shape, right or wrong", ch.Slug, q.ID, j+1)
				_, err := strconv.Atoi(o.Value)
				assert.Error(t, err, "%s/%s option %d: %q is a number", ch.Slug, q.ID, j+1, o.Value)
			}
			sorted := slices.Clone(vs)
			slices.Sort(sorted)
			assert.Len(t, slices.Compact(sorted), len(vs), "%s/%s: values are unique within a question", ch.Slug, q.ID)
			right := q.Correct().Value
			if right == sorted[0] {
				rightFirst++
			}
			if right == sorted[len(sorted)-1] {
				rightLast++
			}
		}
	}
	require.Positive(t, choice)
	// Nor does sorting the values find the right one.
	t.Logf("the right value sorts first in %d and last in %d of %d choice questions", rightFirst, rightLast, choice)
	assert.LessOrEqual(t, 3*rightFirst, 2*choice)
	assert.LessOrEqual(t, 3*rightLast, 2*choice)

	// The pages served carry no written positions either.
	position := regexp.MustCompile(`name="answer-[a-z0-9-]+" value="[0-9]+"`)
	for _, ch := range c.Chapters {
		assert.NotRegexp(t, position, string(ch.QuizForm), ch.Slug)
		assert.NotRegexp(t, position, string(ch.Print), ch.Slug)
		f, err := RenderQuizFor(ch, learnerA, nil)
		require.NoError(t, err)
		assert.NotRegexp(t, position, string(f), ch.Slug)
	}
}

func TestChoiceValuesFollowTheTextNotThePosition(t *testing.T) {
	const file = "lessons/01-waiting.md"
	ch, _ := loadFixture(t).Chapter("waiting")
	byText := map[optKey]string{}
	for _, q := range ch.Quiz.Questions {
		for _, o := range q.Options {
			if q.Kind != "choice" {
				continue
			}
			byText[optKey{q.ID, string(o.Text)}] = o.Value
		}
	}

	// The scheme itself: "o" and 8 hex digits of an FNV-1a hash of the
	// chapter slug, the question id and the option's text. Pinned, so that
	// nothing random (a per-process hash seed) creeps in.
	assert.Equal(t, []string{"o68debfc3", "o51f00ec9"}, optionValues("waiting/q3", []string{"One.", "Two."}))
	assert.Equal(t, []string{"o68debfc3", "o51f00ec9"}, values(ch.Quiz.Questions[2].Options), "the fixture's q3 is One., Two.")
	assert.NotEqual(t, optionValues("waiting/q3", []string{"One."}), optionValues("waiting/q1", []string{"One."}), "the same text in another question has another value")
	assert.NotEqual(t, optionValues("waiting/q3", []string{"One."}), optionValues("handing-off/q3", []string{"One."}), "and in another chapter")

	// Written the other way round, the options keep their values.
	src := readFixture(t, file)
	right := "    - text: The caller's threads.\n      correct: true\n      why: A bounded wait frees the caller.\n"
	wrong := "    - text: The callee's database.\n      why: The callee keeps working.\n"
	require.Contains(t, src, right+wrong)
	swapped, err := Load(fixtureWith(t, file, strings.Replace(src, right+wrong, wrong+right, 1)), Options{})
	require.NoError(t, err)
	sch, _ := swapped.Chapter("waiting")
	q1 := sch.Quiz.Questions[0]
	require.False(t, q1.Options[0].Correct, "the right option is now written second")
	for _, q := range sch.Quiz.Questions {
		for _, o := range q.Options {
			if q.Kind != "choice" {
				continue
			}
			assert.Equal(t, byText[optKey{q.ID, string(o.Text)}], o.Value, "%s: %s keeps its value", q.ID, o.Text)
		}
	}
	r, err := sch.Quiz.Grade(map[string][]string{"answer-q1": {byText[optKey{"q1", string(q1.Options[1].Text)}]}})
	require.NoError(t, err)
	assert.True(t, r.Questions[0].Correct, "the old value of the right answer is still right")
}

// optKey is a question id and an option's text.
type optKey struct{ id, text string }

func TestChoiceValuesAreUniqueWhenTextsReadTheSame(t *testing.T) {
	// Two options that read the same would hash the same: the later one
	// has its written index folded in.
	vs := optionValues("waiting/q3", []string{"a", "a", "a", "b"})
	for _, v := range vs {
		assert.Regexp(t, choiceValueRE, v)
	}
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	assert.Len(t, slices.Compact(sorted), 4, "unique within the question: %v", vs)
	assert.Equal(t, optionValues("waiting/q3", []string{"a"})[0], vs[0], "the first keeps the plain hash")
	assert.Equal(t, optionValues("waiting/q3", []string{"b"})[0], vs[3], "options that do not collide are unaffected")
	assert.Equal(t, vs, optionValues("waiting/q3", []string{"a", "a", "a", "b"}), "and it is stable")

	// In a chapter: q3's right option reads "One." like the wrong one,
	// only in bold.
	const file = "lessons/01-waiting.md"
	src := readFixture(t, file)
	require.Contains(t, src, "    - text: Two.\n")
	c, err := Load(fixtureWith(t, file, strings.Replace(src, "    - text: Two.\n", "    - text: \"**One.**\"\n", 1)), Options{})
	require.NoError(t, err)
	ch, _ := c.Chapter("waiting")
	q3 := ch.Quiz.Questions[2]
	wrong, right := q3.Options[0], q3.Options[1]
	require.True(t, right.Correct)
	assert.Contains(t, string(right.Text), "<strong>")
	assert.NotEqual(t, wrong.Value, right.Value)
	assert.Regexp(t, choiceValueRE, right.Value)
	assert.Equal(t, optionValues("waiting/q3", []string{"One."})[0], wrong.Value)
	r, err := ch.Quiz.Grade(map[string][]string{"answer-q3": {right.Value}})
	require.NoError(t, err)
	assert.True(t, r.Questions[2].Correct)
	r, err = ch.Quiz.Grade(map[string][]string{"answer-q3": {wrong.Value}})
	require.NoError(t, err)
	assert.False(t, r.Questions[2].Correct)
}
