package server

import (
	"context"
	"errors"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// The dead-letter panel of the lab page, its JSON and replays, and the
// record page of one signup that each dead letter links to.

const (
	// deadPageSize is how many dead letters the panel lists at once.
	deadPageSize = 20
	// deadReplayMax bounds one "replay this kind" press, as ReplayAll is
	// bounded.
	deadReplayMax = 1000
)

// deadCodes are the reasons a message is dead-lettered, in the order the
// panel lists them: failures a replay can fix first, poison last.
var deadCodes = []string{"gave_up", "too_old", "rejected", "crashed", "poison"}

var (
	deadIDPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)
	userIDPattern = regexp.MustCompile(`^u_[0-9a-f]{16}$`)
)

// deadLetterRow is one dead letter as the panel lists it.
type deadLetterRow struct {
	labs.DeadLetter
	// When is the clock time it was dead-lettered (UTC), Ago how long ago.
	When string `json:"when"`
	Ago  string `json:"ago"`
	// FirstFailed says how long before that its first try failed ("" for
	// poison, parked at first sight).
	FirstFailed string `json:"first_failed_before,omitempty"`
	// Kind is the code in words ("gave up after its tries").
	Kind string `json:"kind"`
	// SignupURL is the record page of its signup ("" for poison).
	SignupURL string `json:"signup_url,omitempty"`
}

func deadRows(dl []labs.DeadLetter, t labText, base string, now time.Time) []deadLetterRow {
	out := make([]deadLetterRow, 0, len(dl))
	for _, d := range dl {
		r := deadLetterRow{DeadLetter: d, When: d.At.UTC().Format("15:04:05"), Ago: agoWords(now.Sub(d.At)), Kind: plainText(deadKindWords(t, d.Code))}
		if !d.FirstFailure.IsZero() && d.At.After(d.FirstFailure) {
			r.FirstFailed = spanWords(d.At.Sub(d.FirstFailure))
		}
		if d.UserID != "" && userIDPattern.MatchString(d.UserID) {
			r.SignupURL = base + "/signups/" + d.UserID
		}
		out = append(out, r)
	}
	return out
}

// deadKindWords names a reason code; an unknown code shows as itself.
func deadKindWords(t labText, code string) template.HTML {
	if v, ok := t["dead_code_"+code]; ok {
		return v
	}
	return template.HTML(template.HTMLEscapeString(code))
}

// deadKind is one group and reason with its count: a filter of the panel.
type deadKind struct {
	Group, Code string
	Count       int64
	Words       template.HTML // "gave up after its tries"
	URL         string        // the panel filtered to it
	Current     bool
}

// deadView is what the panel shows: a filter and where the page starts.
type deadView struct {
	Code, Group, Before string
}

// values are the view as the lab page's query parameters.
func (v deadView) values() url.Values {
	q := url.Values{}
	if v.Code != "" {
		q.Set("dead_code", v.Code)
	}
	if v.Group != "" {
		q.Set("dead_group", v.Group)
	}
	if v.Before != "" {
		q.Set("dead_before", v.Before)
	}
	return q
}

// deadURL is the lab page's address showing the panel with q.
func deadURL(base string, q url.Values) string {
	if len(q) == 0 {
		return base + "#dead-letters"
	}
	return base + "?" + q.Encode() + "#dead-letters"
}

// deadPanel is what the lab page's dead-letter panel shows.
type deadPanel struct {
	Rows  []deadLetterRow
	Kinds []deadKind
	// Total counts every dead letter; Matching those the view picks.
	Total, Matching int64
	View            deadView
	// Filtered is whether the view picks one group or reason.
	Filtered bool
	// FilterWords names the filter ("email · gave up after its tries") and
	// Why explains its reason.
	FilterWords template.HTML
	Why         template.HTML
	// From and To number the rows shown from the newest (1-based); From is
	// 0 when the position is not known.
	From, To int
	// Paging links ("" when there is no such page).
	NewestURL, NewerURL, OlderURL, AllURL string
	// Query is the view as query parameters, for the page script.
	Query string
	// Error says why the view asked for could not be shown.
	Error string
	// Note is what the last replay or poison did.
	Note template.HTML
	// Failed is set when the dead letters could not be read at all.
	Failed bool
}

