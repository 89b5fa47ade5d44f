package lessons

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadFixture(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load(os.DirFS("testdata/content"), Options{Source: os.DirFS("testdata/src")})
	require.NoError(t, err)
	return c
}

func TestLoadFixture(t *testing.T) {
	c := loadFixture(t)
	require.Len(t, c.Chapters, 2)
}

func TestLoadedChapterShape(t *testing.T) {
	c := loadFixture(t)
	a, ok := c.Chapter("waiting")
	require.True(t, ok)
	b, _ := c.Chapter("handing-off")
	assert.Same(t, b, a.Next)
	assert.Same(t, a, b.Prev)
	assert.Nil(t, a.Prev)

	assert.Equal(t, []Heading{{2, "blocked-callers", "Blocked callers"}, {3, "the-code", "The code"}}, a.Headings)
	assert.Contains(t, string(a.TOC), `<a href="#the-code">The code</a>`)
	assert.Contains(t, string(a.TOC), `<a href="#quiz">Knowledge check</a>`)
	body := string(a.Before)
	assert.Contains(t, body, `<h2 id="blocked-callers">Blocked callers <a class="heading-anchor" href="#blocked-callers">`)
	// Glossary terms: a link to the glossary described by a tooltip.
	assert.Contains(t, body, `<a class="term-link" href="/glossary#timeout" aria-describedby="tip-1">timeout</a><span class="term-tip" role="tooltip" id="tip-1">`)
	assert.Contains(t, body, `id="tip-2"`, "every use gets its own tooltip id")
	// Code highlighted with classes, never inline styles.
	assert.Contains(t, body, `<pre class="chroma"><code><span class="line"><span class="cl"><span class="kd">func</span>`)
	assert.NotContains(t, body, `style=`)
	// The source block quotes the function with its doc comment.
	assert.Contains(t, body, "signupSync creates the user")
	assert.NotContains(t, body, "signupAsync")
	assert.Contains(t, body, `href="/labs?scenario=slow-email"`)
	assert.Contains(t, body, `data-widget="restaurant"`)
	assert.Contains(t, string(b.Before), "<table>", "GFM tables")
	// The quiz form carries no answers.
	form := string(a.QuizForm)
	assert.Contains(t, form, `action="/lessons/waiting/quiz#quiz"`)
	assert.Contains(t, form, `name="answer-q1" value="`+valueOf(t, a, "q1", 0)+`"`)
	assert.NotContains(t, form, `value="0"`, "option values do not tell where the option is written")
	assert.NotContains(t, form, "bounded wait frees", "explanations are shown only after answering")
	// The print version prefixes ids so chapters can share a page.
	assert.Contains(t, string(a.Print), `<h2 id="waiting--blocked-callers">`)
	assert.Contains(t, string(a.Print), `href="#waiting--the-code"`)
	assert.Contains(t, string(a.Print), `id="tip-waiting--1"`)
	assert.Contains(t, string(a.Print), `id="waiting--quiz"`)

	term, ok := c.Term("timeout")
	require.True(t, ok)
	assert.Equal(t, []*Chapter{a}, term.UsedIn)
}

func TestLoadWithoutSourceShowsNotice(t *testing.T) {
	c, err := Load(os.DirFS("testdata/content"), Options{})
	require.NoError(t, err)
	ch, _ := c.Chapter("waiting")
	assert.Contains(t, string(ch.Before), "not connected to this build")
}

