package server

import (
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/decide"
)

// The decision log: a folder of records (Config.Decisions) shown as a list
// with search and a page per record. Only routed when a log is configured.

const (
	// maxDecisionQuery bounds a search of the decision log, in characters.
	maxDecisionQuery = 200
	// decisionsLook is how often at most the log's folder is looked at for
	// changes (a listing and a stat per record).
	decisionsLook = 2 * time.Second
	// decisionExcerpt is about how many characters of a matching record's
	// text a search shows.
	decisionExcerpt = 160
)

// decisionsWeb holds the log being shown, read again when its folder
// changes.
type decisionsWeb struct {
	text  labText
	every time.Duration // how often at most the folder is looked at

	mu     sync.Mutex
	log    *decide.Log
	looked time.Time
	stale  error // why the changed folder could not be read again
}

func newDecisionsWeb(fsys fs.FS, l *decide.Log) (*decisionsWeb, error) {
	t, err := loadPageText(fsys, "decide/log.yaml", nil)
	if err != nil {
		return nil, err
	}
	return &decisionsWeb{text: t, every: decisionsLook, log: l, looked: time.Now()}, nil
}

// current returns the log, read again first when the folder changed since
// it was last looked at. When the changed folder cannot be read (a record
// grew past the bounds, a link leads out of it), the log read before is
// kept and the error says why.
func (d *decisionsWeb) current(ctx context.Context, s *Server) (*decide.Log, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.looked) < d.every {
		return d.log, d.stale
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fresh, err := d.log.Refresh(ctx)
	d.looked = time.Now()
	switch {
	case err != nil:
		if d.stale == nil || d.stale.Error() != err.Error() {
			s.log.Warn("decision log: the folder changed but cannot be read again; showing it as it was", "dir", d.log.Dir(), "err", err)
		}
		d.stale = err
	case fresh != d.log:
		s.log.Info("decision log read again", "dir", fresh.Dir(), "records", fresh.Len())
		d.log, d.stale = fresh, nil
	default:
		d.stale = nil
	}
	return d.log, d.stale
}

// say returns the words under key with placeholders filled in; values are
// escaped.
func (d *decisionsWeb) say(key string, kv ...string) template.HTML {
	s := string(d.text.Get(key))
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", template.HTMLEscapeString(kv[i+1]))
	}
	return template.HTML(s) //nolint:gosec // words from content, values escaped
}

// plain is say as text, for error pages that escape their message.
func (d *decisionsWeb) plain(key string, kv ...string) string {
	s := string(d.text.Get(key))
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", kv[i+1])
	}
	return s
}

func (s *Server) decisionRoutes(r *gin.Engine) {
	if s.decisions == nil {
		return // no log: the addresses are unknown (404) and no link shows
	}
	r.GET("/decisions", s.decisionList)
	r.GET("/decisions/:n", s.decisionPage)
}

func decisionHref(n int) string { return "/decisions/" + strconv.Itoa(n) }

// decisionRef names another record: its number, title and address.
type decisionRef struct {
	Number int
	Title  string
	Href   string
}

func refsOf(l *decide.Log, ns []int) []decisionRef {
	var out []decisionRef
	for _, n := range ns {
		if e, ok := l.Entry(n); ok {
			out = append(out, decisionRef{Number: n, Title: e.Title, Href: decisionHref(n)})
		}
	}
	return out
}

// knownStatuses have a badge of their own; any other status shows as
// written.
var knownStatuses = map[string]bool{"proposed": true, "accepted": true, "rejected": true, "deprecated": true, "superseded": true}

// decisionStatus is a record's status as its badge shows it: a class for
// the colour and mark, and always the word.
type decisionStatus struct {
	Class string
	Label string
}

func (d *decisionsWeb) status(e decide.LogEntry) decisionStatus {
	switch {
	case e.Status == "":
		return decisionStatus{Class: "status-none", Label: string(d.text.Get("no_status"))}
	case knownStatuses[e.Status]:
		return decisionStatus{Class: "status-" + e.Status, Label: strings.ToUpper(e.Status[:1]) + e.Status[1:]}
	}
	return decisionStatus{Class: "status-other", Label: e.Status}
}

type decisionRow struct {
	Number       int
	Title        string
	Href         string
	Status       decisionStatus
	StatusText   string
	Date         string
	SupersededBy []decisionRef
	// Excerpt is where the record's text matches the search, the words
	// searched for marked.
	Excerpt template.HTML
}

type decisionListView struct {
	T       labText
	Dir     string
	Lede    template.HTML
	Empty   template.HTML
	Query   string
	Count   template.HTML
	NoMatch template.HTML
	Rows    []decisionRow
	Total   int
	Stale   template.HTML
	MaxQ    int
}

