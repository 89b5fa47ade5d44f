package decide

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// DefaultDir is where records go unless told otherwise (MADR's convention).
const DefaultDir = "docs/decisions"

// ErrInvalid marks a mistake by the caller (unknown record, status change
// the lifecycle does not allow) as opposed to a failing file system.
var ErrInvalid = errors.New("invalid request")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Record is one decision record found in a folder.
type Record struct {
	Number int
	File   string // base name, such as 0003-checkout-communication.md
	Title  string // Markdown, as written in the file's first heading
	Status string // normalised first word: proposed, accepted, superseded, ...
	// StatusLine is the status as written ("Superseded by [ADR-0004](...)").
	StatusLine string
	// MADR is true when the status lives in YAML front matter; otherwise it
	// is a Nygard/adr-tools "## Status" section.
	MADR bool
}

var recordName = regexp.MustCompile(`^(\d+)-.*\.md$`)

// Slug turns a title into a file-name part the way adr-tools does: lower
// case, runs of anything but letters and digits become one dash.
func Slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "-")
	}
	if s == "" {
		s = "decision"
	}
	return s
}

// Limits on what a folder of records may hold.
const (
	// MaxRecordNumber is the highest record number read or written; a
	// file numbered beyond it is refused, so the next number never
	// overflows.
	MaxRecordNumber = 999_999
	// maxRecordBytes bounds one record file (or the index) read into memory.
	maxRecordBytes = 1 << 20
)

// ListRecords reads every NNNN-*.md record in dir, in number order. A
// missing folder has no records. A file named like a record that is not a
// regular file (a named pipe, a device) or whose number is beyond
// MaxRecordNumber is refused with an error naming it (ErrInvalid): it is
// never opened, so a pipe cannot block the command. It stops when ctx is
// done.
func ListRecords(ctx context.Context, dir string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records in %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list records in %s: %w", dir, err)
	}
	var out []Record
	for _, e := range entries {
		m := recordName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("list records in %s: %w", dir, err)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > MaxRecordNumber {
			return nil, invalidf("%s: record numbers above %d are not supported; rename the file", filepath.Join(dir, e.Name()), MaxRecordNumber)
		}
		b, err := readRegular(filepath.Join(dir, e.Name()), e)
		if err != nil {
			return nil, err
		}
		r := parseRecord(string(b))
		r.Number, r.File = n, e.Name()
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// readRegular reads path only if it is a regular file (or a link to one) of
// at most maxRecordBytes. e, when known, saves a stat: its type comes from
// the folder listing. The file is opened non-blocking and checked again
// once open, so a pipe swapped in meanwhile cannot block the read either.
func readRegular(path string, e fs.DirEntry) ([]byte, error) {
	var mode fs.FileMode
	if e != nil && e.Type()&fs.ModeSymlink == 0 {
		mode = e.Type()
	} else {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		mode = fi.Mode()
	}
	if !mode.IsRegular() {
		return nil, notRegular(path, mode)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, tooLarge, err := readOpen(path, f, maxRecordBytes)
	if tooLarge {
		return nil, invalidf("%s is larger than %d bytes; a decision record is far smaller", path, maxRecordBytes)
	}
	return b, err
}

// readOpen reads f, opened at path, if it is (still) a regular file, up to
// limit bytes; a longer file is reported as tooLarge, unread.
func readOpen(path string, f *os.File, limit int) (b []byte, tooLarge bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, notRegular(path, fi.Mode())
	}
	b, err = io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > limit {
		return nil, true, nil
	}
	return b, false, nil
}

func notRegular(path string, mode fs.FileMode) error {
	kind := "not a regular file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe, not a file"
	case mode&fs.ModeSocket != 0:
		kind = "a socket, not a file"
	case mode&fs.ModeDevice != 0:
		kind = "a device, not a file"
	}
	return invalidf("%s is %s; move it out of the records folder", path, kind)
}

var numberedTitle = regexp.MustCompile(`^\d+\.\s+`)

// parseRecord reads the title and status of an adr-tools (Nygard) or MADR
// record.
func parseRecord(text string) Record {
	var r Record
	text = strings.ReplaceAll(text, "\r\n", "\n")
	body := text
	if fm, rest, ok := frontMatter(text); ok {
		body = rest
		var meta map[string]any
		if yaml.Unmarshal([]byte(fm), &meta) == nil {
			if s, ok := meta["status"].(string); ok {
				r.MADR = true
				r.StatusLine = s
			}
		}
	}
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if r.Title == "" && strings.HasPrefix(l, "# ") {
			r.Title = numberedTitle.ReplaceAllString(strings.TrimSpace(l[2:]), "")
		}
		if !r.MADR && r.StatusLine == "" && strings.TrimSpace(l) == "## Status" {
			for _, s := range lines[i+1:] {
				if strings.HasPrefix(s, "#") {
					break
				}
				if strings.TrimSpace(s) != "" {
					r.StatusLine = strings.TrimSpace(s)
					break
				}
			}
		}
	}
	r.Status = normaliseStatus(r.StatusLine)
	return r
}

