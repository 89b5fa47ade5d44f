package decide

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	gmtext "github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.yaml.in/yaml/v3"
)

// Bounds of a decision log: what OpenLog reads at most. A folder beyond
// them is refused with an error that says which bound it passed, never read
// in part.
const (
	// MaxLogRecords is the most records a log holds.
	MaxLogRecords = 2_000
	// MaxLogRecordBytes bounds one record file.
	MaxLogRecordBytes = 256 << 10
	// MaxLogBytes bounds all the records of a log together.
	MaxLogBytes = 32 << 20
)

// Lengths a log entry's one-line fields are cut to.
const (
	maxLogTitle  = 300
	maxLogStatus = 300
	maxLogDate   = 40
)

// Log is a folder of decision records (adr-tools or MADR layout) read in
// full: every record's metadata, the links between records and the Markdown
// body, in number order. It is read once by OpenLog and never changes; Refresh
// reads the folder again when its records changed. A Log is safe for
// concurrent use.
type Log struct {
	dir     string
	entries []LogEntry
	byNum   map[int]int    // number -> index in entries
	byFile  map[string]int // file name and slug -> index
	stamp   uint64         // the folder's records as they were read (see scanLog)
	read    time.Time
}

// LogEntry is one record of a Log. Its slices are shared with the Log: read
// them, do not change them.
type LogEntry struct {
	Number int
	// Title is plain text: the record's first heading without its number
	// and without Markdown.
	Title string
	// Status is the lifecycle word (proposed, accepted, superseded, ...),
	// lower case; empty when the record has none.
	Status string
	// StatusLine is the status as written, in Markdown; StatusText is the
	// same as plain text ("Superseded by 3. Use events").
	StatusLine, StatusText string
	// Date is the record's date as written: MADR's front matter "date:",
	// or the "Date: 2024-01-02" line of an adr-tools record. Empty when
	// the record has none.
	Date string
	File string // base name, such as 0003-use-events.md
	// Slug is the file name without .md; it names the record in URLs.
	Slug string
	// Links to other records of the log, by number, ascending. Each link is
	// read from either end: a record that says it supersedes another shows
	// in that one's SupersededBy even when the other does not say so.
	Supersedes, SupersededBy, Amends, AmendedBy []int
	// Body is the record's Markdown, without front matter.
	Body string
	MADR bool

	plain  string // Body as plain text, for excerpts
	search string // lower-case title and body, for Search
}

// Dir is the folder the log was read from.
func (l *Log) Dir() string { return l.dir }

// Read is when the log was read.
func (l *Log) Read() time.Time { return l.read }

// Len is the number of records.
func (l *Log) Len() int { return len(l.entries) }

// Entries returns every record in number order, as a new slice.
func (l *Log) Entries() []LogEntry { return slices.Clone(l.entries) }

// Entry returns record n.
func (l *Log) Entry(n int) (LogEntry, bool) {
	i, ok := l.byNum[n]
	if !ok {
		return LogEntry{}, false
	}
	return l.entries[i], true
}

// Lookup finds a record by its file name (0003-use-events.md) or its slug
// (0003-use-events), as a record's relative links name it.
func (l *Log) Lookup(name string) (LogEntry, bool) {
	i, ok := l.byFile[name]
	if !ok {
		return LogEntry{}, false
	}
	return l.entries[i], true
}

// Neighbours returns the numbers of the records before and after record n
// in number order; zero where there is none.
func (l *Log) Neighbours(n int) (prev, next int) {
	i, ok := l.byNum[n]
	if !ok {
		return 0, 0
	}
	if i > 0 {
		prev = l.entries[i-1].Number
	}
	if i+1 < len(l.entries) {
		next = l.entries[i+1].Number
	}
	return prev, next
}

// Search returns the records whose title or body holds every word of q,
// ignoring case, in number order. A blank q matches every record.
func (l *Log) Search(q string) []LogEntry {
	words := strings.Fields(strings.ToLower(q))
	if len(words) == 0 {
		return l.Entries()
	}
	var out []LogEntry
	for _, e := range l.entries {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(e.search, w) }) {
			out = append(out, e)
		}
	}
	return out
}

