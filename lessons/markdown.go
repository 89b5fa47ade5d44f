package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"strconv"
	"strings"

	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/yuin/goldmark"
	highlighting "github.com/yuin/goldmark-highlighting/v2"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.yaml.in/yaml/v3"
)

// newMarkdown is the goldmark pipeline for lesson bodies: GFM, typographic
// quotes, automatic heading ids, chroma highlighting with CSS classes (the
// CSP forbids inline styles) and this package's own nodes. Raw HTML is not
// passed through (goldmark's default), and the lint rejects it anyway.
func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(
			extension.GFM,
			extension.Typographer,
			highlighting.NewHighlighting(
				highlighting.WithFormatOptions(chromahtml.WithClasses(true)),
				highlighting.WithGuessLanguage(false),
			),
			figureExtension{},
		),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(nodeRenderer{}, 100))),
	)
}

// plainMarkdown renders short texts (glossary definitions, widget text)
// that must not contain lesson-only constructs.
var plainMarkdown = goldmark.New(goldmark.WithExtensions(extension.Typographer, extension.Strikethrough))

// blockMarkdown renders src as block HTML. glossary: links become links to
// the glossary page.
func blockMarkdown(src string) (template.HTML, error) {
	doc := plainMarkdown.Parser().Parse(text.NewReader([]byte(src)))
	rewriteGlossaryLinks(doc)
	var buf bytes.Buffer
	if err := plainMarkdown.Renderer().Render(&buf, []byte(src), doc); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark escapes text and drops raw HTML
}

// inlineMarkdown renders a one-paragraph text without its <p> wrapper and
// returns its plain text as well.
func inlineMarkdown(src string) (template.HTML, string, error) {
	h, err := blockMarkdown(src)
	if err != nil {
		return "", "", err
	}
	s := strings.TrimSpace(string(h))
	if strings.HasPrefix(s, "<p>") && strings.HasSuffix(s, "</p>") && strings.Count(s, "<p>") == 1 {
		s = s[len("<p>") : len(s)-len("</p>")]
	}
	doc := plainMarkdown.Parser().Parse(text.NewReader([]byte(src)))
	return template.HTML(s), plainText(doc, []byte(src)), nil //nolint:gosec // see blockMarkdown
}

func rewriteGlossaryLinks(doc ast.Node) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if l, ok := n.(*ast.Link); ok && entering {
			if id, ok := bytes.CutPrefix(l.Destination, []byte("glossary:")); ok {
				l.Destination = append([]byte("/glossary#"), id...)
			}
		}
		return ast.WalkContinue, nil
	})
}

// plainText is the visible text under n, with block boundaries as spaces.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			if c.Type() == ast.TypeBlock {
				b.WriteByte(' ')
			}
			return ast.WalkContinue, nil
		}
		switch v := c.(type) {
		case *ast.Text:
			b.Write(v.Segment.Value(src))
			if v.SoftLineBreak() || v.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(v.Value)
		case *ast.CodeSpan:
			for ch := v.FirstChild(); ch != nil; ch = ch.NextSibling() {
				if t, ok := ch.(*ast.Text); ok {
					b.Write(t.Segment.Value(src))
				}
			}
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			return ast.WalkSkipChildren, nil
		case *blockNode:
			b.WriteString(v.plain)
			b.WriteByte(' ')
		case *figureNode:
			b.WriteString(v.fig.Text)
		}
		return ast.WalkContinue, nil
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// prefixedIDs gives heading ids a prefix, so the chapters of the print page
// can share one document without clashing ids.
type prefixedIDs struct {
	prefix string
	inner  parser.IDs
}

func (p prefixedIDs) Generate(value []byte, kind ast.NodeKind) []byte {
	return append([]byte(p.prefix), p.inner.Generate(value, kind)...)
}

func (p prefixedIDs) Put(value []byte) { p.inner.Put(value) }

// kindBlock is a custom block (callout, analogy, lab, source, quiz), already
// rendered to HTML while the chapter was read.
var kindBlock = ast.NewNodeKind("LessonBlock")

type blockNode struct {
	ast.BaseBlock
	kind  string
	html  template.HTML
	plain string // for search
}

func (n *blockNode) Kind() ast.NodeKind               { return kindBlock }
func (n *blockNode) Dump(src []byte, level int)       { ast.DumpHelper(n, src, level, nil, nil) }
func (n *blockNode) IsRaw() bool                      { return true }
func (n *blockNode) HasBlankPreviousLines() bool      { return true }
func (n *blockNode) SetBlankPreviousLines(bool)       {}
func (n *blockNode) CanInterruptParagraph() bool      { return false }
func (n *blockNode) CanAcceptIndentedLine() bool      { return false }
func (n *blockNode) Continue(*ast.Paragraph) ast.Node { return nil }

// kindTerm is a glossary term in running text: a link to the glossary with
// the definition as its accessible description.
var kindTerm = ast.NewNodeKind("GlossaryTerm")

type termNode struct {
	ast.BaseInline
	term  *Term
	tipID string
}

func (n *termNode) Kind() ast.NodeKind         { return kindTerm }
func (n *termNode) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// nodeRenderer renders this package's nodes and headings with anchor links.
type nodeRenderer struct{}

func (nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindBlock, renderBlock)
	reg.Register(kindTerm, renderTerm)
	reg.Register(ast.KindHeading, renderHeading)
}

func renderBlock(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString(string(n.(*blockNode).html))
	}
	return ast.WalkSkipChildren, nil
}

func renderTerm(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	t := n.(*termNode)
	if entering {
		fmt.Fprintf(w, `<span class="term"><a class="term-link" href="/glossary#%s" aria-describedby="%s">`,
			template.HTMLEscapeString(t.term.ID), template.HTMLEscapeString(t.tipID))
		return ast.WalkContinue, nil
	}
	fmt.Fprintf(w, `</a><span class="term-tip" role="tooltip" id="%s"><strong>%s:</strong> %s</span></span>`,
		template.HTMLEscapeString(t.tipID), template.HTMLEscapeString(t.term.Term), template.HTMLEscapeString(t.term.Plain))
	return ast.WalkContinue, nil
}

func renderHeading(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Heading)
	id, _ := n.AttributeString("id")
	idb, _ := id.([]byte)
	if entering {
		fmt.Fprintf(w, `<h%d id="%s">`, n.Level, template.HTMLEscapeString(string(idb)))
		return ast.WalkContinue, nil
	}
	fmt.Fprintf(w, ` <a class="heading-anchor" href="#%s"><span aria-hidden="true">#</span><span class="visually-hidden">Link to this section</span></a></h%d>`+"\n",
		template.HTMLEscapeString(string(idb)), n.Level)
	return ast.WalkContinue, nil
}

// strictUnmarshal decodes YAML and refuses fields the target does not have,
// so a misspelt key is an error rather than a silently ignored line.
func strictUnmarshal(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty YAML")
		}
		return err
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// yamlError rewrites a YAML error's "line N" (relative to a YAML fragment
// that starts after offset lines of file) into "file:line: ...".
func yamlError(file string, offset int, err error) error {
	msg := strings.ReplaceAll(err.Error(), "yaml: ", "")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	line := offset + 1
	if m := lineRE.FindStringSubmatchIndex(msg); m != nil {
		n, _ := strconv.Atoi(msg[m[2]:m[3]])
		line = offset + n
		rest := strings.TrimPrefix(msg[m[1]:], ":")
		msg = msg[:m[0]] + strings.TrimSpace(rest)
	}
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	return fmt.Errorf("%s:%d: %s", file, line, strings.TrimSpace(msg))
}