// Of is how many dead letters the view picks in all: the count, or more
// when the list already shows more (the count lags a moment behind).
func (p deadPanel) Of() int64 { return max(p.Matching, int64(max(p.To, len(p.Rows)))) }

// FirstPage is whether the panel shows the newest dead letters.
func (p deadPanel) FirstPage() bool { return p.View.Before == "" }

// Hidden are the view's fields for the panel's forms, so a replay comes
// back to the same list.
func (p deadPanel) Hidden() map[string]string {
	out := map[string]string{}
	for k, v := range p.View.values() {
		out[k] = v[0]
	}
	return out
}

// parseDeadView reads a view from q under prefix ("dead_" on the lab page,
// "" for the JSON list), naming the first bad field.
func parseDeadView(q url.Values, prefix string) (deadView, string, string) {
	v := deadView{
		Code:   strings.TrimSpace(q.Get(prefix + "code")),
		Group:  strings.TrimSpace(q.Get(prefix + "group")),
		Before: strings.TrimSpace(q.Get(prefix + "before")),
	}
	if v.Code != "" && !slices.Contains(deadCodes, v.Code) {
		return deadView{}, "code", "Reason: " + strconv.Quote(v.Code) + " is not one of " + strings.Join(deadCodes, ", ")
	}
	if v.Group != "" && !slices.Contains(labs.Groups, v.Group) {
		return deadView{}, "group", "Group: " + strconv.Quote(v.Group) + " is not one of " + strings.Join(labs.Groups, ", ")
	}
	if v.Before != "" && !validDeadID(v.Before) {
		return deadView{}, "before", "Before: " + strconv.Quote(v.Before) + " is not a dead letter id like 1700000000000-0"
	}
	return v, "", ""
}

// deadPanel reads the dead-letter panel of the lab page. Its query
// parameters (dead_code, dead_group, dead_before) pick the list; bad ones
// show the newest page with a word of error, never a failed page.
func (s *Server) deadPanel(ctx context.Context, l *labs.Lab, c *gin.Context) deadPanel {
	var q url.Values
	if c != nil && c.Request != nil {
		q = c.Request.URL.Query()
	}
	v, _, bad := parseDeadView(q, "dead_")
	p := s.readDeadPanel(ctx, l, v)
	if bad != "" {
		p.Error = bad
	}
	p.Note = deadNote(s.lab.text, q)
	return p
}

func (s *Server) readDeadPanel(ctx context.Context, l *labs.Lab, v deadView) deadPanel {
	t, base := s.lab.text, labURL(l, "")
	p := deadPanel{View: v, Filtered: v.Code != "" || v.Group != "", AllURL: deadURL(base, nil)}
	p.Query = v.values().Encode()
	counts, err := l.DeadCounts(ctx)
	if err != nil {
		s.log.Warn("count dead letters", "err", err)
	}
	p.Kinds, p.Total, p.Matching = deadKinds(t, base, counts, v)
	// One more than a page tells whether an older page has anything in it.
	rows, next, err := l.DeadLetterPage(ctx, labs.DeadQuery{Limit: deadPageSize + 1, Before: v.Before, Code: v.Code, Group: v.Group})
	if err != nil {
		s.log.Warn("list dead letters", "err", err)
		p.Failed = true
		return p
	}
	if len(rows) > deadPageSize {
		rows = rows[:deadPageSize]
		next = rows[deadPageSize-1].ID
	}
	p.Rows = deadRows(rows, t, base, time.Now())
	switch {
	case v.Group != "" && v.Code != "":
		p.FilterWords = template.HTML(template.HTMLEscapeString(v.Group)+" · ") + deadKindWords(t, v.Code)
	case v.Group != "":
		p.FilterWords = template.HTML(template.HTMLEscapeString(v.Group))
	case v.Code != "":
		p.FilterWords = deadKindWords(t, v.Code)
	}
	if v.Code != "" {
		p.Why = t.Get("dead_why_" + v.Code)
	}
	if next != "" {
		older := v
		older.Before = next
		p.OlderURL = deadURL(base, older.values())
	}
	if v.Before == "" {
		if len(p.Rows) > 0 {
			p.From, p.To = 1, len(p.Rows)
		}
		return p
	}
	newest := v
	newest.Before = ""
	p.NewestURL = deadURL(base, newest.values())
	// Find where this page starts from the newest, and the page before it.
	top, more, err := l.DeadLetterPage(ctx, labs.DeadQuery{Limit: deadReplayMax, Code: v.Code, Group: v.Group})
	if err != nil {
		return p
	}
	k := slices.IndexFunc(top, func(d labs.DeadLetter) bool { return compareIDs(d.ID, v.Before) < 0 })
	if k < 0 {
		if more != "" {
			return p // too far down to count
		}
		k = len(top)
	}
	if len(p.Rows) > 0 {
		p.From, p.To = k+1, k+len(p.Rows)
	}
	if start := k - deadPageSize; start > 0 {
		newer := v
		newer.Before = top[start-1].ID
		p.NewerURL = deadURL(base, newer.values())
	} else {
		p.NewerURL = p.NewestURL
	}
	return p
}