// Excerpt returns about width characters of e's body as plain text around
// the first word of q it holds, with "…" where it was cut; empty when the
// body holds none of them (the title matched).
func Excerpt(e LogEntry, q string, width int) string {
	lower := strings.ToLower(e.plain)
	at, n := -1, 0
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if i := strings.Index(lower, w); i >= 0 && (at < 0 || i < at) {
			at, n = i, len(w)
		}
	}
	// strings.ToLower may change byte lengths (rare, outside ASCII); then
	// the offsets do not hold and there is no excerpt.
	if at < 0 || len(lower) != len(e.plain) {
		return ""
	}
	start := max(0, at-(width-n)/2)
	end := min(len(e.plain), start+width)
	start = max(0, min(start, end-width))
	for start > 0 && !utf8.RuneStart(e.plain[start]) {
		start--
	}
	for end < len(e.plain) && !utf8.RuneStart(e.plain[end]) {
		end++
	}
	s := strings.Join(strings.Fields(e.plain[start:end]), " ")
	if start > 0 {
		s = "…" + s
	}
	if end < len(e.plain) {
		s += "…"
	}
	return s
}

// OpenLog reads every NNNN-*.md record in dir. The folder must exist.
// Reading is bounded: at most MaxLogRecords records of MaxLogRecordBytes
// each and MaxLogBytes in all. Only regular files are read (a pipe or a
// device named like a record is refused, never opened), and a link that
// leads out of dir is refused: the log reads nothing outside its folder.
// Two records with the same number are refused too, since a number names
// one record. Refusals are ErrInvalid and name the file.
func OpenLog(ctx context.Context, dir string) (*Log, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err // a *fs.PathError: "open DIR: no such file or directory"
	}
	defer root.Close()
	files, stamp, err := scanLog(ctx, root, dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, byNum: map[int]int{}, byFile: map[string]int{}, stamp: stamp, read: time.Now()}
	total := 0
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read decision log %s: %w", dir, err)
		}
		if i, dup := l.byNum[f.number]; dup {
			return nil, invalidf("%s and %s both have number %d; renumber one of them", filepath.Join(dir, l.entries[i].File), filepath.Join(dir, f.name), f.number)
		}
		b, err := readInRoot(root, dir, f.name)
		if err != nil {
			return nil, err
		}
		if total += len(b); total > MaxLogBytes {
			return nil, invalidf("%s holds more than %d MiB of records; the decision log reads at most that", dir, MaxLogBytes>>20)
		}
		e := parseEntry(string(b), f.name)
		e.Number = f.number
		l.byNum[e.Number] = len(l.entries)
		l.byFile[e.File] = len(l.entries)
		l.byFile[e.Slug] = len(l.entries)
		l.entries = append(l.entries, e)
	}
	l.link()
	return l, nil
}

// Refresh returns l when its folder's records have not changed since it was
// read (same names, sizes and modification times), and the folder read
// again otherwise. Looking costs one listing and a stat per record.
func (l *Log) Refresh(ctx context.Context) (*Log, error) {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, err
	}
	_, stamp, err := scanLog(ctx, root, l.dir)
	root.Close()
	if err == nil && stamp == l.stamp {
		return l, nil
	}
	return OpenLog(ctx, l.dir)
}

type logFile struct {
	name   string
	number int
}

// scanLog lists the record files of root in number order, refusing what
// OpenLog refuses before anything is opened, and returns a stamp of their
// names, sizes and modification times.
func scanLog(ctx context.Context, root *os.Root, dir string) ([]logFile, uint64, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, 0, fmt.Errorf("open decision log: %w", err)
	}
	defer d.Close()
	var files []logFile
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("read decision log %s: %w", dir, err)
		}
		batch, err := d.ReadDir(256)
		for _, e := range batch {
			m := recordName.FindStringSubmatch(e.Name())
			if m == nil || e.IsDir() {
				continue
			}
			n, err := strconv.Atoi(m[1])
			if err != nil || n > MaxRecordNumber {
				return nil, 0, invalidf("%s: record numbers above %d are not supported; rename the file", filepath.Join(dir, e.Name()), MaxRecordNumber)
			}
			if len(files) == MaxLogRecords {
				return nil, 0, invalidf("%s holds more than %d records; the decision log reads at most that many", dir, MaxLogRecords)
			}
			files = append(files, logFile{name: e.Name(), number: n})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read decision log %s: %w", dir, err)
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].number != files[j].number {
			return files[i].number < files[j].number
		}
		return files[i].name < files[j].name
	})
	h := fnv.New64a()
	for _, f := range files {
		fi, err := statInRoot(root, dir, f.name)
		if err != nil {
			return nil, 0, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", f.name, fi.Size(), fi.ModTime().UnixNano())
	}
	return files, h.Sum64(), nil
}

