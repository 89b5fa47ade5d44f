package lessons

import (
	"bytes"
	"fmt"
	"html/template"
	"regexp"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Figure is a number the lab measured, as a text quotes it: a figure is
// never typed into prose, it is looked up in the recorded runs, so the text
// and the lab cannot disagree.
type Figure struct {
	Text string // "812 ms"
	// Run names the recorded run ("Sync, email at 800 ms"); Href is the page
	// that shows all of it; Command repeats it; Note says when and where it
	// was recorded.
	Run     string
	Href    string
	Command string
	Note    string
}

// Figures looks up a recorded figure by scenario, run (its number from 0,
// or its mode) and name as `crossroads lab run --json` names it.
type Figures func(scenario, run, name string) (Figure, error)

// A figure is written {{figure "slow-email" "sync" "latency_ms.p50"}}.
var figureRE = regexp.MustCompile(`^\{\{\s*figure\s+"([a-z0-9-]+)"\s+"([a-z0-9]+)"\s+"([a-z0-9_.]+)"\s*\}\}`)

var kindFigure = ast.NewNodeKind("LabFigure")

// figureNode is a figure reference; resolve fills in the figure.
type figureNode struct {
	ast.BaseInline
	scenario, run, name string
	at                  int // byte offset in the source, for messages
	fig                 Figure
	id                  string // of its popover
}

func (n *figureNode) Kind() ast.NodeKind { return kindFigure }
func (n *figureNode) Dump(src []byte, level int) {
	ast.DumpHelper(n, src, level, map[string]string{"Ref": n.ref()}, nil)
}

func (n *figureNode) ref() string {
	return fmt.Sprintf("%s %s %s", n.scenario, n.run, n.name)
}

// figureParser reads {{figure …}} in running text. It runs before the
// typographer, so the straight quotes of the reference stay straight.
type figureParser struct{}

func (figureParser) Trigger() []byte { return []byte{'{'} }

func (figureParser) Parse(_ ast.Node, block text.Reader, _ parser.Context) ast.Node {
	line, seg := block.PeekLine()
	m := figureRE.FindSubmatch(line)
	if m == nil {
		return nil
	}
	block.Advance(len(m[0]))
	return &figureNode{scenario: string(m[1]), run: string(m[2]), name: string(m[3]), at: seg.Start}
}

// looksLikeFigure catches a reference the parser did not take (a typo in
// its shape), so it is reported instead of printed as braces.
var looksLikeFigure = regexp.MustCompile(`\{\{\s*figure`)

func renderFigure(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	f := n.(*figureNode)
	fmt.Fprintf(w, `<span class="figure"><button type="button" class="figure-value" popovertarget="%[1]s" aria-describedby="%[1]s-what">%[2]s</button>`+
		`<span class="visually-hidden" id="%[1]s-what">measured in the lab; show how</span>`+
		`<span class="figure-how" id="%[1]s" popover><strong>Measured</strong> in the recorded run <a href="%[3]s">%[4]s</a>, %[5]s. Repeat it: <code>%[6]s</code></span></span>`,
		template.HTMLEscapeString(f.id), template.HTMLEscapeString(f.fig.Text), template.HTMLEscapeString(f.fig.Href),
		template.HTMLEscapeString(f.fig.Run), template.HTMLEscapeString(f.fig.Note), template.HTMLEscapeString(f.fig.Command))
	return ast.WalkSkipChildren, nil
}

// figureExtension adds figure references to a goldmark pipeline.
type figureExtension struct{}

func (figureExtension) Extend(m goldmark.Markdown) {
	m.Parser().AddOptions(parser.WithInlineParsers(util.Prioritized(figureParser{}, 50)))
	m.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(figureRendererFuncs{}, 100)))
}

type figureRendererFuncs struct{}

func (figureRendererFuncs) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindFigure, renderFigure)
}

// resolveFigures looks up every figure under doc, naming each popover
// with nextID; fail reports a reference that cannot be resolved, or
// braces that look like one but are not.
func resolveFigures(doc ast.Node, src []byte, figs Figures, nextID func() string, fail func(at int, err error)) {
	_ = ast.Walk(doc, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch v := c.(type) {
		case *ast.CodeSpan:
			return ast.WalkSkipChildren, nil // code may show the syntax itself
		case *figureNode:
			v.id = nextID()
			if figs == nil {
				fail(v.at, fmt.Errorf("figure %q: no recorded figures were loaded", v.ref()))
				return ast.WalkContinue, nil
			}
			fig, err := figs(v.scenario, v.run, v.name)
			if err != nil {
				fail(v.at, fmt.Errorf("figure %q: %w", v.ref(), err))
			}
			v.fig = fig
		case *ast.Text:
			if seg := v.Segment.Value(src); looksLikeFigure.Match(seg) {
				fail(v.Segment.Start, fmt.Errorf(`%q is not a figure reference: write {{figure "scenario" "run" "figure.name"}}`, strings.TrimSpace(string(seg))))
			}
		}
		return ast.WalkContinue, nil
	})
}

// textMarkdown renders the lab's own short texts (scenario situations and
// explanations): the plain pipeline plus figures.
var textMarkdown = goldmark.New(goldmark.WithExtensions(extension.Typographer, extension.Strikethrough, figureExtension{}))

// RenderText renders a short Markdown text that may quote recorded figures,
// such as a scenario's explanation. An unknown figure is an error naming it.
func RenderText(src string, figs Figures, idPrefix string) (template.HTML, error) {
	doc := textMarkdown.Parser().Parse(text.NewReader([]byte(src)))
	var errs []string
	n := 0
	nextID := func() string { n++; return fmt.Sprintf("%sfig-%d", idPrefix, n) }
	resolveFigures(doc, []byte(src), figs, nextID, func(_ int, err error) { errs = append(errs, err.Error()) })
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	var buf bytes.Buffer
	if err := textMarkdown.Renderer().Render(&buf, []byte(src), doc); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark escapes text and drops raw HTML
}