// fixtureWith returns the fixture content with one chapter replaced.
func fixtureWith(t *testing.T, name, src string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := os.DirFS("testdata/content")
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	}))
	if src == "" {
		delete(m, name)
	} else {
		m[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return m
}

func readFixture(t *testing.T, name string) string {
	b, err := os.ReadFile("testdata/content/" + name)
	require.NoError(t, err)
	return string(b)
}

func TestLoadReportsFileAndLine(t *testing.T) {
	orig := readFixture(t, "lessons/01-waiting.md")
	const file = "lessons/01-waiting.md"
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown front matter field", "minutes: 5", "minutes: 5\ncolour: red", file + ":7: front matter: field colour not found"},
		{"bad slug", "slug: waiting", "slug: Waiting Room", file + `:2: front matter: slug "Waiting Room"`},
		{"reserved slug", "slug: waiting", "slug: print", "reserved"},
		{"h1 in body", "## Blocked callers", "# Blocked callers", file + ":10: use ## headings"},
		{"raw html", "A caller with", "<b>A</b> caller with", file + ":12: raw HTML is not rendered"},
		{"unknown glossary id", "(glossary:timeout) stops", "(glossary:timeouts) stops", file + `:12: glossary term "timeouts" is not defined`},
		{"unknown glossary id in a callout", "without a [timeout](glossary:timeout)", "without a [timeout](glossary:nope)", file + `:16: glossary term "nope"`},
		{"broken lesson link", "/lessons/handing-off#brokers", "/lessons/handing-off#nope", file + `:13: link "/lessons/handing-off#nope": chapter "handing-off" has no heading`},
		{"unknown chapter", "/lessons/handing-off#brokers", "/lessons/elsewhere", file + `:13: link "/lessons/elsewhere": no chapter has this slug`},
		{"unknown scenario link", "/labs?scenario=email-down", "/labs?scenario=kaboom", "unknown lab scenario"},
		{"broken same-page anchor", "(#the-code)", "(#no-such-section)", file + `:14: link "/lessons/waiting#no-such-section"`},
		{"relative link", "(#the-code)", "(02-handing-off.md)", "use a site path"},
		{"unknown callout kind", "kind: tip", "kind: aside", file + `:16: callout kind "aside"`},
		{"unknown block field", "title: Timeouts are a decision", "titel: Timeouts", file + ":18: callout block: field titel not found"},
		{"unknown widget", "widget: restaurant", "widget: cinema", file + `:23: analogy widget "cinema"`},
		{"unknown lab scenario", "scenario: slow-email", "scenario: slow-mail", file + `:40: lab scenario "slow-mail" is unknown`},
		{"missing function", "func: signupSync", "func: signupLater", file + `:34: source block: signup.go has no function or method "signupLater"`},
		{"missing file", "file: signup.go", "file: login.go", file + ":34: source block: read login.go"},
		{"two correct options", "      why: The callee keeps working.", "      correct: true\n      why: The callee keeps working.", file + `:46: question "q1": has 2 correct options`},
		{"no correct option", "      correct: true\n      why: A bounded", "      why: A bounded", `question "q1": has 0 correct options`},
		{"option without why", "      why: The callee keeps working.", "", `question "q1": option 2 needs text and why`},
		{"classify missing why", "    async: Unpaid orders would go through.", "", `question "q2": why must explain both`},
		{"classify bad answer", "answer: sync", "answer: maybe", `question "q2": answer must be sync or async`},
		{"duplicate question id", "- id: q3", "- id: q1", `question "q1": id is used twice`},
		{"unknown question kind", "  kind: classify", "  kind: essay", `kind must be choice or classify`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, orig, tc.old)
			src := strings.Replace(orig, tc.old, tc.new, 1)
			_, err := Load(fixtureWith(t, file, src), Options{Source: os.DirFS("testdata/src")})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoadChapterRules(t *testing.T) {
	orig := readFixture(t, "lessons/01-waiting.md")
	quizAt := strings.Index(orig, "```quiz")
	cases := map[string]struct {
		src, want string
	}{
		"no front matter":     {"## Hello\n", "lessons/01-waiting.md:1: a chapter starts with front matter"},
		"unclosed":            {"---\ntitle: x\n", "front matter is not closed"},
		"no quiz":             {orig[:quizAt], "has no knowledge check"},
		"two quizzes":         {orig + "\n" + orig[quizAt:], "this is a second quiz block"},
		"too few questions":   {orig[:strings.Index(orig, "- id: q3")] + "```\n", "has 2 questions; at least 3"},
		"one kind only":       {strings.Replace(orig[:strings.Index(orig, "- id: q2")]+orig[strings.Index(orig, "- id: q3"):], "- id: q3", "- id: q2\n  kind: choice\n  prompt: x\n  options:\n    - text: a\n      correct: true\n      why: b\n    - text: c\n      why: d\n- id: q3", 1), "both kinds"},
		"order gap":           {strings.Replace(orig, "order: 1", "order: 3", 1), "order is 2, expected 1"},
		"duplicate slug":      {strings.Replace(orig, "slug: waiting", "slug: handing-off", 1), `slug "handing-off" is already used`},
		"bad minutes":         {strings.Replace(orig, "minutes: 5", "minutes: 0", 1), "minutes must be between 1 and 60"},
		"bad analogy":         {strings.Replace(orig, "analogy: restaurant", "analogy: cinema", 1), `analogy "cinema"`},
		"quiz yaml syntax":    {strings.Replace(orig, "  kind: choice\n  prompt: What", "  kind: [choice\n  prompt: What", 1), "lessons/01-waiting.md:4"},
		"front matter syntax": {strings.Replace(orig, "title: Waiting", "title: [Waiting", 1), "lessons/01-waiting.md:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(fixtureWith(t, "lessons/01-waiting.md", tc.src), Options{Source: os.DirFS("testdata/src")})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("bad file name", func(t *testing.T) {
		m := fixtureWith(t, "lessons/01-waiting.md", "")
		m["lessons/waiting.md"] = &fstest.MapFile{Data: []byte(orig)}
		_, err := Load(m, Options{})
		require.ErrorContains(t, err, "lessons/waiting.md: file name must look like NN-slug.md")
	})
}

func TestLoadChecksGlossaryAndWidgets(t *testing.T) {
	cases := map[string]struct{ file, src, want string }{
		"duplicate term":      {"glossary.yaml", "- id: a\n  term: A\n  definition: x\n- id: a\n  term: B\n  definition: y\n", `content/glossary.yaml:4: term id "a" is defined twice`},
		"no definition":       {"glossary.yaml", "- id: a\n  term: A\n", `content/glossary.yaml:1: term "a" has no definition`},
		"bad id":              {"glossary.yaml", "- id: Big Word\n  term: A\n  definition: x\n", `id "Big Word" must be lower-case`},
		"unknown term field":  {"glossary.yaml", "- id: a\n  term: A\n  definition: x\n  see: b\n", "content/glossary.yaml:4: field see not found"},
		"missing widget":      {"lessons/widgets.yaml", "restaurant:\n  title: R\n  description: d\n  legend: [{figure: a, term: b}]\n", `content/lessons/widgets.yaml: widget "postal" is missing`},
		"unknown widget":      {"lessons/widgets.yaml", "cinema:\n  title: R\n  description: d\n  legend: [{figure: a, term: b}]\n", `content/lessons/widgets.yaml:2: unknown widget "cinema"`},
		"legend without term": {"lessons/widgets.yaml", "restaurant:\n  title: R\n  description: d\n  legend: [{figure: a}]\n", "every legend entry needs a figure and a term"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(fixtureWith(t, tc.file, tc.src), Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