// statInRoot follows a link only within root, and refuses anything but a
// regular file.
func statInRoot(root *os.Root, dir, name string) (fs.FileInfo, error) {
	path := filepath.Join(dir, name)
	fi, err := root.Stat(name)
	if err != nil {
		if li, lerr := root.Lstat(name); lerr == nil && li.Mode()&fs.ModeSymlink != 0 && !errors.Is(err, fs.ErrNotExist) {
			return nil, invalidf("%s is a link that leads out of the folder; the decision log reads only files inside it", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	return fi, nil
}

// readInRoot reads a record as readRegular does, within root and within
// MaxLogRecordBytes.
func readInRoot(root *os.Root, dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	if _, err := statInRoot(root, dir, name); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, tooLarge, err := readOpen(path, f, MaxLogRecordBytes)
	if tooLarge {
		return nil, invalidf("%s is larger than %d KiB; the decision log reads records up to that size", path, MaxLogRecordBytes>>10)
	}
	return b, err
}

var dateLine = regexp.MustCompile(`^\s*(?:[-*]\s+)?Date:\s*(\S.*?)\s*$`)

// parseEntry reads what a log shows of a record.
func parseEntry(text, file string) LogEntry {
	text = strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\r\n", "\n")
	r := parseRecord(text)
	e := LogEntry{File: file, Slug: strings.TrimSuffix(file, ".md"), StatusLine: r.StatusLine, MADR: r.MADR, Body: text}
	if fm, rest, ok := frontMatter(text); ok {
		e.Body = rest
		var meta map[string]any
		if yaml.Unmarshal([]byte(fm), &meta) == nil {
			switch d := meta["date"].(type) {
			case string:
				e.Date = d
			case time.Time:
				e.Date = d.Format(time.DateOnly)
			}
		}
	}
	if e.Date == "" {
		// adr-tools writes "Date: ..." under the title; old MADR a
		// "* Date: ..." list item. Either comes before the first section.
		for l := range strings.SplitSeq(e.Body, "\n") {
			if strings.HasPrefix(l, "## ") {
				break
			}
			if m := dateLine.FindStringSubmatch(l); m != nil {
				e.Date = m[1]
				break
			}
		}
	}
	e.Date = clipLine(plainInline(e.Date), maxLogDate)
	e.Title = clipLine(plainInline(r.Title), maxLogTitle)
	if e.Title == "" {
		// The file name, as adr-tools made it from the title.
		_, rest, _ := strings.Cut(e.Slug, "-")
		e.Title = clipLine(strings.ReplaceAll(rest, "-", " "), maxLogTitle)
	}
	e.StatusText = clipLine(plainInline(r.StatusLine), maxLogStatus)
	e.Status = clipLine(normaliseStatus(e.StatusText), maxLogDate)
	body := []byte(e.Body)
	e.plain = markdownText(body, parseBody(body), true)
	e.search = strings.ToLower(e.Title + "\n" + e.Body)
	return e
}

// clipLine makes s one line of at most n characters.
func clipLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// relation finds a link to another record after the words that say how
// the records relate, as adr-tools ("Superceded by [3. Title](0003-title.md)",
// "Amends [...]"), MADR and crossroads itself ("superseded by ADR-0004")
// write them.
var relation = regexp.MustCompile(`(?i)\b(supersedes|supercedes|superseded by|superceded by|amends|amended by)\s*:?\s*` +
	`(?:\[(?:[^\]\n\\]|\\.)*\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"\n]*")?\s*\)|ADR[- ]?(\d{1,7})\b)`)

// link reads the links between records from their status lines and bodies
// and records each at both ends.
func (l *Log) link() {
	type pair struct{ from, to int }
	var supersedes, amends []pair // from supersedes/amends to
	for _, e := range l.entries {
		src := e.Body
		if e.MADR {
			src = e.StatusLine + "\n" + src
		}
		for _, m := range relation.FindAllStringSubmatch(src, -1) {
			to, ok := 0, false
			if m[2] != "" {
				to, ok = l.target(m[2])
			} else if n, err := strconv.Atoi(m[3]); err == nil {
				_, ok = l.byNum[n]
				to = n
			}
			if !ok || to == e.Number {
				continue
			}
			switch strings.Join(strings.Fields(strings.ToLower(m[1])), " ") {
			case "supersedes", "supercedes":
				supersedes = append(supersedes, pair{e.Number, to})
			case "superseded by", "superceded by":
				supersedes = append(supersedes, pair{to, e.Number})
			case "amends":
				amends = append(amends, pair{e.Number, to})
			case "amended by":
				amends = append(amends, pair{to, e.Number})
			}
		}
	}
	add := func(list *[]int, n int) {
		if !slices.Contains(*list, n) {
			*list = append(*list, n)
		}
	}
	for _, p := range supersedes {
		add(&l.entries[l.byNum[p.from]].Supersedes, p.to)
		add(&l.entries[l.byNum[p.to]].SupersededBy, p.from)
	}
	for _, p := range amends {
		add(&l.entries[l.byNum[p.from]].Amends, p.to)
		add(&l.entries[l.byNum[p.to]].AmendedBy, p.from)
	}
	for i := range l.entries {
		e := &l.entries[i]
		for _, s := range []*[]int{&e.Supersedes, &e.SupersededBy, &e.Amends, &e.AmendedBy} {
			slices.Sort(*s)
		}
	}
}

// target is the number of the record a relative link leads to
// ("0004-title.md", "./0004-title.md#decision"); false for anything else,
// external links included.
func (l *Log) target(dest string) (int, bool) {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "" {
		return 0, false
	}
	dest = strings.TrimPrefix(u.Path, "./")
	if strings.Contains(dest, "/") {
		return 0, false
	}
	if i, ok := l.byFile[dest]; ok {
		return l.entries[i].Number, true
	}
	return 0, false
}

// logMarkdown renders record bodies: GitHub's tables, strikethrough, task
// lists and bare links, and no raw HTML (goldmark drops it unless told
// WithUnsafe; links to javascript: and the like are dropped too).
var logMarkdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// HTML renders e's body, without its title heading and adr-tools' date line
// (a page shows those itself), as HTML that is safe to put in a page: raw HTML in the record is
// left out. A relative link to another record of the log leads to
// href(number) instead, so links between records are followed within the
// app; other links stay as written.
func (l *Log) HTML(e LogEntry, href func(number int) string) (template.HTML, error) {
	src := []byte(e.Body)
	doc := parseBody(src)
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if link, ok := n.(*ast.Link); ok && entering {
			if num, ok := l.target(string(link.Destination)); ok {
				link.Destination = []byte(href(num))
			}
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		return "", fmt.Errorf("render %s: %w", e.File, err)
	}
	var buf bytes.Buffer
	if err := logMarkdown.Renderer().Render(&buf, src, doc); err != nil {
		return "", fmt.Errorf("render %s: %w", e.File, err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark escapes text and drops raw HTML and dangerous links
}

// parseBody parses a record's Markdown without what a page shows itself:
// the first heading when it is the title, and adr-tools' "Date: ..."
// paragraph before the first section.
func parseBody(src []byte) ast.Node {
	doc := logMarkdown.Parser().Parse(gmtext.NewReader(src))
	titled := false
	for n := doc.FirstChild(); n != nil; {
		next := n.NextSibling()
		if h, ok := n.(*ast.Heading); ok {
			if h.Level > 1 || titled {
				break
			}
			doc.RemoveChild(doc, h)
			titled = true
		} else if p, ok := n.(*ast.Paragraph); ok && p.Lines().Len() == 1 {
			seg := p.Lines().At(0)
			if dateLine.Match(bytes.TrimSpace(seg.Value(src))) {
				doc.RemoveChild(doc, p)
			}
		}
		n = next
	}
	return doc
}

// plainInline returns one line of inline Markdown as the text a reader
// sees: "Use `Redis` *streams*" is "Use Redis streams".
func plainInline(s string) string {
	if !strings.ContainsAny(s, "\\`*_[]<>&!~") {
		return strings.TrimSpace(s)
	}
	src := []byte(s)
	return strings.Join(strings.Fields(markdownText(src, logMarkdown.Parser().Parse(gmtext.NewReader(src)), false)), " ")
}

// markdownText returns parsed Markdown as plain text, a line per block; raw
// HTML is left out, and headings too when skipHeadings (an excerpt reads
// better without them).
func markdownText(src []byte, doc ast.Node, skipHeadings bool) string {
	var b strings.Builder
	inCode := 0
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		switch n := n.(type) {
		case *ast.CodeSpan:
			if entering {
				inCode++
			} else {
				inCode--
			}
		case *ast.Text:
			if !entering {
				break
			}
			v := n.Value(src)
			if inCode == 0 {
				v = util.UnescapePunctuations(util.ResolveNumericReferences(util.ResolveEntityNames(v)))
			}
			b.Write(v)
			if n.SoftLineBreak() || n.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			if entering {
				b.Write(n.Value)
			}
		case *ast.AutoLink:
			if entering {
				b.Write(n.Label(src))
			}
		case *ast.RawHTML, *ast.HTMLBlock:
			return ast.WalkSkipChildren, nil
		case *ast.Heading:
			if skipHeadings {
				return ast.WalkSkipChildren, nil
			}
		case *ast.CodeBlock, *ast.FencedCodeBlock:
			if entering {
				lines := n.Lines()
				for i := range lines.Len() {
					seg := lines.At(i)
					b.Write(seg.Value(src))
				}
			}
		}
		if !entering && n.Type() == ast.TypeBlock {
			b.WriteByte('\n')
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}
