package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"sort"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

type frontMatter struct {
	Title   string `yaml:"title"`
	Slug    string `yaml:"slug"`
	Order   int    `yaml:"order"`
	Summary string `yaml:"summary"`
	Minutes int    `yaml:"minutes"`
	Analogy string `yaml:"analogy"`
}

// chapterRenderer turns chapter files into Chapters. It is used only during Load.
type chapterRenderer struct {
	cat    *Catalog
	opts   Options
	md     goldmark.Markdown
	blocks *template.Template
}

func newRenderer(c *Catalog, opts Options) *chapterRenderer {
	return &chapterRenderer{cat: c, opts: opts, md: newMarkdown(), blocks: blockTemplates}
}

// splitFrontMatter separates the YAML between the opening and closing "---"
// lines from the body, and says on which line of the file the body starts.
func splitFrontMatter(src []byte) (fm, body []byte, bodyLine int, err error) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	if !bytes.HasPrefix(src, []byte("---\n")) && !bytes.HasPrefix(src, []byte("---\r\n")) {
		return nil, nil, 0, errors.New("1: a chapter starts with front matter: a line \"---\", YAML, and another \"---\"")
	}
	rest := src[bytes.IndexByte(src, '\n')+1:]
	line := 2
	for off := 0; off < len(rest); line++ {
		end := bytes.IndexByte(rest[off:], '\n')
		var l []byte
		if end < 0 {
			l, end = rest[off:], len(rest)-off
		} else {
			l = rest[off : off+end]
		}
		if string(bytes.TrimRight(l, "\r ")) == "---" {
			next := off + end + 1
			if next > len(rest) {
				next = len(rest)
			}
			return rest[:off], rest[next:], line + 1, nil
		}
		off += end + 1
	}
	return nil, nil, 0, errors.New("1: front matter is not closed with a \"---\" line")
}

// chapter parses and renders one file. Every problem found is reported, not
// just the first.
func (r *chapterRenderer) chapter(file string, src []byte) (*Chapter, error) {
	fmSrc, body, bodyLine, err := splitFrontMatter(src)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", file, err)
	}
	var fm frontMatter
	if err := strictUnmarshal(fmSrc, &fm); err != nil {
		return nil, yamlError(file, 1, fmt.Errorf("front matter: %w", err))
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:2: front matter: "+format, append([]any{file}, args...)...))
	}
	switch {
	case fm.Title == "":
		fail("title is missing")
	case !slugRE.MatchString(fm.Slug):
		fail("slug %q must be lower-case words joined by hyphens", fm.Slug)
	case slices.Contains(reservedSlugs, fm.Slug):
		fail("slug %q is reserved for a page of the site", fm.Slug)
	case fm.Order < 1:
		fail("order must be 1 or more")
	case fm.Summary == "":
		fail("summary is missing")
	case fm.Minutes < 1 || fm.Minutes > 60:
		fail("minutes must be between 1 and 60, not %d", fm.Minutes)
	case !slices.Contains([]string{"", "restaurant", "postal", "both"}, fm.Analogy):
		fail("analogy %q must be restaurant, postal or both", fm.Analogy)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ch := &Chapter{
		File: file, Slug: fm.Slug, Title: fm.Title, Order: fm.Order,
		Summary: fm.Summary, Minutes: fm.Minutes, Analogy: fm.Analogy,
	}
	p := &pass{r: r, ch: ch, src: body, bodyLine: bodyLine, record: true}
	before, quiz, after, plainSections := p.run()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	ch.Before, ch.After, ch.Quiz = before, after, quiz
	ch.QuizForm, err = RenderQuiz(ch, "", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: render knowledge check: %w", file, err)
	}
	ch.TOC = tocHTML(ch.Headings, quiz != nil && ch.quizHeading == "")
	ch.sections = plainSections

	// The print page shows every chapter at once: render again with ids
	// prefixed by the slug.
	pp := &pass{r: r, ch: ch, src: body, bodyLine: bodyLine, prefix: ch.Slug + "--"}
	pb, _, pa, _ := pp.run()
	if len(pp.errs) > 0 {
		return nil, errors.Join(pp.errs...)
	}
	printQuiz, err := RenderQuiz(ch, ch.Slug+"--", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: render knowledge check: %w", file, err)
	}
	ch.Print = pb + printQuiz + pa
	return ch, nil
}