// frontMatter splits "---\n...\n---\n" off the top of text.
func frontMatter(text string) (fm, rest string, ok bool) {
	if !strings.HasPrefix(text, "---\n") {
		return "", text, false
	}
	end := strings.Index(text[4:], "\n---\n")
	if end < 0 {
		return "", text, false
	}
	return text[4 : 4+end+1], text[4+end+5:], true
}

// normaliseStatus reduces a status line to its lifecycle word, reading
// adr-tools' historical "Superceded" as superseded.
func normaliseStatus(line string) string {
	f := strings.Fields(strings.ToLower(line))
	if len(f) == 0 {
		return ""
	}
	w := strings.Trim(f[0], ".,:")
	if w == "superceded" {
		w = "superseded"
	}
	return w
}

// NextNumber is one more than the highest record number in dir.
func NextNumber(ctx context.Context, dir string) (int, error) {
	recs, err := ListRecords(ctx, dir)
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 1, nil
	}
	last := recs[len(recs)-1]
	if last.Number >= MaxRecordNumber {
		return 0, invalidf("%s already has the highest record number %d; a new record cannot be numbered after it", filepath.Join(dir, last.File), MaxRecordNumber)
	}
	return last.Number + 1, nil
}

// WriteRecord renders a into dir as NNNN-slug.md, numbered after the highest
// existing record, creates the folder when needed and regenerates the index.
// It never overwrites a file.
func (t *Text) WriteRecord(ctx context.Context, dir string, a Answers, format string) (Record, error) {
	if format == FormatJSON {
		return Record{}, invalidf("format json cannot be written as a record; use madr, nygard or minimal")
	}
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("write record in %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Record{}, fmt.Errorf("create %s: %w", dir, err)
	}
	for range 5 { // another writer may take the number between list and create
		n, err := NextNumber(ctx, dir)
		if err != nil {
			return Record{}, err
		}
		text, err := t.Render(a, Options{Format: format, Number: n})
		if err != nil {
			return Record{}, invalidf("%v", err)
		}
		name := fmt.Sprintf("%04d-%s.md", n, Slug(a.Title))
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("create record: %w", err)
		}
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return Record{}, fmt.Errorf("write %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return Record{}, fmt.Errorf("write %s: %w", name, err)
		}
		r := parseRecord(text)
		r.Number, r.File = n, name
		return r, t.WriteIndex(ctx, dir)
	}
	return Record{}, fmt.Errorf("write record in %s: numbers kept being taken", dir)
}

// transitions is the record lifecycle: which status may follow which.
// superseded is reached only through Supersede, which links two records.
var transitions = map[string][]string{
	"proposed":   {"accepted", "rejected"},
	"accepted":   {"deprecated"},
	"rejected":   {"proposed"},
	"deprecated": {},
	"superseded": {},
}

// CheckTransition says whether a record may move from one status to another.
func CheckTransition(from, to string) error {
	if !slices.Contains(Statuses, to) {
		return invalidf("status %q: must be %s", to, orList(Statuses))
	}
	if to == "superseded" {
		return invalidf("a record becomes superseded only by naming its successor: crossroads decide supersede OLD NEW")
	}
	next, known := transitions[from]
	if known && !slices.Contains(next, to) {
		if len(next) == 0 {
			return invalidf("a %s record is final; write a new record instead", from)
		}
		return invalidf("a %s record can become %s, not %s", from, orList(next), to)
	}
	return nil
}

func findRecord(ctx context.Context, dir string, n int) (Record, error) {
	recs, err := ListRecords(ctx, dir)
	if err != nil {
		return Record{}, err
	}
	for _, r := range recs {
		if r.Number == n {
			return r, nil
		}
	}
	return Record{}, invalidf("no record number %d in %s", n, dir)
}

// SetStatus moves record n in dir to status, following the lifecycle, and
// regenerates the index.
func (t *Text) SetStatus(ctx context.Context, dir string, n int, status string) (Record, error) {
	r, err := findRecord(ctx, dir, n)
	if err != nil {
		return Record{}, err
	}
	if err := CheckTransition(r.Status, status); err != nil {
		return Record{}, fmt.Errorf("record %d: %w", n, err)
	}
	if err := rewriteStatus(dir, r, status, ""); err != nil {
		return Record{}, err
	}
	r.Status, r.StatusLine = status, status
	return r, t.WriteIndex(ctx, dir)
}

// Supersede marks record old as superseded by record new, writing a link
// into both, and regenerates the index. It reads records written by
// adr-tools as well as MADR ones.
func (t *Text) Supersede(ctx context.Context, dir string, oldN, newN int) error {
	if oldN == newN {
		return invalidf("a record cannot supersede itself")
	}
	old, err := findRecord(ctx, dir, oldN)
	if err != nil {
		return err
	}
	nw, err := findRecord(ctx, dir, newN)
	if err != nil {
		return err
	}
	if old.Status == "superseded" {
		return invalidf("record %d is already superseded (%s)", oldN, old.StatusLine)
	}
	ref := func(r Record) string { return fmt.Sprintf("[ADR-%04d](%s)", r.Number, r.File) }
	if err := rewriteStatus(dir, old, fmt.Sprintf("superseded by ADR-%04d", nw.Number), t.label("superseded_by")+" "+ref(nw)); err != nil {
		return err
	}
	if err := addLink(dir, nw, t.label("supersedes")+" "+ref(old)); err != nil {
		return err
	}
	return t.WriteIndex(ctx, dir)
}

