package decide

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Error())
	}
	return out
}

func TestParseSeedExample(t *testing.T) {
	b, err := os.ReadFile("testdata/checkout.yaml")
	require.NoError(t, err)
	a, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, "Checkout communication", a.Title)
	assert.Equal(t, []string{"alice", "bob"}, a.Deciders)
	assert.Equal(t, "2026-11-25", a.Date, "an unquoted YAML date stays a date")
	require.Len(t, a.Journeys, 1)
	in := a.Journeys[0].Interactions[0]
	assert.Equal(t, Interaction{Name: "Reserve inventory", From: "checkout", To: "inventory", NeedsResponse: true,
		Consistency: "strong", UserWaiting: true, Consumers: 1, PeakRPS: 200, Idempotency: "none"}, in)
	assert.True(t, a.Observability.Tracing)
}

func TestParseJSONEqualsYAML(t *testing.T) {
	y := []byte("title: T\ndeciders: [a]\njourneys:\n- name: J\n  interactions:\n  - {name: N, from: a, to: b, consistency: eventual, consumers: 2, peak_rps: 10}\n")
	j := []byte(`{"title":"T","deciders":["a"],"journeys":[{"name":"J","interactions":[{"name":"N","from":"a","to":"b","consistency":"eventual","consumers":2,"peak_rps":10}]}]}`)
	ay, err := Parse(y)
	require.NoError(t, err)
	aj, err := Parse(j)
	require.NoError(t, err)
	assert.Equal(t, ay, aj)
}

func TestParseErrorsNameTheField(t *testing.T) {
	base := "title: T\njourneys:\n- name: J\n  interactions:\n"
	ok := "  - {name: A, from: a, to: b, consistency: strong}\n"
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"bad consistency (the brief's example)", base + ok + ok +
			"  - {name: C, from: a, to: b, consistency: sometimes}\n",
			[]string{"journeys[0].interactions[2].consistency: must be strong or eventual"}},
		{"missing consistency", base + "  - {name: A, from: a, to: b}\n",
			[]string{"journeys[0].interactions[0].consistency: must be strong or eventual"}},
		{"unknown field", base + "  - {name: A, from: a, to: b, consistency: strong, colour: red}\n",
			[]string{"journeys[0].interactions[0].colour: is not a known field"}},
		{"wrong types", base + "  - {name: A, from: a, to: b, consistency: strong, consumers: many, needs_response: maybe}\n",
			[]string{"journeys[0].interactions[0].needs_response: must be true or false", "journeys[0].interactions[0].consumers: must be a whole number"}},
		{"negative and huge numbers", base + "  - {name: A, from: a, to: b, consistency: strong, consumers: -1, peak_rps: 99999999999}\n",
			[]string{"journeys[0].interactions[0].consumers: must be between 0 and 1000", "journeys[0].interactions[0].peak_rps: must be between 0 and 1000000000"}},
		{"silently drop is never accepted", base + ok + "fallback: {on_exhausted: drop}\n",
			[]string{"fallback.on_exhausted: silently dropping messages is never accepted; choose dead-letter or park"}},
		{"required fields", "journeys:\n- interactions:\n  - {consistency: eventual}\n",
			[]string{"title: is required", "journeys[0].name: is required", "journeys[0].interactions[0].name: is required",
				"journeys[0].interactions[0].from: is required", "journeys[0].interactions[0].to: is required"}},
		{"no journeys", "title: T\n", []string{"journeys: add at least one journey"}},
		{"bad status and date", "title: T\nstatus: maybe\ndate: 25/11/2026\n" + "journeys:\n- name: J\n  interactions:\n" + ok,
			[]string{"status: must be proposed, accepted, rejected, deprecated or superseded", "date: must be a date like 2026-11-25"}},
		{"self call", base + "  - {name: A, from: a, to: A, consistency: strong}\n",
			[]string{"journeys[0].interactions[0].to: must differ from from: a service does not call itself over the network"}},
		{"event with spaces", base + "  - {name: A, from: a, to: b, consistency: eventual, event: Order Placed}\n",
			[]string{"journeys[0].interactions[0].event: must be one word without spaces, such as OrderPlaced or order.placed"}},
		{"not an object", "- 1\n- 2\n", []string{"(file): must be an object with fields"}},
		{"empty", "", []string{"(file): is empty"}},
		{"broken YAML", "title: [\n", nil},
		{"broken JSON", "{\"title\": ", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			require.Error(t, err)
			got := fieldErrors(t, err)
			if tc.want == nil {
				require.Len(t, got, 1)
				assert.True(t, strings.HasPrefix(got[0], "(file): is not valid"), got[0])
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseLimits(t *testing.T) {
	_, err := Parse(make([]byte, MaxInputBytes+1))
	assert.Equal(t, []string{"(file): is larger than 262144 bytes"}, fieldErrors(t, err))

	var b strings.Builder
	b.WriteString("title: T\njourneys:\n")
	for range MaxJourneys + 1 {
		b.WriteString("- name: J\n  interactions: [{name: A, from: a, to: b, consistency: strong}]\n")
	}
	_, err = Parse([]byte(b.String()))
	assert.Contains(t, fieldErrors(t, err), "journeys: must list at most 20 journeys")
}

func TestValidateAcceptsExamples(t *testing.T) {
	for _, f := range []string{"testdata/checkout.yaml", "testdata/signup.yaml", "testdata/hostile.json"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = Parse(b)
		assert.NoError(t, err, f)
	}
	assert.NoError(t, Validate(Seed().Normalized("2026-11-25")))
}