// deadKinds lists the groups and reasons with dead letters, with the totals.
func deadKinds(t labText, base string, counts map[string]int64, v deadView) ([]deadKind, int64, int64) {
	var kinds []deadKind
	var total, matching int64
	seen := map[string]bool{}
	add := func(group, code string) {
		n := counts[group+":"+code]
		seen[group+":"+code] = true
		if n <= 0 {
			return
		}
		total += n
		if (v.Group == "" || v.Group == group) && (v.Code == "" || v.Code == code) {
			matching += n
		}
		kv := deadView{Group: group, Code: code}
		kinds = append(kinds, deadKind{Group: group, Code: code, Count: n, Words: deadKindWords(t, code),
			URL: deadURL(base, kv.values()), Current: v.Group == group && v.Code == code})
	}
	for _, g := range labs.Groups {
		for _, code := range deadCodes {
			add(g, code)
		}
	}
	// Kinds this server does not know yet still count.
	var rest []string
	for k := range counts {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		g, code, _ := strings.Cut(k, ":")
		add(g, code)
	}
	return kinds, total, matching
}

// compareIDs orders two stream ids ("ms-seq").
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		if an < bn {
			return -1
		}
		return 1
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case asq < bsq:
		return -1
	case asq > bsq:
		return 1
	}
	return 0
}

// labDeadLetters lists dead letters as JSON for scripts (limit, before,
// code, group); a browser is sent to the lab page's panel showing the same.
func (s *Server) labDeadLetters(c *gin.Context) {
	l := labOf(c)
	q := c.Request.URL.Query()
	limit := 50
	if raw := strings.TrimSpace(q.Get("limit")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			s.labFail(c, http.StatusBadRequest, "limit", "Limit: "+strconv.Quote(raw)+" is not a whole number between 1 and 1000")
			return
		}
		limit = n
	}
	v, field, bad := parseDeadView(q, "")
	if bad != "" {
		s.labFail(c, http.StatusBadRequest, field, bad)
		return
	}
	if !wantsJSON(c) {
		c.Redirect(http.StatusSeeOther, deadURL(labURL(l, ""), v.values()))
		return
	}
	ctx := c.Request.Context()
	dl, next, err := l.DeadLetterPage(ctx, labs.DeadQuery{Limit: limit, Before: v.Before, Code: v.Code, Group: v.Group})
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	counts, err := l.DeadCounts(ctx)
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	kinds, total, matching := deadKinds(s.lab.text, labURL(l, ""), counts, v)
	type kindJSON struct {
		Group string `json:"group"`
		Code  string `json:"code"`
		Words string `json:"words"`
		Count int64  `json:"count"`
	}
	kj := make([]kindJSON, 0, len(kinds))
	for _, k := range kinds {
		kj = append(kj, kindJSON{k.Group, k.Code, plainText(k.Words), k.Count})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{
		"dead_letters": deadRows(dl, s.lab.text, labURL(l, ""), time.Now()),
		"next":         next, "counts": counts, "kinds": kj, "total": total, "matching": matching,
	})
}

