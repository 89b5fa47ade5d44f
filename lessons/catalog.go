package lessons

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Options configure Load.
type Options struct {
	// Source holds the Go files that `source` blocks quote (the labs
	// package's signup.go). Nil skips source resolution: the blocks render a
	// notice instead of code, so content can be linted before the lab exists.
	Source fs.FS
	// SourceDir names Source in messages and captions ("labs").
	SourceDir string
	// Figures looks up the recorded lab figures that {{figure …}}
	// references quote. Nil makes every reference an error.
	Figures Figures
	// Root names the content FS in error messages ("content"), so a message
	// reads content/lessons/02-x.md:12 from the repository root.
	Root string
}

// Catalog is every chapter, the glossary and the search index, parsed and
// rendered once. It is read-only after Load and safe for concurrent use.
type Catalog struct {
	Chapters []*Chapter
	Glossary []*Term
	// ScenarioIDs are the lab scenarios that `lab` blocks and /labs links may
	// name.
	ScenarioIDs []string

	bySlug  map[string]*Chapter
	terms   map[string]*Term
	widgets map[string]*Widget
	index   *index
}

// Chapter is one lesson, ready to serve.
type Chapter struct {
	File    string // for messages: Options.Root + path, e.g. content/lessons/02-synchronous-reality.md
	Slug    string
	Title   string
	Order   int
	Summary string
	Minutes int
	Analogy string

	Headings []Heading
	// TOC is the table of contents as a ready list.
	TOC template.HTML
	// Before and After are the body around the knowledge check; QuizForm is
	// the unanswered check. Together they are the whole page body, cached.
	Before, After template.HTML
	QuizForm      template.HTML
	Quiz          *Quiz
	// Print is the whole body with ids prefixed by the slug, so every
	// chapter can share one printable page.
	Print template.HTML

	Prev, Next *Chapter

	terms       []string // glossary ids used, in order of first use
	quizHeading string   // id of the heading right before the quiz, if any
	sections    []plainSection
	links       []link
}

// Heading is one section heading of a chapter, for the table of contents and
// deep links.
type Heading struct {
	Level int
	ID    string
	Text  string
}

// link is an internal link found in a chapter, kept for the link check.
type link struct {
	dest string
	line int
}

// LabScenarios are the lab scenario ids that lessons may link to.
var LabScenarios = []string{
	"baseline", "slow-email", "email-down", "flaky-email", "consumer-crash",
	"idempotency-off", "poison-message", "circuit-breaker", "slow-throughput",
	"outbox", "time-to-effect", "timeout-took-effect", "long-outage", "slow-work", "sync-chain",
}

// reservedSlugs are path segments under /lessons that the server uses itself.
var reservedSlugs = []string{"print", "search", "progress"}