// rewriteStatus replaces a record's status: the front matter line of a MADR
// record, or the first line of a Nygard "## Status" section. link, when set,
// is a sentence naming a related record; MADR records get it under the title.
func rewriteStatus(dir string, r Record, status, link string) error {
	path := filepath.Join(dir, r.File)
	b, err := readRegular(path, nil)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	if r.MADR {
		fm, rest, _ := frontMatter(text)
		lines := strings.Split(fm, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "status:") {
				lines[i] = "status: " + yamlValue(status)
				break
			}
		}
		text = "---\n" + strings.Join(lines, "\n") + "---\n" + rest
		if link != "" {
			text = insertAfterTitle(text, link+".")
		}
	} else {
		line := capitalize(status)
		if link != "" {
			line = link
		}
		text, err = replaceStatusSection(text, line)
		if err != nil {
			return fmt.Errorf("%s: %w", r.File, err)
		}
	}
	return writeAtomic(path, text)
}

func replaceStatusSection(text, line string) (string, error) {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "## Status" {
			continue
		}
		for k := i + 1; k < len(lines) && !strings.HasPrefix(lines[k], "#"); k++ {
			if strings.TrimSpace(lines[k]) != "" {
				lines[k] = line
				return strings.Join(lines, "\n"), nil
			}
		}
		lines = slices.Insert(lines, i+1, "", line)
		return strings.Join(lines, "\n"), nil
	}
	return "", invalidf("has neither front matter status nor a ## Status section")
}

// addLink records that r supersedes another record: in the Status section
// of a Nygard record (as adr-tools does), under the title of a MADR one.
func addLink(dir string, r Record, link string) error {
	path := filepath.Join(dir, r.File)
	b, err := readRegular(path, nil)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	if r.MADR {
		text = insertAfterTitle(text, link+".")
	} else {
		lines := strings.Split(text, "\n")
		done := false
		for i, l := range lines {
			if strings.TrimSpace(l) == "## Status" {
				k := i + 1
				for k < len(lines) && !strings.HasPrefix(lines[k], "#") {
					k++
				}
				// Insert before the next heading, keeping one blank line.
				for k > i+1 && strings.TrimSpace(lines[k-1]) == "" {
					k--
				}
				lines = slices.Insert(lines, k, "", link)
				done = true
				break
			}
		}
		if !done {
			return fmt.Errorf("%s: %w", r.File, invalidf("has no ## Status section"))
		}
		text = strings.Join(lines, "\n")
	}
	return writeAtomic(path, text)
}

func insertAfterTitle(text, para string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "# ") {
			lines = slices.Insert(lines, i+1, "", para)
			return strings.Join(lines, "\n")
		}
	}
	return text + "\n" + para + "\n"
}

// writeAtomic replaces path so a crash never leaves half a record.
func writeAtomic(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".crossroads-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

const (
	indexStart = "<!-- crossroads:index -->"
	indexEnd   = "<!-- /crossroads:index -->"
)

var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// WriteIndex regenerates the table of records in dir/README.md. Only the
// part between the crossroads markers is replaced; a README without them
// gets the table appended, so nothing a team wrote is lost.
func (t *Text) WriteIndex(ctx context.Context, dir string) error {
	recs, err := ListRecords(ctx, dir)
	if err != nil {
		return err
	}
	ix := t.record.Index
	var b strings.Builder
	b.WriteString(indexStart + "\n")
	fmt.Fprintf(&b, "| %s | %s | %s |\n|---|---|---|\n", ix["number"], ix["title_column"], ix["status"])
	for _, r := range recs {
		title := unescapedPipe.ReplaceAllString(r.Title, `$1\|`)
		title = unescapedPipe.ReplaceAllString(title, `$1\|`) // adjacent pipes
		status := EscapeInline(r.StatusLine)
		if !r.MADR {
			status = unescapedPipe.ReplaceAllString(r.StatusLine, `$1\|`)
		}
		fmt.Fprintf(&b, "| [%04d](%s) | %s | %s |\n", r.Number, r.File, title, status)
	}
	b.WriteString(indexEnd + "\n")
	block := b.String()

	path := filepath.Join(dir, "README.md")
	old, err := readRegular(path, nil)
	var text string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		text = "# " + ix["title"] + "\n\n" + strings.TrimSpace(ix["intro"]) + "\n\n" + block
	case err != nil:
		return fmt.Errorf("read index: %w", err)
	default:
		s := string(old)
		i, j := strings.Index(s, indexStart), strings.Index(s, indexEnd)
		if i >= 0 && j > i {
			text = s[:i] + block + strings.TrimPrefix(s[j+len(indexEnd):], "\n")
		} else {
			text = strings.TrimRight(s, "\n") + "\n\n" + block
		}
	}
	return writeAtomic(path, text)
}
