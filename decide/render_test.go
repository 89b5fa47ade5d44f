package decide

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func loadExample(t testing.TB, name string) Answers {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	a, err := Parse(b)
	require.NoError(t, err)
	return a.Normalized("2000-01-01")
}

func TestGolden(t *testing.T) {
	for _, ex := range []string{"checkout.yaml", "signup.yaml", "hostile.json"} {
		a := loadExample(t, ex)
		for _, f := range Formats {
			name := strings.TrimSuffix(ex, filepath.Ext(ex)) + "." + f
			if f == FormatJSON {
				name += ".json"
			} else {
				name += ".md"
			}
			t.Run(name, func(t *testing.T) {
				got, err := shipped.Render(a, Options{Format: f})
				require.NoError(t, err)
				again, err := shipped.Render(a.Clone(), Options{Format: f})
				require.NoError(t, err)
				require.Equal(t, got, again, "rendering is deterministic")
				path := filepath.Join("testdata", "golden", name)
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test ./decide -run TestGolden -update to create it")
				assert.Equal(t, string(want), got)
				if f != FormatJSON {
					assertSafeMarkdown(t, got)
				}
			})
		}
	}
}

func TestRenderSeedFromDesign(t *testing.T) {
	a := loadExample(t, "checkout.yaml")
	assert.Equal(t, "2026-11-25", a.Date, "the file's date wins over the injected one")
	md, err := shipped.Render(a, Options{})
	require.NoError(t, err)
	for _, want := range []string{
		"status: proposed\ndate: 2026-11-25\ndecision-makers: alice, bob\n",
		"## Context and Problem Statement", "## Decision Drivers", "## Considered Options", "## Decision Outcome",
		"### Consequences", "### Confirmation", "## Pros and Cons of the Options", "## More Information",
		`Chosen option: "Synchronous request/response", because`,
		"| Checkout | Reserve inventory | checkout | inventory | sync |",
		"```mermaid\nflowchart LR\n  n0[\"checkout\"]\n  n1[\"inventory\"]\n  n0 -->|\"Reserve inventory\"| n1\n```",
		"has no timeout",
	} {
		assert.Contains(t, md, want)
	}
	ny, err := shipped.Render(a, Options{Format: FormatNygard, Number: 7})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ny, "# 7. Checkout communication\n\nDate: 2026-11-25\n\n## Status\n\nProposed\n\n## Context\n"), ny[:120])
}

func TestMermaidEdges(t *testing.T) {
	a := loadExample(t, "signup.yaml")
	m := shipped.Mermaid(a, 0)
	assert.Equal(t, "flowchart LR\n"+
		"  n0[\"gateway\"]\n  n1[\"users\"]\n  n2[\"email\"]\n  n3[\"analytics\"]\n"+
		"  n0 -->|\"Create user\"| n1\n"+
		"  n1 -.->|\"SendWelcomeEmail\"| n2\n"+
		"  n1 -.->|\"user.signedup\"| n3\n", m)
	assert.Empty(t, shipped.Mermaid(a, 5))
}

func TestRenderJSONShape(t *testing.T) {
	a := loadExample(t, "signup.yaml")
	out, err := shipped.Render(a, Options{Format: FormatJSON})
	require.NoError(t, err)
	var got struct {
		Title        string `json:"title"`
		Interactions []struct {
			Journey, Name, From, To, Recommendation string
			Reasons                                 []string
			Warnings                                []Warning
		} `json:"interactions"`
		Warnings    []Warning `json:"warnings"`
		ADRMarkdown string    `json:"adr_markdown"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "Signup and checkout messaging", got.Title)
	require.Len(t, got.Interactions, 7)
	assert.Equal(t, "Sign up", got.Interactions[1].Journey)
	assert.Equal(t, "async", got.Interactions[1].Recommendation)
	assert.Equal(t, "command-event", got.Interactions[1].Warnings[0].Code)
	assert.Contains(t, got.Interactions[1].Warnings[0].Message, "WelcomeEmailSent")
	assert.NotEmpty(t, got.Interactions[1].Reasons)
	assert.NotEmpty(t, got.Warnings)
	md, _ := shipped.Render(a, Options{})
	assert.Equal(t, md, got.ADRMarkdown)
}

func TestRenderUnknownFormat(t *testing.T) {
	_, err := shipped.Render(Seed(), Options{Format: "docx"})
	require.EqualError(t, err, `format "docx": must be madr, nygard, minimal or json`)
}

func TestRenderHostileInputIsInert(t *testing.T) {
	a := loadExample(t, "hostile.json")
	for _, f := range []string{FormatMADR, FormatNygard, FormatMinimal} {
		md, err := shipped.Render(a, Options{Format: f})
		require.NoError(t, err)
		assertSafeMarkdown(t, md)
		html := markdownToHTML(t, md)
		assert.Contains(t, html, "&lt;script&gt;alert(1)&lt;/script&gt;", "the title is shown as text")
		assert.NotContains(t, html, "<script")
		assert.NotContains(t, html, "<img")
	}
}
