package decide

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
)

// markdownToHTML renders like a permissive Markdown viewer: GitHub flavour
// with raw HTML allowed, so any HTML that slipped through would show.
func markdownToHTML(t testing.TB, md string) string {
	t.Helper()
	var buf bytes.Buffer
	gm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	require.NoError(t, gm.Convert([]byte(md), &buf))
	return buf.String()
}

// allowedTags is every element a record can legitimately produce.
var allowedTags = map[string]bool{"html": true, "head": true, "body": true, "h1": true, "h2": true, "h3": true,
	"p": true, "ul": true, "li": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true,
	"pre": true, "code": true, "hr": true}

// assertSafeMarkdown checks a record is valid UTF-8 and that, rendered with
// raw HTML enabled, it contains no element or attribute that user text could
// have introduced: no links, images, scripts or event handlers.
func assertSafeMarkdown(t testing.TB, md string) {
	t.Helper()
	require.True(t, utf8.ValidString(md), "record is valid UTF-8")
	doc, err := html.Parse(strings.NewReader(markdownToHTML(t, md)))
	require.NoError(t, err)
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			require.True(t, allowedTags[n.Data], "unexpected <%s> element in rendered record:\n%s", n.Data, md)
			for _, at := range n.Attr {
				ok := (n.Data == "code" && at.Key == "class" && at.Val == "language-mermaid") || at.Key == "align"
				require.True(t, ok, "unexpected attribute %s=%q on <%s>", at.Key, at.Val, n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// plainText extracts the text of rendered HTML.
func plainText(t testing.TB, h string) string {
	doc, err := html.Parse(strings.NewReader(h))
	require.NoError(t, err)
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

func TestEscapeInline(t *testing.T) {
	cases := map[string]string{
		"Checkout":                  "Checkout",
		"<script>alert(1)</script>": `\<script\>alert(1)\</script\>`,
		"](javascript:alert(1))":    `\](javascript:alert(1))`,
		"[x](javascript:y)":         `\[x\](javascript:y)`,
		"a*b_c`d":                   "a\\*b\\_c\\`d",
		"# heading":                 `\# heading`,
		"- item":                    `\- item`,
		"1. first":                  `1\. first`,
		"> quote":                   `\> quote`,
		"a|b":                       `a\|b`,
		"line\nbreak":               "line break",
		"&amp;":                     `\&amp;`,
		"R&D":                       `R\&D`,
		"!" + "[i](x)":              `\!\[i\](x)`,
		"bad \xff byte":             "bad \uFFFD byte",
		"tab\there\x00":             "tab here",
		"    code":                  "code",
		"order.placed":              "order.placed",
		"café ünïcode 日本":           "café ünïcode 日本",
	}
	for in, want := range cases {
		assert.Equal(t, want, EscapeInline(in), "%q", in)
	}
}

func TestEscapedTextRoundTrips(t *testing.T) {
	for _, s := range []string{"<script>alert(1)</script>", "](javascript:alert(1))", "a*b*c", "_x_", "`code`",
		"# h", "1. x", "&lt;", "x<y>z", "\\", "[a]: http://x", "~~del~~", "<!-- c -->", "***"} {
		got := strings.TrimSpace(plainText(t, markdownToHTML(t, EscapeInline(s))))
		assert.Equal(t, s, got, "escaped %q must render as the same text", s)
	}
}

func TestYAMLValue(t *testing.T) {
	assert.Equal(t, "alice, bob", yamlValue("alice, bob"))
	assert.Equal(t, "2026-11-25", yamlValue("2026-11-25"))
	assert.Equal(t, `"a: b"`, yamlValue("a: b"))
	assert.Equal(t, `"\"quoted\"\n---"`, yamlValue("\"quoted\"\n---"))
	assert.Equal(t, `"\u003cscript\u003e"`, yamlValue("<script>"))
}

func TestMermaidLabel(t *testing.T) {
	assert.Equal(t, "Reserve inventory", mermaidLabel("Reserve inventory"))
	assert.Equal(t, "a#34;#93;--#62; x", mermaidLabel(`a"]--> x`))
	assert.Equal(t, "#96;#96;#96; end", mermaidLabel("```\nend"))
}