// labReplay replays dead letters: one (id=...), every one (all=1), or every
// one of a kind (code=... and/or group=...), up to 1,000 at a time. The
// answer says how many went back: JSON for scripts, else the lab page's
// panel with a note (or the signup's record page, from_signup=...).
// Replaying the same letter twice changes nothing the second time.
func (s *Server) labReplay(c *gin.Context) {
	l := labOf(c)
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	// Where to come back to: the list the learner was looking at.
	_ = c.Request.ParseForm()
	back, _, _ := parseDeadView(c.Request.PostForm, "dead_")
	note := back.values()
	var fromSignup string
	if u := c.PostForm("from_signup"); userIDPattern.MatchString(u) {
		fromSignup = u
	}
	answer := func(n int, extra gin.H) {
		text := deadNote(s.lab.text, note)
		if wantsJSON(c) {
			body := gin.H{"ok": true, "replayed": n, "notice": plainText(text)}
			for k, v := range extra {
				body[k] = v
			}
			c.JSON(http.StatusOK, body)
			return
		}
		if fromSignup != "" {
			c.Redirect(http.StatusSeeOther, labURL(l, "/signups/"+fromSignup+"?"+note.Encode()+"#groups"))
			return
		}
		c.Redirect(http.StatusSeeOther, deadURL(labURL(l, ""), note))
	}

	switch {
	case c.PostForm("all") == "1":
		// As Lab.ReplayAll, bounded and counted like a kind.
		n, err := replayKind(ctx, l, deadView{})
		if err != nil {
			s.fieldFail(c, err)
			return
		}
		note.Set("dead_note", "replayed")
		note.Set("dead_n", strconv.Itoa(n))
		note.Set("dead_of", "all")
		if counts, err := l.DeadCounts(ctx); err == nil && n >= deadReplayMax {
			var left int64
			for _, v := range counts {
				left += v
			}
			if left > 0 {
				note.Set("dead_left", strconv.FormatInt(left, 10))
			}
		}
		answer(n, nil)

	case c.PostForm("code") != "" || c.PostForm("group") != "":
		kind, field, bad := parseDeadView(url.Values{"code": {c.PostForm("code")}, "group": {c.PostForm("group")}}, "")
		if bad != "" {
			s.labFail(c, http.StatusBadRequest, field, bad)
			return
		}
		n, err := replayKind(ctx, l, kind)
		if err != nil {
			s.fieldFail(c, err)
			return
		}
		note.Set("dead_note", "replayed")
		note.Set("dead_n", strconv.Itoa(n))
		note.Set("dead_of", kind.Group+":"+kind.Code)
		answer(n, gin.H{"group": kind.Group, "code": kind.Code})

	default:
		id := strings.TrimSpace(c.PostForm("id"))
		if id == "" {
			s.labFail(c, http.StatusBadRequest, "id", "Dead letter: choose which one to replay (id=…), all of them (all=1) or a kind (code=…, group=…)")
			return
		}
		if !validDeadID(id) {
			s.labFail(c, http.StatusBadRequest, "id", "Dead letter: "+strconv.Quote(truncateID(id))+" is not a dead letter id like 1700000000000-0")
			return
		}
		dl, err := replayOne(ctx, l, id)
		if errors.Is(err, labs.ErrNotFound) && !wantsJSON(c) {
			// A second press of the same button: say so where it was pressed.
			note.Set("dead_note", "gone")
			answer(0, nil)
			return
		}
		if err != nil {
			s.fieldFail(c, err)
			return
		}
		note.Set("dead_note", "replayed")
		note.Set("dead_n", "1")
		note.Set("dead_of", "one:"+dl.Group+":"+dl.Code)
		if userIDPattern.MatchString(dl.UserID) {
			note.Set("dead_user", dl.UserID)
		}
		answer(1, gin.H{"id": dl.ID, "group": dl.Group, "user_id": dl.UserID})
	}
}

