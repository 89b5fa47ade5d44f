package decide

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validJSON is a complete answers file that Parse accepts, with room to add
// one more field at the top.
const validJSON = `{"title": "T", "journeys": [{"name": "J", "interactions": [{"name": "A", "from": "a", "to": "b", "consistency": "strong"}]}]%s}`

func TestParseRefusesDuplicateJSONKeys(t *testing.T) {
	_, err := Parse([]byte(fmt.Sprintf(validJSON, `,
 "title": "Other"`)))
	assert.Equal(t, []string{"title: is given twice (lines 1 and 2); keep one"}, fieldErrors(t, err))

	nested := `{"title": "T", "journeys": [{"name": "J", "interactions": [{"name": "A", "from": "a", "to": "b", "name": "B", "consistency": "strong"}]}]}`
	_, err = Parse([]byte(nested))
	assert.Equal(t, []string{"journeys[0].interactions[0].name: is given twice (lines 1 and 1); keep one"}, fieldErrors(t, err))

	// YAML says the same, by path.
	_, err = Parse([]byte("title: T\njourneys: []\ntitle: U\n"))
	assert.Equal(t, []string{"title: is given twice (lines 1 and 3); keep one"}, fieldErrors(t, err))

	// The same key in two different objects is no duplicate.
	_, err = Parse([]byte(`{"title": "T", "journeys": [{"name": "J", "interactions": [{"name": "A", "from": "a", "to": "b", "consistency": "strong"}]}, {"name": "K", "interactions": [{"name": "A", "from": "a", "to": "b", "consistency": "strong"}]}]}`))
	assert.NoError(t, err)
}

func TestValidateRefusesDirectionAndControlCharacters(t *testing.T) {
	for r, name := range directionControls {
		a := Seed()
		a.Title = "Pay " + string(r) + "dnuf er"
		a.Journeys[0].Interactions[0].From = "check" + string(r) + "out"
		a.Deciders = []string{"alice", string(r) + "bob"}
		a.Context = "line one\n" + string(r) + "line two"
		err := Validate(a)
		want := fmt.Sprintf("must not contain U+%04X (%s): text-direction controls make text display differently from what it says", r, name)
		assert.Equal(t, []string{"title: " + want, "deciders[1]: " + want, "context: " + want,
			"journeys[0].interactions[0].from: " + want}, fieldErrors(t, err), "U+%04X", r)
	}
	for _, bad := range []string{"a\x00b", "a\x1bb", "a\u0085b", "a\u2028b", "a\nb"} {
		a := Seed()
		a.Journeys[0].Name = bad
		got := fieldErrors(t, Validate(a))
		require.Len(t, got, 1, "%q", bad)
		assert.True(t, strings.HasPrefix(got[0], "journeys[0].name: must not contain control characters (found U+"), got[0])
	}
	// Multi-line answers keep their line breaks and tabs.
	a := Seed()
	a.Context = "one\r\n\ttwo\nthree"
	a.Fallback.Runbook = "see\ndocs"
	assert.NoError(t, Validate(a))
	// So does right-to-left text without direction controls.
	a.Title = "תשלום בקופה"
	assert.NoError(t, Validate(a))

	// Through the parser, naming the field.
	_, err := Parse([]byte(fmt.Sprintf(validJSON, `, "deciders": ["ali\u202ece"]`)))
	assert.Equal(t, []string{"deciders[0]: must not contain U+202E (RIGHT-TO-LEFT OVERRIDE): text-direction controls make text display differently from what it says"}, fieldErrors(t, err))
}

func TestParseCapsTheErrorList(t *testing.T) {
	// 5 interactions with 20 unknown fields each: 100 problems.
	var b strings.Builder
	b.WriteString("title: T\njourneys:\n- name: J\n  interactions:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "  - {name: A%d, from: a, to: b, consistency: strong", i)
		for k := range 20 {
			fmt.Fprintf(&b, ", junk%02d: 1", k)
		}
		b.WriteString("}\n")
	}
	_, err := Parse([]byte(b.String()))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, MaxErrors)
	assert.Equal(t, 80, ve.More)
	assert.Equal(t, "journeys[0].interactions[0].junk00: is not a known field", ve.Fields[0].Error())
	assert.True(t, strings.HasSuffix(err.Error(), "\n… and 80 more problems; fix the ones above first"), err.Error())
	assert.Equal(t, MaxErrors+1, strings.Count(err.Error(), "\n")+1)

	// Validation problems are capped the same way.
	b.Reset()
	b.WriteString("title: T\njourneys:\n- name: J\n  interactions:\n")
	for range 30 {
		b.WriteString("  - {consistency: maybe}\n") // name, from, to, consistency: 4 problems each
	}
	_, err = Parse([]byte(b.String()))
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, MaxErrors)
	assert.Equal(t, 30*4-MaxErrors, ve.More)
}

