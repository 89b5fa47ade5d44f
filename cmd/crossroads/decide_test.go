package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/decide"
)

const checkoutAnswers = "../../decide/testdata/checkout.yaml"

func TestDecidePrintsTheSameRecordAsTheRenderer(t *testing.T) {
	b, err := os.ReadFile(checkoutAnswers)
	require.NoError(t, err)
	a, err := decide.Parse(b)
	require.NoError(t, err)
	for _, format := range []string{"madr", "nygard", "minimal", "json"} {
		code, out, stderr := runCLI(t, "decide", "--answers", checkoutAnswers, "--format", format)
		require.Equal(t, 0, code, stderr)
		want, err := shippedDecide(t).Render(a.Normalized("unused: the file has a date"), decide.Options{Format: format})
		require.NoError(t, err)
		assert.Equal(t, want, out, format)
	}
}

func TestDecideJSONShape(t *testing.T) {
	code, out, _ := runCLI(t, "decide", "--answers", "../../decide/testdata/signup.yaml", "--format", "json")
	require.Equal(t, 0, code)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	for _, k := range []string{"title", "interactions", "warnings", "adr_markdown"} {
		assert.Contains(t, res, k)
	}
	first := res["interactions"].([]any)[0].(map[string]any)
	for _, k := range []string{"journey", "name", "from", "to", "recommendation", "reasons", "warnings"} {
		assert.Contains(t, first, k)
	}
	assert.Equal(t, "sync", first["recommendation"])
}

func TestDecideInvalidAnswersExitTwoNamingTheField(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`title: T
journeys:
  - name: J
    interactions:
      - {name: A, from: a, to: b, consistency: strong}
      - {name: B, from: a, to: b, consistency: strong}
      - {name: C, from: a, to: b, consistency: maybe}
`), 0o644))
	code, out, stderr := runCLI(t, "decide", "--answers", bad)
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "journeys[0].interactions[2].consistency: must be strong or eventual")
}

func TestDecideUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"decide", "--answers", checkoutAnswers, "--format", "docx"}, `--format: "docx" is not one of`},
		{[]string{"decide", "--answers", checkoutAnswers, "--format", "json", "--out", "x"}, "cannot be written with --out"},
		{[]string{"decide", "--answers", "/no/such/file.yaml"}, "--answers: /no/such/file.yaml: no such file or directory"},
		{[]string{"decide", "--answers", checkoutAnswers, "--supersedes", "2"}, "--supersedes needs --out"},
		{[]string{"decide"}, "not a terminal: pass --answers FILE"},
		{[]string{"decide", "status", "3"}, "status takes a record number and a status"},
		{[]string{"decide", "status", "x", "accepted"}, `record number: "x" is not a positive whole number`},
		{[]string{"decide", "supersede", "1"}, "supersede takes two record numbers"},
		{[]string{"decide", "extra"}, `unknown command "extra"`},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

func TestDecideFolderLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docs", "decisions")
	code, out, stderr := runCLI(t, "decide", "--answers", checkoutAnswers, "--out", dir)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, filepath.Join(dir, "0001-checkout-communication.md")+"\n", out)

	code, out, stderr = runCLI(t, "decide", "--answers", checkoutAnswers, "--out", dir, "--format", "nygard", "--supersedes", "1")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, filepath.Join(dir, "0002-checkout-communication.md")+"\n", out)

	first, err := os.ReadFile(filepath.Join(dir, "0001-checkout-communication.md"))
	require.NoError(t, err)
	assert.Contains(t, string(first), "status: superseded by ADR-0002")

	code, out, stderr = runCLI(t, "decide", "status", "2", "accepted", "--dir", dir)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, filepath.Join(dir, "0002-checkout-communication.md")+": accepted\n", out)

	code, _, stderr = runCLI(t, "decide", "status", "2", "proposed", "--dir", dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "a accepted record can become deprecated, not proposed")

	code, _, stderr = runCLI(t, "decide", "status", "9", "accepted", "--dir", dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no record number 9")

	code, _, stderr = runCLI(t, "decide", "supersede", "1", "2", "--dir", dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "record 1 is already superseded")

	idx, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(idx), "| [0002](0002-checkout-communication.md) | Checkout communication | Accepted |")
	assert.True(t, strings.HasPrefix(string(idx), "# Architecture decision records\n"))

	code, _, stderr = runCLI(t, "decide", "index", "--dir", dir)
	require.Equal(t, 0, code, stderr)
}

// lineReader hands out one line per Read, as a terminal does; huh's plain
// mode starts a new scanner for every question.
type lineReader struct{ lines []string }

func (r *lineReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.lines[0]+"\n")
	r.lines = r.lines[1:]
	return n, nil
}