// pass is one rendering of a chapter body.
type pass struct {
	r        *chapterRenderer
	ch       *Chapter
	src      []byte
	bodyLine int
	prefix   string // id prefix: "" for the chapter page, "slug--" for print
	record   bool   // collect headings, terms and links (first pass only)
	errs     []error
	tips     int
	figures  int // figure references so far, to number their popovers
	lineFix  int // when > 0, every error is reported at this line (block fields)
	quiz     *Quiz
	quizNode ast.Node
	quizSeen bool // a quiz block was found, even if it had errors
}

func (p *pass) errorf(line int, format string, args ...any) {
	if p.lineFix > 0 {
		line = p.lineFix
	}
	p.errs = append(p.errs, fmt.Errorf("%s:%d: "+format, append([]any{p.ch.File, line}, args...)...))
}

// lineOf is the file line of a byte offset into the body.
func (p *pass) lineOf(off int) int {
	if off > len(p.src) {
		off = len(p.src)
	}
	return p.bodyLine + bytes.Count(p.src[:off], []byte("\n"))
}

// nodeLine is the file line where n (or, for inlines, its block) starts.
func (p *pass) nodeLine(n ast.Node) int {
	if n != nil && n.Type() == ast.TypeInline {
		// Inlines have no position of their own; their first text does.
		var at = -1
		_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
			if t, ok := c.(*ast.Text); ok && entering {
				at = t.Segment.Start
				return ast.WalkStop, nil
			}
			return ast.WalkContinue, nil
		})
		if at >= 0 {
			return p.lineOf(at)
		}
	}
	for ; n != nil; n = n.Parent() {
		if fc, ok := n.(*ast.FencedCodeBlock); ok && fc.Info != nil {
			return p.lineOf(fc.Info.Segment.Start)
		}
		if n.Type() == ast.TypeBlock && n.Lines().Len() > 0 {
			return p.lineOf(n.Lines().At(0).Start)
		}
	}
	return p.bodyLine
}

type plainSection struct {
	heading Heading // zero for the text before the first heading
	text    string
}

// run parses and renders the body. It returns the HTML before and after the
// knowledge check, the check itself, and the plain text of each section.
func (p *pass) run() (before template.HTML, quiz *Quiz, after template.HTML, sections []plainSection) {
	ctx := parser.NewContext()
	ctx = parser.NewContext(parser.WithIDs(prefixedIDs{prefix: p.prefix, inner: ctx.IDs()}))
	doc := p.r.md.Parser().Parse(text.NewReader(p.src), parser.WithContext(ctx))
	p.transform(doc)
	if p.quiz == nil && !p.quizSeen {
		p.errorf(p.bodyLine, "the chapter has no knowledge check (a ```quiz block at its end)")
	}
	if len(p.errs) > 0 {
		return "", nil, "", nil
	}
	var b, a bytes.Buffer
	w := &b
	cur := plainSection{}
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		if n == p.quizNode {
			w = &a
			continue
		}
		if err := p.r.md.Renderer().Render(w, p.src, n); err != nil {
			p.errorf(p.nodeLine(n), "render: %v", err)
		}
		if !p.record {
			continue
		}
		if h, ok := n.(*ast.Heading); ok && h.Level <= 3 {
			sections = append(sections, cur)
			cur = plainSection{heading: p.headingOf(h)}
			continue
		}
		cur.text += " " + plainText(n, p.src)
	}
	sections = append(sections, cur)
	return template.HTML(b.String()), p.quiz, template.HTML(a.String()), sections //nolint:gosec // rendered by goldmark, raw HTML rejected
}

func (p *pass) headingOf(h *ast.Heading) Heading {
	id, _ := h.AttributeString("id")
	idb, _ := id.([]byte)
	return Heading{Level: h.Level, ID: string(idb), Text: plainText(h, p.src)}
}

var customBlocks = []string{"callout", "analogy", "lab", "source", "quiz"}

