package decide

import (
	"encoding/json"
	"github.com/crossroads-learn/crossroads/content"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// checkoutAnswers is the seed with every question answered: one
// interaction waits, the other is handed off.
func checkoutAnswers(t *testing.T) Answers {
	t.Helper()
	a := Seed()
	a.Date = "2026-11-29"
	a.Consulted, a.Informed = []string{"carol"}, []string{"dave", "erin"}
	reserve, receipt := &a.Journeys[0].Interactions[0], &a.Journeys[0].Interactions[1]
	reserve.TimeoutMS, reserve.Breaker = 800, true
	receipt.Choice = Async
	a.Observability = Observability{Tracing: true, PublishRate: true, ConsumeRate: true, ConsumerLag: true, DeadLetterAlerts: true}
	a.Fallback = Fallback{Retry: "exponential", MaxAttempts: 5, DeadLetterDestination: "checkout.dlq", Runbook: "docs/dlq.md", OnExhausted: "park"}
	b, err := yaml.Marshal(a)
	require.NoError(t, err)
	parsed, err := Parse(b)
	require.NoError(t, err)
	return parsed
}

// Every question of every step reads an answer and writes it back
// unchanged, and asking every question of a copy with only the journeys'
// and interactions' places gives back the whole answers: the schema covers
// everything an answers file holds but its status and date.
func TestEveryQuestionRoundTripsItsAnswer(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	a := checkoutAnswers(t)
	rebuilt := Answers{Status: a.Status, Date: a.Date}
	for _, jr := range a.Journeys {
		rebuilt.Journeys = append(rebuilt.Journeys, Journey{Interactions: make([]Interaction, len(jr.Interactions))})
	}
	asked := map[string]bool{}
	for n := 1; n <= 5; n++ {
		for _, it := range txt.Items(a, n) {
			v := it.Value(&a)
			b := a.Clone()
			require.NoError(t, it.Set(&b, v), it.Path())
			assert.Equal(t, a, b, "%s: %q written back changes nothing", it.Path(), v)
			require.NoError(t, it.Set(&rebuilt, v), it.Path())
			asked[it.Scope+"."+it.Field] = true
		}
	}
	// Steps ask some questions only of interactions that wait or are
	// handed off (the checkout has one of each); what a waiting call is
	// not asked keeps its default.
	assert.Equal(t, a, rebuilt.Normalized(a.Date), "the questions rebuild the answers")

	// And every field of the answers is some question's.
	for scope, v := range map[string]any{ScopeDecision: Answers{}, ScopeJourney: Journey{}, ScopeInteraction: Interaction{},
		ScopeObservability: Observability{}, ScopeFallback: Fallback{}} {
		typ := reflect.TypeOf(v)
		for k := range typ.NumField() {
			key, _, _ := strings.Cut(typ.Field(k).Tag.Get("yaml"), ",")
			switch key {
			case "status", "date", "journeys", "interactions", "observability", "fallback":
				continue
			}
			assert.True(t, asked[scope+"."+key], "no question asks for %s %s", scope, key)
		}
	}

	// The same answers survive YAML and JSON.
	y, err := yaml.Marshal(a)
	require.NoError(t, err)
	fromYAML, err := Parse(y)
	require.NoError(t, err)
	assert.Equal(t, a, fromYAML)
	j, err := json.Marshal(a)
	require.NoError(t, err)
	fromJSON, err := Parse(j)
	require.NoError(t, err)
	assert.Equal(t, a, fromJSON)
}

func TestSetParsesAsAFormSends(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	a := Answers{Journeys: []Journey{{Interactions: []Interaction{{}}}}}
	item := func(path string) Item {
		for n := 1; n <= 5; n++ {
			for _, it := range txt.Items(a, n) {
				if it.Path() == path {
					return it
				}
			}
		}
		t.Fatalf("no item %s", path)
		return Item{}
	}
	require.NoError(t, item("deciders").Set(&a, " alice ,bob,, "))
	assert.Equal(t, []string{"alice", "bob"}, a.Deciders)
	require.NoError(t, item("context").Set(&a, "one\r\ntwo"))
	assert.Equal(t, "one\ntwo", a.Context)
	require.NoError(t, item("journeys[0].interactions[0].needs_response").Set(&a, "yes"))
	assert.True(t, a.Journeys[0].Interactions[0].NeedsResponse)
	require.NoError(t, item("observability.tracing").Set(&a, "on"))
	assert.True(t, a.Observability.Tracing)
	require.NoError(t, item("journeys[0].interactions[0].peak_rps").Set(&a, " 250 "))
	assert.Equal(t, 250, a.Journeys[0].Interactions[0].PeakRPS)
	err = item("journeys[0].interactions[0].peak_rps").Set(&a, "lots")
	var fe FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "journeys[0].interactions[0].peak_rps", fe.Path)
	assert.Equal(t, 250, a.Journeys[0].Interactions[0].PeakRPS, "a bad number keeps the old one")

	assert.Error(t, item("title").Check("  "), "required")
	assert.Error(t, item("journeys[0].interactions[0].consumers").Check("-1"))
	assert.EqualError(t, item("journeys[0].interactions[0].name").Check(""), "this answer is required")
}

