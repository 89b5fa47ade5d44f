package lessons

import (
	"bytes"
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/crossroads-learn/crossroads/content"
)

// fuzzFile names the chapter the fuzz targets render, as messages show it.
const fuzzFile = "content/lessons/99-fuzz.md"

// fuzzFrontMatter is a valid front matter for a chapter built around a block.
const fuzzFrontMatter = "---\ntitle: Fuzz\nslug: fuzz\norder: 1\nsummary: A chapter built by the fuzzer.\nminutes: 5\n---\n"

var (
	fuzzCatalogOnce sync.Once
	fuzzCatalog     *Catalog
	fuzzCatalogErr  error
)

// realCatalog is the shipped course (glossary, widgets, scenario ids), so
// blocks can name real terms, widgets and scenarios.
func realCatalog(t testing.TB) *Catalog {
	t.Helper()
	fuzzCatalogOnce.Do(func() { fuzzCatalog, fuzzCatalogErr = Load(content.FS, Options{Figures: anyFigure}) })
	if fuzzCatalogErr != nil {
		t.Fatal(fuzzCatalogErr)
	}
	return fuzzCatalog
}

var fenceRE = regexp.MustCompile("(?ms)^```(callout|analogy|lab|source|quiz)\n(.*?)^```$")

// realBlocks are the custom blocks of the shipped chapters and of the
// fixture chapters, as (kind, body) pairs.
func realBlocks(t testing.TB) (blocks [][2]string, chapters []string) {
	t.Helper()
	for _, fsys := range []fs.FS{content.FS} {
		files, err := fs.Glob(fsys, "lessons/*.md")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(f, "README.md") {
				chapters = append(chapters, string(b))
			}
			for _, m := range fenceRE.FindAllStringSubmatch(string(b), -1) {
				blocks = append(blocks, [2]string{m[1], m[2]})
			}
		}
	}
	return blocks, chapters
}

// unsafeHTML returns what in rendered lesson HTML could run script or load
// something the page did not mean to: a script, style, iframe, object or
// embed element, an on* attribute, a javascript:/vbscript:/data: URL, or an
// inline style (the CSP forbids them). "" when there is none.
func unsafeHTML(s string) string {
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return "does not parse: " + err.Error()
	}
	var bad string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if bad != "" {
			return
		}
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "style", "iframe", "object", "embed", "base", "meta", "link", "form":
				if !(n.Data == "form" && hasAttr(n, "class", "quiz-form")) {
					bad = "<" + n.Data + "> element"
					return
				}
			}
			for _, a := range n.Attr {
				key := strings.ToLower(a.Key)
				val := strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(key, "on"):
					bad = "attribute " + a.Key
				case key == "style":
					bad = "inline style"
				case (key == "href" || key == "src" || key == "action" || key == "formaction" || key == "xlink:href") &&
					(strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "vbscript:") || strings.HasPrefix(val, "data:")):
					bad = a.Key + "=" + a.Val
				}
				if bad != "" {
					return
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return bad
}

func hasAttr(n *html.Node, key, word string) bool {
	for _, a := range n.Attr {
		if a.Key == key && strings.Contains(" "+a.Val+" ", " "+word+" ") {
			return true
		}
	}
	return false
}