func (s *Server) decisionList(c *gin.Context) {
	d := s.decisions
	q := c.Query("q")
	if n := utf8.RuneCountInString(q); n > maxDecisionQuery {
		s.failWith(c, http.StatusBadRequest, "q", d.plain("long_query", "max", strconv.Itoa(maxDecisionQuery), "n", strconv.Itoa(n)))
		return
	}
	q = strings.TrimSpace(q)
	l, stale := d.current(c.Request.Context(), s)
	dir := shownDir(l.Dir())
	v := decisionListView{
		T: d.text, Dir: dir, Query: q, Total: l.Len(), MaxQ: maxDecisionQuery,
		Lede:  d.say("lede", "dir", dir),
		Empty: d.say("empty", "dir", dir),
		Stale: d.staleNote(l, stale),
	}
	matches := l.Search(q)
	for _, e := range matches {
		row := decisionRow{
			Number: e.Number, Title: e.Title, Href: decisionHref(e.Number), Status: d.status(e),
			StatusText: e.StatusText, Date: e.Date, SupersededBy: refsOf(l, e.SupersededBy),
		}
		if q != "" {
			row.Excerpt = markWords(decide.Excerpt(e, q, decisionExcerpt), q)
		}
		v.Rows = append(v.Rows, row)
	}
	n := strconv.Itoa(len(matches))
	switch {
	case q == "" && len(matches) == 1:
		v.Count = d.say("count_all_one")
	case q == "":
		v.Count = d.say("count_all", "n", n)
	case len(matches) == 0:
		v.NoMatch = d.say("no_match", "q", q)
	case len(matches) == 1:
		v.Count = d.say("count_match_one", "q", q)
	default:
		v.Count = d.say("count_match", "n", n, "q", q)
	}
	s.render(c, http.StatusOK, "decisions", view{Title: string(d.text.Get("title")), Section: "decisions", Data: v})
}

// shownDir is the folder as the page names it: as it was given, or only
// its last part when it was given as an absolute path, which says more
// about the server's disk than a visitor needs.
func shownDir(dir string) string {
	if filepath.IsAbs(dir) {
		return filepath.Base(dir)
	}
	return filepath.ToSlash(filepath.Clean(dir))
}

func (d *decisionsWeb) staleNote(l *decide.Log, err error) template.HTML {
	if err == nil {
		return ""
	}
	msg := strings.TrimPrefix(err.Error(), decide.ErrInvalid.Error()+": ")
	if dir := l.Dir(); filepath.IsAbs(dir) {
		msg = strings.ReplaceAll(msg, dir, shownDir(dir))
	}
	return d.say("stale", "time", l.Read().Format("15:04:05"), "err", msg)
}

type decisionView struct {
	T      labText
	E      decide.LogEntry
	Kicker template.HTML
	Status decisionStatus
	Body   template.HTML
	// StatusLine is the status as written, when the page shows it: a
	// MADR record's front matter is no part of the body, and says more
	// than the badge.
	StatusLine   string
	Supersedes   []decisionRef
	SupersededBy []decisionRef
	Amends       []decisionRef
	AmendedBy    []decisionRef
	Prev, Next   *decisionRef
	Stale        template.HTML
}

// recordFile is a record's file name or slug, as a relative link in a
// record names it: /decisions/0003-use-events.md leads to /decisions/3.
var recordFile = regexp.MustCompile(`^\d+-`)

func (s *Server) decisionPage(c *gin.Context) {
	d := s.decisions
	l, stale := d.current(c.Request.Context(), s)
	raw := c.Param("n")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || len(raw) > 7 || strings.ContainsAny(raw, "+-") {
		if e, ok := l.Lookup(raw); ok {
			c.Redirect(http.StatusFound, decisionHref(e.Number))
			return
		}
		if recordFile.MatchString(raw) {
			s.errorPage(c, http.StatusNotFound, d.plain("not_found", "n", raw))
			return
		}
		s.failWith(c, http.StatusBadRequest, "number", d.plain("bad_number", "value", clipValue(raw)))
		return
	}
	e, ok := l.Entry(n)
	if !ok {
		s.errorPage(c, http.StatusNotFound, d.plain("not_found", "n", strconv.Itoa(n)))
		return
	}
	body, err := l.HTML(e, decisionHref)
	if err != nil {
		s.log.Error("decision log: render record", "file", e.File, "err", err)
		s.errorPage(c, http.StatusInternalServerError, "This record could not be shown.")
		return
	}
	v := decisionView{
		T: d.text, E: e, Body: body, Status: d.status(e),
		Kicker:     d.say("record_kicker", "n", strconv.Itoa(e.Number)),
		Supersedes: refsOf(l, e.Supersedes), SupersededBy: refsOf(l, e.SupersededBy),
		Amends: refsOf(l, e.Amends), AmendedBy: refsOf(l, e.AmendedBy),
		Stale: d.staleNote(l, stale),
	}
	if e.MADR && len(e.SupersededBy) == 0 && !strings.EqualFold(e.StatusText, e.Status) {
		v.StatusLine = e.StatusText
	}
	prev, next := l.Neighbours(n)
	if r := refsOf(l, []int{prev}); len(r) == 1 {
		v.Prev = &r[0]
	}
	if r := refsOf(l, []int{next}); len(r) == 1 {
		v.Next = &r[0]
	}
	title := strconv.Itoa(e.Number) + ". " + e.Title
	s.render(c, http.StatusOK, "decision", view{Title: title, Section: "decisions", Data: v})
}

// clipValue shortens what a visitor typed before an error message quotes it.
func clipValue(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:39]) + "…"
}

// markWords escapes s and marks every place it holds one of the words of q
// (case aside), as a search result shows what it found.
func markWords(s, q string) template.HTML {
	lower := strings.ToLower(s)
	words := strings.Fields(strings.ToLower(q))
	if len(words) == 0 || len(lower) != len(s) { // see decide.Excerpt
		return template.HTML(template.HTMLEscapeString(s))
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		n := 0
		for _, w := range words {
			if strings.HasPrefix(lower[i:], w) {
				n = max(n, len(w))
			}
		}
		if n == 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(template.HTMLEscapeString(s[i : i+size]))
			i += size
			continue
		}
		b.WriteString("<mark>" + template.HTMLEscapeString(s[i:i+n]) + "</mark>")
		i += n
	}
	return template.HTML(b.String())
}