var (
	chapterFile = regexp.MustCompile(`^\d\d-[a-z0-9-]+\.md$`)
	slugRE      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Load reads content/lessons/*.md, content/glossary.yaml and
// content/lessons/widgets.yaml from contentFS (rooted at content/), renders
// every chapter and checks every cross-reference. All problems are returned
// together, each naming its file and line.
func Load(contentFS fs.FS, opts Options) (*Catalog, error) {
	if opts.SourceDir == "" {
		opts.SourceDir = "labs"
	}
	if opts.Root == "" {
		opts.Root = "content"
	}
	shown := func(p string) string { return path.Join(opts.Root, p) }
	c := &Catalog{
		bySlug:      map[string]*Chapter{},
		ScenarioIDs: LabScenarios,
	}
	var errs []error
	var err error
	if c.Glossary, c.terms, err = loadGlossary(contentFS, "glossary.yaml", shown("glossary.yaml")); err != nil {
		return nil, err
	}
	if c.widgets, err = loadWidgets(contentFS, "lessons/widgets.yaml", shown("lessons/widgets.yaml")); err != nil {
		return nil, err
	}
	files, err := fs.Glob(contentFS, "lessons/*.md")
	if err != nil {
		return nil, fmt.Errorf("list lessons: %w", err)
	}
	r := newRenderer(c, opts)
	for _, f := range files {
		base := path.Base(f)
		if base == "README.md" {
			continue
		}
		if !chapterFile.MatchString(base) {
			errs = append(errs, fmt.Errorf("%s: file name must look like NN-slug.md", shown(f)))
			continue
		}
		src, err := fs.ReadFile(contentFS, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", shown(f), err)
		}
		ch, err := r.chapter(shown(f), src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := c.bySlug[ch.Slug]; dup {
			errs = append(errs, fmt.Errorf("%s:2: slug %q is already used by %s", ch.File, ch.Slug, prev.File))
			continue
		}
		c.bySlug[ch.Slug] = ch
		c.Chapters = append(c.Chapters, ch)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(c.Chapters, func(a, b *Chapter) int { return a.Order - b.Order })
	for i, ch := range c.Chapters {
		if ch.Order != i+1 {
			errs = append(errs, fmt.Errorf("%s:2: order is %d, expected %d (orders run 1..n without gaps or repeats)", ch.File, ch.Order, i+1))
		}
		if i > 0 {
			ch.Prev = c.Chapters[i-1]
			c.Chapters[i-1].Next = ch
		}
	}
	errs = append(errs, c.checkLinks()...)
	errs = append(errs, checkLongestRight(c.Chapters)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, t := range c.Glossary {
		t.UsedIn = nil
	}
	for _, ch := range c.Chapters {
		for _, id := range ch.terms {
			t := c.terms[id]
			t.UsedIn = append(t.UsedIn, ch)
		}
	}
	sortTerms(c.Glossary)
	c.index = buildIndex(c)
	return c, nil
}

// Chapter returns the chapter with the given slug.
func (c *Catalog) Chapter(slug string) (*Chapter, bool) {
	ch, ok := c.bySlug[slug]
	return ch, ok
}

// Term returns the glossary term with the given id.
func (c *Catalog) Term(id string) (*Term, bool) {
	t, ok := c.terms[id]
	return t, ok
}

// checkLinks verifies every internal link of every chapter.
func (c *Catalog) checkLinks() []error {
	var errs []error
	for _, ch := range c.Chapters {
		for _, l := range ch.links {
			if err := c.CheckLink(l.dest); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: link %q: %w", ch.File, l.line, l.dest, err))
			}
		}
	}
	return errs
}

// CheckLink resolves one internal link: /lessons/<slug>[#id], /labs,
// /labs?scenario=<id>, /decide, /glossary[#id]. Other content (lab
// scenarios, the decision wizard) can use it to check links into lessons.
func (c *Catalog) CheckLink(dest string) error {
	p, frag, _ := strings.Cut(dest, "#")
	p, query, _ := strings.Cut(p, "?")
	switch {
	case p == "/lessons" || p == "/lessons/":
		return noQueryOrFrag(query, frag)
	case strings.HasPrefix(p, "/lessons/"):
		if query != "" {
			return errors.New("lesson links take no query")
		}
		ch, ok := c.bySlug[strings.TrimPrefix(p, "/lessons/")]
		if !ok {
			return errors.New("no chapter has this slug")
		}
		if frag != "" && frag != "quiz" && !slices.ContainsFunc(ch.Headings, func(h Heading) bool { return h.ID == frag }) {
			return fmt.Errorf("chapter %q has no heading with id %q", ch.Slug, frag)
		}
		return nil
	case p == "/labs":
		if frag != "" {
			return errors.New("lab links take no fragment")
		}
		if query == "" {
			return nil
		}
		id, ok := strings.CutPrefix(query, "scenario=")
		if !ok || !slices.Contains(c.ScenarioIDs, id) {
			return fmt.Errorf("unknown lab scenario; use one of %s", strings.Join(c.ScenarioIDs, ", "))
		}
		return nil
	case p == "/decide":
		return noQueryOrFrag(query, frag)
	case p == "/glossary":
		if query != "" {
			return errors.New("glossary links take no query")
		}
		if frag != "" {
			if _, ok := c.terms[frag]; !ok {
				return errors.New("no glossary term has this id")
			}
		}
		return nil
	}
	return errors.New("not a page of this site (use /lessons/..., /labs, /labs?scenario=..., /decide or /glossary#...)")
}

func noQueryOrFrag(query, frag string) error {
	if query != "" || frag != "" {
		return errors.New("this page takes no query or fragment")
	}
	return nil
}