// transform checks the tree and replaces custom fenced blocks and glossary
// links with this package's nodes.
func (p *pass) transform(doc ast.Node) {
	var replace [][2]ast.Node
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch v := n.(type) {
		case *ast.Heading:
			if v.Level == 1 {
				p.errorf(p.nodeLine(v), "use ## headings: the title is the page's only h1")
			}
			if p.record && v.Level <= 3 {
				p.ch.Headings = append(p.ch.Headings, p.headingOf(v))
			}
		case *ast.HTMLBlock, *ast.RawHTML:
			p.errorf(p.nodeLine(v), "raw HTML is not rendered; write Markdown instead")
			return ast.WalkSkipChildren, nil
		case *ast.Link:
			if t := p.link(v); t != nil {
				replace = append(replace, [2]ast.Node{v, t})
			}
		case *ast.AutoLink:
			// Bare URLs are fine; they never point inside the site.
		case *ast.FencedCodeBlock:
			lang := string(v.Language(p.src))
			if slices.Contains(customBlocks, lang) {
				if b := p.block(lang, v); b != nil {
					replace = append(replace, [2]ast.Node{v, b})
				}
				return ast.WalkSkipChildren, nil
			}
		}
		return ast.WalkContinue, nil
	})
	resolveFigures(doc, p.src, p.r.opts.Figures, func() string {
		p.figures++
		return fmt.Sprintf("%sfig-%d", p.prefix, p.figures)
	}, func(at int, err error) { p.errorf(p.lineOf(at), "%v", err) })
	for _, r := range replace {
		old, nw := r[0], r[1]
		if t, ok := nw.(*termNode); ok {
			for c := old.FirstChild(); c != nil; {
				next := c.NextSibling()
				t.AppendChild(t, c)
				c = next
			}
		}
		old.Parent().ReplaceChild(old.Parent(), old, nw)
		if old == p.quizNode {
			p.quizNode = nw
		}
	}
}

// link checks one link. A glossary link becomes a term node; internal links
// are recorded for the catalog-wide check.
func (p *pass) link(l *ast.Link) *termNode {
	dest := string(l.Destination)
	line := p.nodeLine(l)
	switch {
	case strings.HasPrefix(dest, "glossary:"):
		id := strings.TrimPrefix(dest, "glossary:")
		t, ok := p.r.cat.terms[id]
		if !ok {
			p.errorf(line, "glossary term %q is not defined in content/glossary.yaml", id)
			return nil
		}
		if p.record && !slices.Contains(p.ch.terms, id) {
			p.ch.terms = append(p.ch.terms, id)
		}
		p.tips++
		return &termNode{term: t, tipID: fmt.Sprintf("tip-%s%d", p.prefix, p.tips)}
	case strings.HasPrefix(dest, "#"):
		if p.record {
			p.ch.links = append(p.ch.links, link{dest: "/lessons/" + p.ch.Slug + dest, line: line})
		}
		if p.prefix != "" {
			l.Destination = []byte("#" + p.prefix + dest[1:])
		}
	case strings.HasPrefix(dest, "/"):
		if p.record {
			p.ch.links = append(p.ch.links, link{dest: dest, line: line})
		}
	case strings.HasPrefix(dest, "https://"), strings.HasPrefix(dest, "http://"), strings.HasPrefix(dest, "mailto:"):
	default:
		p.errorf(line, "link %q: use a site path such as /lessons/<slug>, a glossary: term or a full https:// URL", dest)
	}
	return nil
}

// tocHTML is the table of contents: h2 entries with their h3 entries nested.
func tocHTML(hs []Heading, quiz bool) template.HTML {
	var b strings.Builder
	b.WriteString(`<ol class="toc-list">`)
	open := false
	for i, h := range hs {
		switch {
		case h.Level == 2:
			if open {
				b.WriteString("</ol></li>")
				open = false
			}
			if i > 0 {
				b.WriteString("</li>")
			}
			fmt.Fprintf(&b, `<li><a href="#%s">%s</a>`, template.HTMLEscapeString(h.ID), template.HTMLEscapeString(h.Text))
		case h.Level == 3:
			if !open {
				b.WriteString(`<ol>`)
				open = true
			}
			fmt.Fprintf(&b, `<li><a href="#%s">%s</a></li>`, template.HTMLEscapeString(h.ID), template.HTMLEscapeString(h.Text))
		}
	}
	if open {
		b.WriteString("</ol>")
	}
	if len(hs) > 0 {
		b.WriteString("</li>")
	}
	if quiz {
		b.WriteString(`<li><a href="#quiz">Knowledge check</a></li>`)
	}
	b.WriteString("</ol>")
	return template.HTML(b.String()) //nolint:gosec // every piece escaped above
}

// sortTerms orders glossary terms alphabetically by their text.
func sortTerms(ts []*Term) {
	sort.SliceStable(ts, func(i, j int) bool { return strings.ToLower(ts[i].Term) < strings.ToLower(ts[j].Term) })
}