// replayKind replays up to deadReplayMax dead letters of one kind, newest
// first. Letters another request replayed meanwhile are skipped.
func replayKind(ctx context.Context, l *labs.Lab, kind deadView) (int, error) {
	n, before := 0, ""
	for n < deadReplayMax {
		page, next, err := l.DeadLetterPage(ctx, labs.DeadQuery{Limit: deadReplayMax - n, Before: before, Code: kind.Code, Group: kind.Group})
		if err != nil {
			return n, err
		}
		for _, d := range page {
			if _, err := replayOne(ctx, l, d.ID); err != nil {
				if errors.Is(err, labs.ErrNotFound) {
					continue
				}
				if ctx.Err() != nil && n > 0 {
					return n, nil // out of time: say what was done
				}
				return n, err
			}
			n++
		}
		if next == "" || ctx.Err() != nil {
			break
		}
		before = next
	}
	return n, nil
}

// replayOne replays one dead letter; ErrNotFound when another press (or
// request) replayed it first.
func replayOne(ctx context.Context, l *labs.Lab, id string) (labs.DeadLetter, error) {
	return l.Replay(ctx, id)
}

// deadNote is the note a redirect after a replay or a poison message asks
// for (dead_note=replayed|gone|poisoned with dead_n, dead_of, dead_user,
// dead_left), in words; "" when there is none or it is malformed.
func deadNote(t labText, q url.Values) template.HTML {
	fill := func(key string, vars ...string) template.HTML {
		out := string(t.Get(key))
		for i := 0; i+1 < len(vars); i += 2 {
			out = strings.ReplaceAll(out, "{"+vars[i]+"}", vars[i+1])
		}
		return template.HTML(out)
	}
	esc := template.HTMLEscapeString
	switch q.Get("dead_note") {
	case "poisoned":
		return t.Get("dead_note_poisoned")
	case "gone":
		return t.Get("dead_note_gone")
	case "replayed":
	default:
		return ""
	}
	n, err := strconv.Atoi(q.Get("dead_n"))
	if err != nil || n < 0 || n > deadReplayMax {
		return ""
	}
	if n == 0 {
		return t.Get("dead_note_none")
	}
	letters := string(lettersWords(t, int64(n)))
	of := q.Get("dead_of")
	switch {
	case of == "all":
		if left, err := strconv.ParseInt(q.Get("dead_left"), 10, 64); err == nil && left > 0 {
			return fill("dead_note_all_more", "letters", letters, "left", esc(strconv.FormatInt(left, 10)))
		}
		return fill("dead_note_all", "letters", letters)
	case strings.HasPrefix(of, "one:"):
		group, code, _ := strings.Cut(strings.TrimPrefix(of, "one:"), ":")
		if !slices.Contains(labs.Groups, group) {
			return ""
		}
		if code == "poison" || !userIDPattern.MatchString(q.Get("dead_user")) {
			return fill("dead_note_one_poison", "group", esc(group))
		}
		return fill("dead_note_one", "group", esc(group), "user", esc(q.Get("dead_user")))
	default:
		group, code, ok := strings.Cut(of, ":")
		if !ok || (group != "" && !slices.Contains(labs.Groups, group)) || (code != "" && !slices.Contains(deadCodes, code)) {
			return ""
		}
		kind := deadKindWords(t, code)
		switch {
		case group != "" && code != "":
			kind = template.HTML(esc(group)+" · ") + kind
		case group != "":
			kind = template.HTML(esc(group)) + " · " + t.Get("dead_any_reason")
		}
		return fill("dead_note_kind", "letters", letters, "kind", string(kind))
	}
}

// lettersWords is "1 dead letter" or "12 dead letters".
func lettersWords(t labText, n int64) template.HTML {
	if n == 1 {
		return "1 " + t.Get("dead_letter_one")
	}
	return template.HTML(thousands(n)+" ") + t.Get("dead_letter_many")
}

// thousands writes n with thin separators: 12,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func triesWords(n int64) string {
	if n == 1 {
		return "1 try"
	}
	return strconv.FormatInt(n, 10) + " tries"
}

