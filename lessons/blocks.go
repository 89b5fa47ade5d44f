package lessons

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

type calloutYAML struct {
	Kind  string `yaml:"kind"`
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
}

type analogyYAML struct {
	Widget  string `yaml:"widget"`
	Caption string `yaml:"caption"`
}

type labYAML struct {
	Scenario string `yaml:"scenario"`
	Text     string `yaml:"text"`
}

type sourceYAML struct {
	File    string `yaml:"file"`
	Func    string `yaml:"func"`
	Caption string `yaml:"caption"`
}

// block parses one custom fenced block and returns the node that replaces
// it, or nil after recording an error.
func (p *pass) block(kind string, fc *ast.FencedCodeBlock) ast.Node {
	line := p.nodeLine(fc) // the fence line
	var body bytes.Buffer
	for i := 0; i < fc.Lines().Len(); i++ {
		s := fc.Lines().At(i)
		body.Write(s.Value(p.src))
	}
	n := &blockNode{kind: kind}
	decode := func(v any) bool {
		if err := strictUnmarshal(body.Bytes(), v); err != nil {
			p.errs = append(p.errs, yamlError(p.ch.File, line, fmt.Errorf("%s block: %w", kind, err)))
			return false
		}
		return true
	}
	var data any
	switch kind {
	case "callout":
		var y calloutYAML
		if !decode(&y) {
			return nil
		}
		if !slices.Contains([]string{"note", "tip", "warning"}, y.Kind) {
			p.errorf(line, "callout kind %q must be note, tip or warning", y.Kind)
			return nil
		}
		if strings.TrimSpace(y.Body) == "" {
			p.errorf(line, "callout has no body")
			return nil
		}
		bodyHTML, plain := p.fragment(y.Body, line, false)
		n.plain = y.Title + " " + plain
		data = struct {
			Kind, Title string
			Body        template.HTML
		}{y.Kind, y.Title, bodyHTML}
	case "analogy":
		var y analogyYAML
		if !decode(&y) {
			return nil
		}
		w, ok := p.r.cat.widgets[y.Widget]
		if !ok {
			p.errorf(line, "analogy widget %q must be restaurant or postal", y.Widget)
			return nil
		}
		caption, plain := p.fragment(y.Caption, line, true)
		n.plain = plain
		data = struct {
			W       *Widget
			Caption template.HTML
			Prefix  string
		}{w, caption, p.prefix}
	case "lab":
		var y labYAML
		if !decode(&y) {
			return nil
		}
		if y.Scenario != "" && !slices.Contains(p.r.cat.ScenarioIDs, y.Scenario) {
			p.errorf(line, "lab scenario %q is unknown; use one of %s", y.Scenario, strings.Join(p.r.cat.ScenarioIDs, ", "))
			return nil
		}
		if strings.TrimSpace(y.Text) == "" {
			p.errorf(line, "lab block has no text")
			return nil
		}
		textHTML, plain := p.fragment(y.Text, line, true)
		n.plain = plain
		href := "/labs"
		if y.Scenario != "" {
			href += "?scenario=" + y.Scenario
		}
		data = struct {
			Href     string
			Scenario string
			Text     template.HTML
		}{href, y.Scenario, textHTML}
	case "source":
		var y sourceYAML
		if !decode(&y) {
			return nil
		}
		if y.File == "" || y.Func == "" {
			p.errorf(line, "source block needs file and func")
			return nil
		}
		caption, plain := p.fragment(y.Caption, line, true)
		n.plain = plain
		d := struct {
			File, Func, Dir string
			Caption         template.HTML
			Code            template.HTML
			Missing         bool
		}{File: y.File, Func: y.Func, Dir: p.r.opts.SourceDir, Caption: caption}
		if p.r.opts.Source == nil {
			// No source configured (the lessons package's own lint cannot
			// import labs): show a notice. serve.go passes labs.Source.
			d.Missing = true
		} else {
			code, err := extractFunc(p.r.opts.Source, y.File, y.Func)
			if err != nil {
				p.errorf(line, "source block: %v", err)
				return nil
			}
			if d.Code, err = highlightGo(code); err != nil {
				p.errorf(line, "source block: %v", err)
				return nil
			}
		}
		data = d
	case "quiz":
		if p.quizSeen {
			p.errorf(line, "a chapter has one knowledge check; this is a second quiz block")
			return nil
		}
		p.quizSeen = true
		if h, ok := fc.PreviousSibling().(*ast.Heading); ok && p.record {
			// The chapter titles its own check ("## Check your
			// understanding"): the quiz uses that heading instead of adding one.
			p.ch.quizHeading = strings.TrimPrefix(p.headingOf(h).ID, p.prefix)
		}
		q, ok := p.parseQuiz(body.Bytes(), line)
		if !ok {
			return nil
		}
		if fc.Parent() != fc.OwnerDocument() {
			p.errorf(line, "the quiz block must be at the top level of the chapter, not nested")
			return nil
		}
		p.quiz = q
		p.quizNode = fc
		return n
	}
	var buf bytes.Buffer
	if err := p.r.blocks.ExecuteTemplate(&buf, kind, data); err != nil {
		p.errorf(line, "render %s block: %v", kind, err)
		return nil
	}
	n.html = template.HTML(buf.String()) //nolint:gosec // html/template output
	return n
}

// fragment renders a Markdown text field of a block, with glossary terms and
// links checked like the body's. Errors are reported at the block's line.
func (p *pass) fragment(src string, line int, inline bool) (template.HTML, string) {
	if strings.TrimSpace(src) == "" {
		return "", ""
	}
	saved := p.lineFix
	p.lineFix = line
	defer func() { p.lineFix = saved }()
	b := []byte(src)
	ctx := parser.NewContext()
	doc := p.r.md.Parser().Parse(text.NewReader(b), parser.WithContext(ctx))
	hasHeading := false
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if _, ok := n.(*ast.Heading); ok && entering {
			hasHeading = true
		}
		return ast.WalkContinue, nil
	})
	if hasHeading {
		p.errorf(line, "headings are not allowed inside a block's text")
		return "", ""
	}
	saveSrc := p.src
	p.src = b
	p.transform(doc)
	p.src = saveSrc
	var buf bytes.Buffer
	if err := p.r.md.Renderer().Render(&buf, b, doc); err != nil {
		p.errorf(line, "render: %v", err)
	}
	s := strings.TrimSpace(buf.String())
	if inline && strings.HasPrefix(s, "<p>") && strings.HasSuffix(s, "</p>") && strings.Count(s, "<p>") == 1 {
		s = s[3 : len(s)-4]
	}
	return template.HTML(s), plainText(doc, b) //nolint:gosec // rendered by goldmark
}
