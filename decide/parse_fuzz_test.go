package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// encodeAnswers writes a as the wizard's downloads do (answers.yaml with a
// two-space indent, answers.json indented without HTML escaping), which the
// upload reads back with Parse.
func encodeAnswers(t *testing.T, a Answers, kind string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if kind == "yaml" {
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		require.NoError(t, enc.Encode(a))
		return buf.Bytes()
	}
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(a))
	return buf.Bytes()
}

// FuzzParse feeds arbitrary YAML and JSON answers files to Parse and checks
// that
//   - a refusal is a *ValidationError of 1 to MaxErrors field errors, each
//     with a path and a message, whose text stays bounded by the input (the
//     upload page lists them, 400 and never 500);
//   - accepted answers survive the wizard's own downloads: written as YAML
//     and as JSON and parsed again, they are the same answers;
//   - they render in every format, as valid UTF-8, deterministically.
//
// Minimising a new YAML input is slow on a small machine; run it as
//
//	go test ./decide -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s -fuzzminimizetime 3s -parallel 1
func FuzzParse(f *testing.F) {
	for _, name := range []string{"checkout.yaml", "signup.yaml", "hostile.json"} {
		b, err := testdataFS.ReadFile("testdata/" + name)
		require.NoError(f, err)
		f.Add(string(b))
	}
	f.Add("title: x\njourneys: [{name: j, interactions: [{name: n, from: a, to: b, consistency: strong}]}]")
	f.Add("{\"journeys\": [1, \"x\", null]}")
	f.Add("&a [*a, *a]")
	f.Add("title: 2026-11-25T10:00:00Z\ndeciders: alice, bob\njourneys: [{name: j, interactions: [{name: n, from: a, to: b, consistency: eventual, event: user.signedup}]}]")
	f.Add("title: yes\ndeciders: [1, true, 2.5]\njourneys: [{name: j, interactions: [{name: n, from: a, to: b, consistency: strong}]}]")
	f.Add(`{"title": "x", "title": "y"}`)
	f.Add("title: x\n" + strings.Repeat("  ", 200) + "a: 1")
	f.Fuzz(func(t *testing.T, data string) {
		a, err := Parse([]byte(data))
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("refusal %v (%T) is not a *ValidationError", err, err)
			}
			if len(ve.Fields) == 0 || len(ve.Fields) > MaxErrors {
				t.Fatalf("%d field errors: %v", len(ve.Fields), err)
			}
			for _, fe := range ve.Fields {
				if fe.Path == "" || fe.Msg == "" {
					t.Fatalf("field error without a path or message: %+v", fe)
				}
			}
			if max := MaxErrors*(2*len(data)+300) + 100; len(err.Error()) > max {
				t.Fatalf("%d bytes of errors for %d bytes of input", len(err.Error()), len(data))
			}
			return
		}
		for _, kind := range []string{"yaml", "json"} {
			enc := encodeAnswers(t, a, kind)
			b, err := Parse(enc)
			if err != nil {
				t.Fatalf("accepted answers downloaded as %s are refused: %v\n%s", kind, err, enc)
			}
			if !reflect.DeepEqual(normalizeEmpty(a), normalizeEmpty(b)) {
				t.Fatalf("answers changed through the %s download:\nbefore %#v\nafter  %#v\n%s", kind, a, b, enc)
			}
		}
		a = a.Normalized("2026-11-25")
		for _, format := range Formats {
			out, err := shipped.Render(a, Options{Format: format})
			require.NoError(t, err)
			require.True(t, utf8.ValidString(out))
			again, _ := shipped.Render(a, Options{Format: format})
			require.Equal(t, out, again, "rendering %s is deterministic", format)
		}
	})
}

// normalizeEmpty treats an empty list and an absent one alike: the JSON
// download writes nil as null and Parse reads both as nil.
func normalizeEmpty(a Answers) string {
	b, _ := json.Marshal(a)
	s := string(b)
	return strings.ReplaceAll(s, "[]", "null")
}

// FuzzRenderUserText puts arbitrary text in every place a user can type and
// checks the records stay inert Markdown (no raw HTML, no link a viewer
// would follow), and that the JSON record is valid JSON carrying the same
// title:
//
//	go test ./decide -run '^$' -fuzz '^FuzzRenderUserText$' -fuzztime 60s -parallel 1
func FuzzRenderUserText(f *testing.F) {
	f.Add("<script>alert(1)</script>", "](javascript:alert(1))", "a\n\n- b", "SendEmail", "web")
	f.Add("[x](javascript:y)", "<img src=x onerror=alert(1)>", "```\n<b>", "<svg/onload=1>", "a|b")
	f.Add("", "", "", "", "")
	f.Add("<scr<script>ipt>", "\\<script>", "    <script>", "~~~\n<script>", "&lt;script&gt;")
	f.Fuzz(func(t *testing.T, title, name, context, event, service string) {
		a := Answers{Title: title, Status: "proposed", Date: "2026-11-25", Deciders: []string{name}, Context: context,
			Journeys: []Journey{{Name: name, Interactions: []Interaction{
				{Name: name, From: service, To: title, Consistency: "strong", NeedsResponse: true, UserWaiting: true},
				{Name: title, From: service, To: name, Consistency: "eventual", Event: event},
			}}},
			Fallback: Fallback{Runbook: context, DeadLetterDestination: title}}
		for _, format := range []string{FormatMADR, FormatNygard, FormatMinimal} {
			out, err := shipped.Render(a, Options{Format: format})
			require.NoError(t, err)
			assertSafeMarkdown(t, out)
		}
		out, err := shipped.Render(a, Options{Format: FormatJSON})
		require.NoError(t, err)
		var rec JSONResult
		require.NoError(t, json.Unmarshal([]byte(out), &rec), "the JSON record parses")
		if utf8.ValidString(title) {
			require.Equal(t, title, rec.Title, fmt.Sprintf("the JSON record keeps the title %q", title))
		}
	})
}