// spanWords says a duration as a learner reads it: "850 ms", "12 s",
// "2 min 10 s", "1 h 5 min".
func spanWords(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < 10*time.Second:
		return strings.TrimSuffix(strconv.FormatFloat(d.Seconds(), 'f', 1, 64), ".0") + " s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		m, sec := int(d.Minutes()), int(d.Seconds())%60
		if sec == 0 {
			return strconv.Itoa(m) + " min"
		}
		return strconv.Itoa(m) + " min " + strconv.Itoa(sec) + " s"
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return strconv.Itoa(h) + " h"
	}
	return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
}

func agoWords(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return spanWords(d.Truncate(time.Second)) + " ago"
}

var tagPattern = regexp.MustCompile(`<[^>]*>`)

// validDeadID reports whether id is a stream entry id Redis accepts: two
// whole numbers that each fit in 64 bits ("1700000000000-0"). The pattern
// alone lets through 20-digit parts past 2^64-1, which Redis refuses with an
// error that would read as an outage.
func validDeadID(id string) bool {
	if !deadIDPattern.MatchString(id) {
		return false
	}
	ms, seq, _ := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	_, err := strconv.ParseUint(seq, 10, 64)
	return err == nil
}

// truncateID shortens a bad id for an error message.
func truncateID(id string) string {
	if len(id) > 48 {
		return id[:48] + "…"
	}
	return id
}

// plainText turns words rendered for a page into text for JSON.
func plainText(h template.HTML) string {
	return html.UnescapeString(tagPattern.ReplaceAllString(string(h), ""))
}

// labPoison adds one unreadable message to the stream.
func (s *Server) labPoison(c *gin.Context) {
	l := labOf(c)
	id, err := l.InjectPoison(c.Request.Context())
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	if wantsJSON(c) {
		c.JSON(http.StatusOK, gin.H{"ok": true, "entry": id, "notice": plainText(s.lab.text.Get("dead_note_poisoned"))})
		return
	}
	_ = c.Request.ParseForm()
	back, _, _ := parseDeadView(c.Request.PostForm, "dead_")
	note := back.values()
	note.Set("dead_note", "poisoned")
	c.Redirect(http.StatusSeeOther, deadURL(labURL(l, ""), note))
}

// signupPage is the record page of one signup.
type signupPage struct {
	Base    string
	T       labText
	Rec     labs.SignupRecord
	Async   bool
	Created string
	Ago     string
	// Event says where its event went.
	Event template.HTML
	// EventLost is set for an async signup whose event never reached the
	// stream.
	EventLost bool
	Effects   []effectRow
	Groups    []groupRow
	Note      template.HTML
}

type effectRow struct {
	Service string
	Count   int64
	Words   template.HTML
	// Class marks none, one or too many ("none", "one", "dup").
	Class string
}

type groupRow struct {
	groupFacts
	// Label names the state in a word or two; Words says it in a sentence.
	Label template.HTML
	Words template.HTML
	// Letter is its dead letter, when the group gave up on it.
	Letter *deadLetterRow
}