func TestDecideAccessibleQuestionnaire(t *testing.T) {
	in := &lineReader{lines: []string{
		// step 1: the decision, then one journey with two interactions
		"Checkout communication", "alice, bob", "", "", "Checkout must not oversell.",
		"Checkout",
		"Reserve inventory", "checkout", "inventory", "y", "1", "y", "1", "200", "1", "y",
		"Send receipt", "checkout", "email", "n", "2", "n", "2", "200", "1", "n",
		"n",
		// step 2: the event of the asynchronous interaction
		"order.placed",
		// step 3: tracing, publish rate, consume rate, lag, dead-letter alerts
		"y", "y", "y", "y", "y",
		// step 4: dedup table
		"2",
		// step 5: timeout and breaker, dead letter, retry, attempts, destination, runbook, when exhausted
		"800", "y", "y", "3", "5", "checkout.dlq", "docs/runbooks/dlq.md", "1",
	}}
	var out strings.Builder
	a, err := askInteractively(t.Context(), shippedDecide(t), in, &out, true)
	require.NoError(t, err, out.String())
	assert.Empty(t, in.lines, "every answer was asked for")
	assert.Equal(t, "Checkout communication", a.Title)
	assert.Equal(t, []string{"alice", "bob"}, a.Deciders)
	require.Len(t, a.Journeys, 1)
	require.Len(t, a.Journeys[0].Interactions, 2)
	reserve, receipt := a.Journeys[0].Interactions[0], a.Journeys[0].Interactions[1]
	assert.Equal(t, decide.Interaction{Name: "Reserve inventory", From: "checkout", To: "inventory", NeedsResponse: true,
		Consistency: "strong", UserWaiting: true, Consumers: 1, PeakRPS: 200, TimeoutMS: 800, Breaker: true}, reserve)
	assert.Equal(t, decide.Interaction{Name: "Send receipt", From: "checkout", To: "email", Consistency: "eventual",
		Consumers: 2, PeakRPS: 200, Event: "order.placed", Idempotency: "dedup-table", DeadLetter: true}, receipt)
	assert.Equal(t, decide.Observability{Tracing: true, PublishRate: true, ConsumeRate: true, ConsumerLag: true, DeadLetterAlerts: true}, a.Observability)
	assert.Equal(t, decide.Fallback{Retry: "exponential", MaxAttempts: 5, DeadLetterDestination: "checkout.dlq",
		Runbook: "docs/runbooks/dlq.md", OnExhausted: "dead-letter"}, a.Fallback)
	assert.Empty(t, shippedDecide(t).Evaluate(a).AllWarnings(), "a complete answer set leaves nothing to warn about")
	assert.Contains(t, out.String(), "Map the journey, find the synchronous core")
}

func TestDecideAccessibleRejectsCommandEvents(t *testing.T) {
	in := &lineReader{lines: []string{
		"T", "", "", "", "",
		"J",
		"Welcome", "users", "email", "n", "2", "n", "1", "0", "1", "n",
		"n",
		"SendWelcomeEmail", "UserSignedUp",
	}}
	var out strings.Builder
	a, err := askInteractively(t.Context(), shippedDecide(t), in, &out, true)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "SendWelcomeEmail reads as a command; try WelcomeEmailSent")
	assert.Equal(t, "UserSignedUp", a.Journeys[0].Interactions[0].Event)
}

// shippedDecide is the questionnaire the binary embeds.
func shippedDecide(t testing.TB) *decide.Text {
	t.Helper()
	txt, err := decideText()
	require.NoError(t, err)
	return txt
}

// Every question the schema asks round-trips through the terminal: answers
// typed as a learner would (y/n, an option's number, the text) for every
// item of every step, in the order the questionnaire asks them, come back
// as the same answers.
func TestDecideTerminalRoundTripsEveryQuestion(t *testing.T) {
	txt := shippedDecide(t)
	b, err := os.ReadFile("../../decide/testdata/every-question.yaml")
	require.NoError(t, err)
	want, err := decide.Parse(b)
	require.NoError(t, err)

	typed := func(it decide.Item) string {
		v := it.Value(&want)
		switch it.Kind {
		case decide.KindYesNo, decide.KindCheck:
			return map[bool]string{true: "y", false: "n"}[v == "yes" || v == "on"]
		case decide.KindRadio, decide.KindSelect:
			values, _ := it.Choices()
			k := slices.Index(values, v)
			require.GreaterOrEqual(t, k, 0, "%s: %q is one of its options", it.Path(), v)
			return strconv.Itoa(k + 1)
		}
		return v
	}
	var script []string
	asked := map[string]bool{}
	ask := func(items []decide.Item) {
		for _, it := range items {
			script = append(script, typed(it))
			asked[it.Scope+"."+it.Field] = true
		}
	}
	yes := func(b bool) string { return map[bool]string{true: "y", false: "n"}[b] }
	first := txt.Items(want, 1)
	pick := func(j, i int) (out []decide.Item) {
		for _, it := range first {
			if it.J == j && it.I == i {
				out = append(out, it)
			}
		}
		return out
	}
	ask(pick(-1, -1))
	for j, jr := range want.Journeys {
		ask(pick(j, -1))
		for i := range jr.Interactions {
			ask(pick(j, i))
			script = append(script, yes(i < len(jr.Interactions)-1)) // another interaction?
		}
		script = append(script, yes(j < len(want.Journeys)-1)) // another journey?
	}
	for n := 2; n <= 5; n++ {
		ask(txt.Items(want, n))
	}

	in := &lineReader{lines: script}
	var out strings.Builder
	got, err := askInteractively(t.Context(), txt, in, &out, true)
	require.NoError(t, err, out.String())
	assert.Empty(t, in.lines, "every line typed was asked for")
	assert.Equal(t, want, got.Normalized(want.Date))
	for _, field := range []string{".title", ".context", "journey.name", "interaction.consistency", "interaction.event",
		"interaction.idempotency", "interaction.timeout_ms", "observability.tracing", "fallback.retry", "fallback.on_exhausted"} {
		assert.True(t, asked[field], "the terminal asked %s", field)
	}
}