func TestParseRefusesAbsurdShapesEarly(t *testing.T) {
	many := func(n int, line string) string {
		var b strings.Builder
		b.WriteString("title: T\n")
		for i := range n {
			fmt.Fprintf(&b, line, i)
		}
		return b.String()
	}
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	cases := []struct {
		name, doc, want string
	}{
		// The file of the issue: 256 KB of unknown keys cost seconds and a
		// megabyte of errors; now one line.
		{"27k unknown keys", many(26000, "k%05d: 1\n"), "(file): has more than 32 fields; an object in an answers file has at most 14"},
		{"unknown keys in JSON", "{" + strings.TrimSuffix(many(5000, `"k%d": 1,`)[len("title: T\n"):], ",") + "}",
			"(file): has more than 32 fields; an object in an answers file has at most 14"},
		{"deep YAML", "title: T\ncontext: " + deep + "\n", "context" + strings.Repeat("[0]", 11) + ": is nested more than 12 levels deep; an answers file needs at most 6"},
		{"deep JSON", `{"title": "T", "context": ` + deep + `}`, "context" + strings.Repeat("[0]", 11) + ": is nested more than 12 levels deep; an answers file needs at most 6"},
		{"long list", "title: T\ndeciders: [" + strings.Repeat("a, ", 1000) + "a]\n", "deciders: has more than 64 items; a list in an answers file has at most 30"},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
			"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
			"e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "(file): has more than 20000 values; an answers file needs far fewer"},
		{"self-referencing alias", "&a [*a, *a]", strings.Repeat("[0]", 12) + ": is nested more than 12 levels deep; an answers file needs at most 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.doc), MaxInputBytes)
			_, err := Parse([]byte(tc.doc))
			assert.Equal(t, []string{tc.want}, fieldErrors(t, err))
		})
	}

	// The largest answers the limits allow still parse.
	var b strings.Builder
	b.WriteString("title: T\ndeciders: [" + strings.Repeat("a, ", MaxPeople-1) + "a]\njourneys:\n")
	for j := range MaxJourneys {
		fmt.Fprintf(&b, "- name: J%d\n  interactions:\n", j)
		for i := range MaxInteractions {
			fmt.Fprintf(&b, "  - {name: I%d, from: a, to: b, needs_response: true, consistency: strong, user_waiting: true, consumers: 1, peak_rps: 1,"+
				" choice: sync, event: e, idempotency: none, dead_letter: false, timeout_ms: 100, circuit_breaker: true}\n", i)
		}
	}
	require.LessOrEqual(t, b.Len(), MaxInputBytes)
	a, err := Parse([]byte(b.String()))
	require.NoError(t, err)
	assert.Len(t, a.Journeys, MaxJourneys)
}

// BenchmarkParseJunk is the cost of refusing the 256 KB file of unknown keys
// (2 s of CPU before the shape limits).
func BenchmarkParseJunk(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < MaxInputBytes-16; i++ {
		fmt.Fprintf(&sb, "k%05d: 1\n", i)
	}
	data := []byte(sb.String())
	for b.Loop() {
		if _, err := Parse(data); err == nil {
			b.Fatal("junk accepted")
		}
	}
}

func TestClipKeepsDraftsWithinTheLimits(t *testing.T) {
	a := Seed()
	clipped, errs := Clip(a)
	assert.Empty(t, errs)
	assert.Equal(t, a, clipped, "answers within the limits are untouched")

	a.Title = strings.Repeat("é", 1_000_000)
	a.Context = strings.Repeat("c", maxLong+1)
	a.Deciders = strings.Split(strings.Repeat("p,", 100)+"p", ",")
	a.Journeys[0].Interactions[1].Event = strings.Repeat("e", 5000)
	a.Journeys[0].Interactions[0].Consistency = strings.Repeat("s", 5000)
	a.Fallback.Runbook = strings.Repeat("r", 50_000)
	for range MaxJourneys + 3 {
		a.Journeys = append(a.Journeys, Journey{Name: "J", Interactions: make([]Interaction, MaxInteractions+5)})
	}
	clipped, errs = Clip(a)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		"title: was longer than 200 characters; only the first 200 were kept",
		"deciders: listed more than 30 people; only the first 30 were kept",
		"context: was longer than 10000 characters; only the first 10000 were kept",
		"journeys: listed more than 20 journeys; only the first 20 were kept",
		"journeys[0].interactions[0].consistency: was longer than 120 characters; only the first 120 were kept",
		"journeys[0].interactions[1].event: was longer than 120 characters; only the first 120 were kept",
		"journeys[1].interactions: listed more than 30 interactions; only the first 30 were kept",
	}, got[:7])
	assert.Contains(t, got, "fallback.runbook: was longer than 10000 characters; only the first 10000 were kept")
	assert.Equal(t, strings.Repeat("é", maxTitle), clipped.Title, "cut on a character boundary")
	assert.Len(t, clipped.Deciders, MaxPeople)
	assert.Len(t, clipped.Journeys, MaxJourneys)
	assert.Len(t, clipped.Journeys[1].Interactions, MaxInteractions)
	assert.Equal(t, a.Journeys[0].Interactions[0].Name, clipped.Journeys[0].Interactions[0].Name, "the rest is kept")
	assert.Len(t, a.Title, 2_000_000, "the input is not changed")

	// Whatever is left is within every limit Validate checks.
	var ve *ValidationError
	require.ErrorAs(t, Validate(clipped), &ve)
	for _, f := range ve.Fields {
		assert.NotContains(t, f.Msg, "at most", f.Error())
	}
}