// FuzzChapterBlocks renders chapters holding arbitrary custom blocks
// (```callout, analogy, lab, source and quiz YAML) and arbitrary prose
// around them, with the real glossary, widgets and scenario list, and checks
// that
//   - a refused chapter gets errors that each name the file and a line, and
//     stay bounded by the input (the lint prints them all);
//   - an accepted chapter's HTML (page, quiz form and print version) holds
//     no script, style or embedded element, no on* handler, no inline style
//     and no javascript:/data: link, whatever the input asked for;
//   - the HTML stays within a fixed factor of the input (no blow-up).
//
// A kind of "" takes prose as the whole chapter file (the seeds include
// every shipped chapter).
//
//	go test ./lessons -run '^$' -fuzz '^FuzzChapterBlocks$' -fuzztime 60s -parallel 1
func FuzzChapterBlocks(f *testing.F) {
	blocks, chapters := realBlocks(f)
	for _, b := range blocks {
		f.Add(b[0], b[1], "")
	}
	for _, ch := range chapters {
		f.Add("", "", ch)
	}
	f.Add("callout", "kind: note\ntitle: <script>alert(1)</script>\nbody: \"<script>alert(1)</script> [x](javascript:alert(1))\"\n", "<script>alert(1)</script>")
	f.Add("lab", "scenario: baseline\ntext: \"[go](javascript:alert(1)) <img src=x onerror=alert(1)>\"\n", "[a](data:text/html,x)")
	f.Add("analogy", "widget: restaurant\ncaption: '{{figure \"slow-email\" \"sync\" \"latency_ms.p50\"}}'\n", "")
	f.Add("source", "file: signup.go\nfunc: \"../../etc/passwd\"\ncaption: x\n", "")
	f.Add("callout", "kind: tip\nbody: \"# heading\"\n", "")
	f.Add("callout", "kind: tip\nbody: &a [*a, *a]\n", "")
	f.Add("callout", "kind: tip\ntitle: x\ntitle: y\nbody: z\n", "")
	f.Add("quiz", "- {}\n", "")
	f.Add("lab", "text: '[glossary](/glossary#no-such-term) [out](http://example.com/\"onmouseover=\"x)'\n", "{{figure \"x\" \"y\" \"z\"}}")
	f.Add("", "", "---\ntitle: x\n---\n```callout\nkind: note\n```")
	f.Add("", "", "\xef\xbb\xbf---\r\ntitle: x\r\n---\r\n")
	cat := realCatalog(f)
	r := newRenderer(cat, Options{Figures: anyFigure, Root: "content", SourceDir: "labs"})
	f.Fuzz(func(t *testing.T, kind, body, prose string) {
		src := prose
		if kind != "" {
			if !strings.HasSuffix(body, "\n") {
				body += "\n"
			}
			src = fuzzFrontMatter + "## Section\n\n" + prose + "\n\n```" + kind + "\n" + body + "```\n"
		}
		ch, err := r.chapter(fuzzFile, []byte(src))
		if err != nil {
			msg := err.Error()
			if len(msg) > 20*len(src)+4000 {
				t.Fatalf("%d bytes of errors for a chapter of %d", len(msg), len(src))
			}
			var joined interface{ Unwrap() []error }
			errs := []error{err}
			if errors.As(err, &joined) {
				errs = joined.Unwrap()
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), fuzzFile+":") {
					t.Fatalf("error does not name the file: %q", e.Error())
				}
			}
			return
		}
		for part, h := range map[string]string{"page": string(ch.Before + ch.After), "quiz": string(ch.QuizForm), "print": string(ch.Print), "toc": string(ch.TOC)} {
			if bad := unsafeHTML(h); bad != "" {
				t.Fatalf("%s of an accepted chapter has %s:\n%s", part, bad, h)
			}
			if len(h) > 100*len(src)+100_000 {
				t.Fatalf("%s is %d bytes for a chapter of %d", part, len(h), len(src))
			}
		}
		if !bytes.Contains([]byte(ch.Before+ch.After+ch.QuizForm), []byte("<")) && strings.TrimSpace(src) != "" {
			t.Fatalf("an accepted chapter rendered no HTML at all")
		}
	})
}

// FuzzRenderText renders arbitrary scenario texts (Markdown quoting
// recorded figures) and checks that the HTML is safe as above, that an
// unknown or malformed figure is an error rather than a silent blank, and
// that the output stays within a fixed factor of the input.
//
//	go test ./lessons -run '^$' -fuzz '^FuzzRenderText$' -fuzztime 60s -parallel 1
func FuzzRenderText(f *testing.F) {
	f.Add(`The sync signup took {{figure "slow-email" "sync" "latency_ms.p50"}} at the median.`, true)
	f.Add(`{{figure "x" "y"}} and {{ figure }}`, true)
	f.Add("<script>alert(1)</script> [x](javascript:alert(1)) ![i](data:image/svg+xml,<svg onload=alert(1)>)", false)
	f.Add("`{{figure \"a\" \"b\" \"c\"}}` in code", false)
	f.Add("~~struck~~ \"quoted\" -- dashes...", false)
	f.Fuzz(func(t *testing.T, src string, withFigures bool) {
		var figs Figures
		if withFigures {
			figs = anyFigure
		}
		out, err := RenderText(src, figs, "t-")
		if err != nil {
			if len(err.Error()) > 4*len(src)+500 {
				t.Fatalf("%d bytes of errors for %d of text", len(err.Error()), len(src))
			}
			return
		}
		if bad := unsafeHTML(string(out)); bad != "" {
			t.Fatalf("rendered text has %s:\n%s", bad, out)
		}
		if len(out) > 50*len(src)+1000 {
			t.Fatalf("%d bytes of HTML for %d of text", len(out), len(src))
		}
		if !withFigures && strings.Contains(string(out), `class="figure`) {
			t.Fatalf("a figure rendered without any recorded figures: %s", out)
		}
	})
}