// labSignup shows what Redis knows of one signup: the page the dead-letter
// list links each letter to (JSON for scripts).
func (s *Server) labSignup(c *gin.Context) {
	l := labOf(c)
	rec, err := l.Signup(c.Request.Context(), c.Param("user"))
	if err != nil {
		var fe *labs.FieldError
		if errors.As(err, &fe) {
			s.labFail(c, http.StatusBadRequest, "user", "Signup: "+fe.Reason)
			return
		}
		if errors.Is(err, labs.ErrNotFound) {
			s.labFail(c, http.StatusNotFound, "user", "There is no signup "+strconv.Quote(c.Param("user"))+" in your sandbox (a reset starts a fresh one).")
			return
		}
		s.fieldFail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c) {
		c.JSON(http.StatusOK, rec)
		return
	}
	t, base, now := s.lab.text, labURL(l, ""), time.Now()
	p := signupPage{Base: base, T: t, Rec: rec, Async: rec.User.Mode != string(labs.ModeSync),
		Created: rec.User.CreatedAt.UTC().Format("15:04:05"), Ago: agoWords(now.Sub(rec.User.CreatedAt)),
		Note: deadNote(t, c.Request.URL.Query())}
	esc := template.HTMLEscapeString
	switch {
	case !p.Async:
		p.Event = t.Get("signup_event_sync")
	case rec.EntryID == "":
		p.Event, p.EventLost = t.Get("signup_event_lost"), true
	default:
		p.Event = template.HTML(strings.ReplaceAll(string(t.Get("signup_event_entry")), "{entry}", "<code>"+esc(rec.EntryID)+"</code>"))
	}
	services := make([]string, 0, len(rec.Effects))
	for svc := range rec.Effects {
		services = append(services, svc)
	}
	slices.SortFunc(services, func(a, b string) int {
		ia, ib := slices.Index(labs.Groups, a), slices.Index(labs.Groups, b)
		if ia < 0 || ib < 0 || ia == ib {
			return strings.Compare(a, b)
		}
		return ia - ib
	})
	for _, svc := range services {
		p.Effects = append(p.Effects, effectWords(t, svc, rec.Effects[svc]))
	}
	for _, g := range rec.Groups {
		f := groupFacts{Group: g.Group, State: g.State, Consumer: g.Consumer, Deliveries: g.Deliveries, Due: g.Due, Dead: g.Dead}
		p.Groups = append(p.Groups, groupWords(t, base, f, p.Async, rec.EntryID, now))
	}
	s.render(c, http.StatusOK, "lab-signup", view{Title: "Signup " + rec.User.ID, Section: "labs", Data: p})
}

func effectWords(t labText, svc string, n int64) effectRow {
	r := effectRow{Service: svc, Count: n, Class: "one"}
	key := "signup_effect_" + svc + "_"
	switch {
	case n <= 0:
		key, r.Class = key+"0", "none"
	case n == 1:
		key += "1"
	case n == 2:
		key, r.Class = key+"2", "dup"
	default:
		key, r.Class = key+"n", "dup"
	}
	words, ok := t[key]
	if !ok {
		words = template.HTML(strconv.FormatInt(n, 10) + " effects")
	}
	r.Words = template.HTML(strings.ReplaceAll(string(words), "{n}", strconv.FormatInt(n, 10)))
	return r
}

// groupFacts is what one consumer group did with a signup's event (the
// engine's group record).
type groupFacts struct {
	Group, State, Consumer string
	Deliveries             int64
	Due                    time.Time
	Dead                   *labs.DeadLetter
}

func groupWords(t labText, base string, g groupFacts, async bool, entry string, now time.Time) groupRow {
	r := groupRow{groupFacts: g, Label: t.Get("signup_state_" + g.State)}
	esc := template.HTMLEscapeString
	fill := func(key string, vars ...string) template.HTML {
		out := string(t.Get(key))
		vars = append(vars, "group", esc(g.Group))
		for i := 0; i+1 < len(vars); i += 2 {
			out = strings.ReplaceAll(out, "{"+vars[i]+"}", vars[i+1])
		}
		return template.HTML(out)
	}
	switch g.State {
	case "done":
		r.Words = fill("signup_done")
	case "dead":
		if g.Dead != nil {
			row := deadRows([]labs.DeadLetter{*g.Dead}, t, base, now)[0]
			r.Letter = &row
			r.Words = fill("signup_dead", "tries", esc(triesWords(g.Dead.Deliveries)), "reason", esc(g.Dead.Reason))
		} else {
			r.Words = fill("signup_dead_gone")
		}
	case "retrying":
		due := g.Due.UTC().Format("15:04:05")
		if d := g.Due.Sub(now); d > 0 {
			due += " (in " + spanWords(d.Truncate(100*time.Millisecond)) + ")"
		}
		r.Words = fill("signup_retrying", "due", esc(due), "tries", esc(triesWords(g.Deliveries)))
	case "in_hand":
		r.Words = fill("signup_in_hand", "consumer", "<code>"+esc(g.Consumer)+"</code>", "try", strconv.FormatInt(max(g.Deliveries, 1), 10))
	case "not_delivered":
		r.Words = fill("signup_not_delivered")
	default:
		switch {
		case !async:
			r.Words = fill("signup_none_sync")
		case entry == "":
			r.Words = fill("signup_none_lost")
		default:
			r.Words = fill("signup_none")
		}
	}
	return r
}