// Steps ask about an interaction what fits how it talks: its event and
// idempotency when it is handed off, its timeout when it waits.
func TestItemsFollowTheRecommendation(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	a := checkoutAnswers(t) // interaction 0 waits, 1 is handed off
	paths := func(n int) []string {
		var out []string
		for _, it := range txt.Items(a, n) {
			out = append(out, it.Path())
		}
		return out
	}
	assert.Equal(t, []string{"journeys[0].interactions[1].event"}, paths(2))
	assert.Equal(t, []string{"journeys[0].interactions[1].idempotency"}, paths(4))
	assert.Equal(t, []string{
		"journeys[0].interactions[0].timeout_ms", "journeys[0].interactions[0].circuit_breaker",
		"journeys[0].interactions[1].dead_letter",
		"fallback.retry", "fallback.max_attempts", "fallback.dead_letter_destination", "fallback.runbook", "fallback.on_exhausted",
	}, paths(5))
	a.Journeys[0].Interactions[1].Choice = Sync
	assert.Empty(t, paths(2), "nothing to name when nothing is handed off")
	assert.NotContains(t, paths(5), "fallback.retry")
}

func TestDescribeNamesTheQuestionAndWhereItIs(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	a := checkoutAnswers(t)
	assert.Equal(t, "Checkout → Reserve inventory: Consistency", txt.Describe(a, "journeys[0].interactions[0].consistency"))
	assert.Equal(t, "Checkout: Journey name", txt.Describe(a, "journeys[0].name"))
	assert.Equal(t, "Decision title", txt.Describe(a, "title"))
	assert.Equal(t, "Retry policy", txt.Describe(a, "fallback.retry"))
	assert.Equal(t, "Journey 3 → Interaction 1: From service", txt.Describe(a, "journeys[2].interactions[0].from"), "unnamed places by number")
	assert.Equal(t, "Checkout: Interactions", txt.Describe(a, "journeys[0].interactions"))
	assert.Equal(t, "(file)", txt.Describe(a, "(file)"), "what no question asks stays as it is")
}

func TestTheSchemaRefusesWhatTheAnswersCannotHold(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	for name, change := range map[string]func(q *Question){
		"unknown kind":   func(q *Question) { q.Kind = "slider" },
		"unknown field":  func(q *Question) { q.Field = "colour" },
		"kind misfit":    func(q *Question) { q.Kind = KindNumber },
		"options absent": func(q *Question) { q.Kind = KindRadio },
		"bad when":       func(q *Question) { q.When = "sometimes" },
	} {
		broken := *txt
		broken.Steps = append([]Step(nil), txt.Steps...)
		broken.Steps[0].Questions = append([]Question(nil), txt.Steps[0].Questions...)
		change(&broken.Steps[0].Questions[0]) // the title
		assert.Error(t, broken.checkSchema(), name)
	}
	assert.NoError(t, txt.checkSchema())
}
