package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/lessons"
	"github.com/crossroads-learn/crossroads/workshops"
)

// boardView is the facilitator's board: the room at a glance.
type boardView struct {
	W        workshops.Workshop
	Items    []barItem
	Rows     []boardRow
	Queue    []boardRow
	Chapters []boardChapter  // the agenda's chapters, the board's columns
	Room     []boardScenario // the agenda's scenarios: predictions against outcomes
	cells    map[string][]scenarioCell
	JoinURL  string
	Link     string // the facilitator link, for the facilitator only
	Created  bool
	Limits   workshops.Options
	At       time.Time
	Note     string // progress could not be read
	Text     labText
}

type boardChapter struct {
	Index int // in the agenda
	Title string
	Slug  string
	Total int // questions in its knowledge check
}

type boardRow struct {
	P         workshops.Participant
	Where     string // the agenda item they last opened
	Cells     []boardCell
	Scenarios []scenarioCell // one per bv.Room
	Joined    string
	Seen      string
	HandWait  string
}

// boardScenario is the room's picture of one scenario: what people
// predicted, beside what their runs showed.
type boardScenario struct {
	ID        string
	Title     string
	Prompt    string
	Options   []roomOption
	Predicted int // participants who predicted
	Ran       int // participants whose guided runs finished
	Held      int // of those, runs that bore every claim out
	// RoomRun says the facilitator ran it for the whole room, at RoomRunAt.
	RoomRun   bool
	RoomRunAt string
	// Labels name the scenario's runs; Figures are each participant's, in
	// the board's order.
	Labels  []string
	Figures []roomFigures
}

// roomFigures is one participant's runs of a scenario.
type roomFigures struct {
	Name string
	Runs []runFigures
}

// scenarioCell is one participant's prediction and outcome in a scenario.
type scenarioCell struct {
	Predicted int // option number from 1, 0 for none
	Ran       bool
	Held      bool
}

// roomOption is one answer to a scenario's prediction.
type roomOption struct {
	Text    string
	Correct bool // what the scenario's runs show
	Count   int
	Pct     int // of those who predicted, rounded
}

// boardCell is one participant's progress in one agenda chapter.
type boardCell struct {
	Read  bool
	Taken bool
	Best  int
	Total int
}

// Label says the cell in words, for screen readers and the report.
func (c boardCell) Label() string {
	var parts []string
	if c.Read {
		parts = append(parts, "read")
	}
	if c.Taken {
		parts = append(parts, fmt.Sprintf("best %d/%d", c.Best, c.Total))
	}
	if len(parts) == 0 {
		return "not yet"
	}
	return strings.Join(parts, ", ")
}

// board reads everything the board shows.
func (s *Server) board(ctx context.Context, c *gin.Context, code string) (boardView, error) {
	w, err := s.cfg.Workshops.Get(ctx, code)
	if err != nil {
		return boardView{}, err
	}
	ps, err := s.cfg.Workshops.Participants(ctx, code)
	if err != nil {
		return boardView{}, err
	}
	now := time.Now()
	bv := boardView{W: w, Items: barItems(w, workshops.Participant{At: -1}), JoinURL: s.origin(c) + "/join/" + w.Code,
		Limits: s.cfg.Workshops.Limits(), At: now, Text: s.wsText}
	for i, it := range w.Agenda {
		if it.Kind != workshops.KindChapter {
			continue
		}
		bc := boardChapter{Index: i, Title: it.Title, Slug: it.Ref}
		if s.cfg.Lessons != nil {
			if ch, ok := s.cfg.Lessons.Chapter(it.Ref); ok {
				bc.Total = len(ch.Quiz.Questions)
			}
		}
		bv.Chapters = append(bv.Chapters, bc)
	}
	var progress []lessons.Progress
	if s.cfg.Redis != nil && s.cfg.Lessons != nil && len(bv.Chapters) > 0 {
		learners := make([]string, len(ps))
		for i, p := range ps {
			learners[i] = p.Learner
		}
		if progress, err = s.progressStore().GetMany(ctx, learners); err != nil {
			s.log.Warn("board progress", "err", err)
			bv.Note = "Progress could not be read just now; the board tries again in a moment."
			progress = nil
		}
	}
	if err := s.boardRoom(ctx, &bv, w, ps); err != nil {
		s.log.Warn("board room", "err", err)
		bv.Note = "Predictions could not be read just now; the board tries again in a moment."
	}
	for i, p := range ps {
		row := boardRow{P: p, Where: "—", Joined: ago(p.JoinedAt, now), Seen: ago(p.SeenAt, now)}
		if p.At >= 0 && p.At < len(w.Agenda) {
			row.Where = strconv.Itoa(p.At+1) + ". " + w.Agenda[p.At].Title
		}
		if p.HandUp() {
			row.HandWait = ago(p.HandAt, now)
		}
		row.Scenarios = bv.cells[p.Learner]
		for _, ch := range bv.Chapters {
			cell := boardCell{Total: ch.Total}
			if progress != nil {
				cp := progress[i][ch.Slug]
				cell.Read, cell.Taken, cell.Best = cp.Completed, cp.Taken(), cp.BestScore
			}
			row.Cells = append(row.Cells, cell)
		}
		bv.Rows = append(bv.Rows, row)
	}
	for _, q := range workshops.HelpQueue(ps) {
		for _, r := range bv.Rows {
			if r.P.Learner == q.Learner {
				bv.Queue = append(bv.Queue, r)
			}
		}
	}
	return bv, nil
}

// boardRoom fills in predictions against outcomes for the agenda's
// scenarios, counting the people in the workshop now.
func (s *Server) boardRoom(ctx context.Context, bv *boardView, w workshops.Workshop, ps []workshops.Participant) error {
	if s.lab == nil {
		return nil
	}
	var ids []string
	for _, it := range w.Agenda {
		if it.Kind == workshops.KindScenario && s.lab.byID[it.Ref] != nil {
			ids = append(ids, it.Ref)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	room, err := s.cfg.Workshops.Room(ctx, w.Code, ids)
	if err != nil {
		return err
	}
	here := map[string]bool{}
	bv.cells = map[string][]scenarioCell{}
	for _, p := range ps {
		here[p.Learner] = true
		bv.cells[p.Learner] = make([]scenarioCell, len(ids))
	}
	for k, id := range ids {
		sc := s.lab.byID[id]
		bs := boardScenario{ID: id, Title: sc.Title, Prompt: sc.Predict.Prompt, RoomRun: w.RoomRun == id}
		if bs.RoomRun {
			bs.RoomRunAt = ago(w.RoomRunAt, time.Now())
		}
		for _, r := range sc.Runs {
			bs.Labels = append(bs.Labels, r.Label)
		}
		for _, o := range sc.Predict.Options {
			bs.Options = append(bs.Options, roomOption{Text: o.Text, Correct: o.Correct})
		}
		rs := room[id]
		for l, o := range rs.Predictions {
			if here[l] && o >= 0 && o < len(bs.Options) {
				bs.Options[o].Count++
				bs.Predicted++
				bv.cells[l][k].Predicted = o + 1
			}
		}
		for l, held := range rs.Outcomes {
			if here[l] {
				bs.Ran++
				if held {
					bs.Held++
				}
				bv.cells[l][k].Ran, bv.cells[l][k].Held = true, held
			}
		}
		for _, p := range ps {
			raw, ok := rs.Figures[p.Learner]
			if !ok {
				continue
			}
			var runs []runFigures
			if json.Unmarshal(raw, &runs) == nil && len(runs) == len(bs.Labels) {
				bs.Figures = append(bs.Figures, roomFigures{Name: p.Name, Runs: runs})
			}
		}
		for i := range bs.Options {
			if bs.Predicted > 0 {
				bs.Options[i].Pct = (200*bs.Options[i].Count + bs.Predicted) / (2 * bs.Predicted)
			}
		}
		bv.Room = append(bv.Room, bs)
	}
	return nil
}

// ago says how long ago t was, for people: "just now", "4 min ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h ago", int(d.Hours()))
}

func (s *Server) boardPage(c *gin.Context) {
	w := workshopOf(c)
	ctx, cancel := wsCtx(c)
	defer cancel()
	bv, err := s.board(ctx, c, w.Code)
	if err != nil {
		s.workshopFail(c, err)
		return
	}
	bv.Created = c.Query("created") == "1"
	bv.Link = s.facilitatorLink(c, w.Code, c.GetString(tokenKey))
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	s.render(c, http.StatusOK, "workshop-board", view{Title: "Board · " + w.Title, Section: "workshops", Data: bv})
}

// boardEvery refreshes an open board even when nothing is announced (the
// "seen" times move on, and a notice lost during a Redis restart is caught
// up).
const boardEvery = 10 * time.Second

// boardDebounce gathers the notices of a burst (a room joining at once)
// into one redraw.
const boardDebounce = 250 * time.Millisecond

// boardEvents streams the board's body, redrawn on every change.
func (s *Server) boardEvents(c *gin.Context) {
	w := workshopOf(c)
	s.workshopStream(c, w.Code, func(string) bool { return true }, func(ctx context.Context) (string, string, error) {
		bv, err := s.board(ctx, c, w.Code)
		if err != nil {
			return "", "", err
		}
		var buf bytes.Buffer
		if err := s.pages.sets["workshop-board"].ExecuteTemplate(&buf, "board-body", bv); err != nil {
			return "", "", err
		}
		return "board", buf.String(), nil
	})
}

// participantEvents streams a participant's bar when the facilitator moves
// everyone, changes the workshop's state or answers their hand.
func (s *Server) participantEvents(c *gin.Context) {
	w := workshopOf(c)
	learner := LearnerID(c)
	back := c.Query("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/workshops/" + w.Code
	}
	mine := func(notice string) bool {
		return notice == "move" || notice == "state" || notice == workshops.NoticePaused || notice == "hands "+learner
	}
	s.workshopStream(c, w.Code, mine, func(ctx context.Context) (string, string, error) {
		w, err := s.cfg.Workshops.Get(ctx, w.Code)
		if err != nil {
			return "", "", err
		}
		p, err := s.cfg.Workshops.Participant(ctx, w.Code, learner)
		if err != nil {
			return "", "", err
		}
		b := &barView{Code: w.Code, Title: w.Title, Items: barItems(w, p), HandUp: p.HandUp(), OnMyWay: p.OnMyWay, Paused: w.Paused, Back: back, Text: s.wsText}
		if _, ok := w.CurrentItem(); ok && w.Current != p.At {
			cur := b.Items[w.Current]
			b.Prompt = &cur
		}
		var buf bytes.Buffer
		if err := s.pages.sets["workshop-board"].ExecuteTemplate(&buf, "workshop-bar-body", b); err != nil {
			return "", "", err
		}
		return "bar", buf.String(), nil
	})
}

// workshopStream sends server-sent events: what draw renders, now, on every
// notice about the workshop that wanted accepts (a burst drawn once), and
// every boardEvery. It ends with the request, at shutdown, or after the
// stream's life; the browser reconnects by itself.
func (s *Server) workshopStream(c *gin.Context, code string, wanted func(string) bool, draw func(context.Context) (string, string, error)) {
	release, ok := s.wsStreams.acquire(LearnerID(c))
	if !ok {
		c.Header("Retry-After", "5")
		c.String(http.StatusTooManyRequests, "Too many live views are open; close one and try again.")
		return
	}
	defer release()
	notices, stop := s.wsHub.listen(code)
	defer stop()
	w := openEventStream(c, 3*time.Second)

	ctx := c.Request.Context()
	life := time.NewTimer(s.wsStreams.life)
	defer life.Stop()
	tick := time.NewTicker(boardEvery)
	defer tick.Stop()
	last := ""
	send := func() bool {
		dctx, cancel := context.WithTimeout(ctx, workshopTimeout)
		event, body, err := draw(dctx)
		cancel()
		if err != nil {
			s.log.Debug("workshop stream", "code", code, "err", err)
			return ctx.Err() == nil // try again at the next notice or tick
		}
		if body == last {
			return true
		}
		last = body
		fmt.Fprintf(w, "event: %s\n", event)
		for line := range strings.SplitSeq(body, "\n") {
			fmt.Fprintf(w, "data: %s\n", line)
		}
		fmt.Fprint(w, "\n")
		w.Flush()
		return true
	}
	if !send() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-life.C:
			return
		case n := <-notices:
			if !wanted(n) {
				continue
			}
			// Gather the rest of a burst into one redraw.
			t := time.NewTimer(boardDebounce)
		gather:
			for {
				select {
				case <-notices:
				case <-t.C:
					break gather
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		case <-tick.C:
		}
		if !send() {
			return
		}
	}
}

// boardReport exports the board: Markdown for notes, CSV for a spreadsheet.
func (s *Server) boardReport(format string) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := workshopOf(c)
		ctx, cancel := wsCtx(c)
		defer cancel()
		bv, err := s.board(ctx, c, w.Code)
		if err != nil {
			s.workshopFail(c, err)
			return
		}
		name := "workshop-" + w.Code + "-" + bv.At.UTC().Format("20060102-1504")
		c.Header("Cache-Control", "no-store")
		if format == "csv" {
			c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			c.Data(http.StatusOK, "text/csv; charset=utf-8", reportCSV(bv))
			return
		}
		c.Header("Content-Disposition", `attachment; filename="`+name+`.md"`)
		c.Data(http.StatusOK, "text/markdown; charset=utf-8", reportMarkdown(bv))
	}
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func reportCSV(bv boardView) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	head := []string{"name", "joined", "last seen", "at agenda item", "hand"}
	for _, ch := range bv.Chapters {
		head = append(head, ch.Title+" (read)", ch.Title+" (best score)")
	}
	for _, sc := range bv.Room {
		head = append(head, sc.Title+" (predicted)", sc.Title+" (predicted right)", sc.Title+" (run bore the claims out)")
	}
	cw.Write(head)
	for _, r := range bv.Rows {
		hand := ""
		if r.P.HandUp() {
			hand = "raised " + r.P.HandAt.UTC().Format(time.RFC3339)
		}
		rec := []string{csvSafe(r.P.Name), r.P.JoinedAt.UTC().Format(time.RFC3339), seenStamp(r.P.SeenAt), csvSafe(r.Where), hand}
		for _, cell := range r.Cells {
			best := ""
			if cell.Taken {
				best = fmt.Sprintf("%d/%d", cell.Best, cell.Total)
			}
			rec = append(rec, strconv.FormatBool(cell.Read), best)
		}
		for k, sc := range bv.Room {
			var c scenarioCell
			if k < len(r.Scenarios) {
				c = r.Scenarios[k]
			}
			pred, right, held := "", "", ""
			if c.Predicted > 0 {
				pred = csvSafe(sc.Options[c.Predicted-1].Text)
				right = strconv.FormatBool(sc.Options[c.Predicted-1].Correct)
			}
			if c.Ran {
				held = strconv.FormatBool(c.Held)
			}
			rec = append(rec, pred, right, held)
		}
		cw.Write(rec)
	}
	cw.Flush()
	return buf.Bytes()
}

func seenStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// mdCell escapes what a person typed for a Markdown table cell.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\\", `\\`, "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func reportMarkdown(bv boardView) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Workshop report: %s\n\n", mdCell(bv.W.Title))
	fmt.Fprintf(&b, "Code %s · exported %s UTC · %d participants", bv.W.Code, bv.At.UTC().Format("2006-01-02 15:04"), len(bv.Rows))
	if bv.W.Closed {
		b.WriteString(" · closed")
	}
	b.WriteString("\n\n## Agenda\n\n")
	for _, it := range bv.Items {
		mark := ""
		if it.Current {
			mark = " ← everyone was moved here"
		}
		fmt.Fprintf(&b, "%d. %s (%s)%s\n", it.N, mdCell(it.Title), it.Kind, mark)
	}
	b.WriteString("\n## Participants\n\n| Name | At agenda item | Hand |")
	for _, ch := range bv.Chapters {
		fmt.Fprintf(&b, " %s |", mdCell(ch.Title))
	}
	b.WriteString("\n|---|---|---|")
	for range bv.Chapters {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range bv.Rows {
		hand := ""
		if r.P.HandUp() {
			hand = "raised"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |", mdCell(r.P.Name), mdCell(r.Where), hand)
		for _, cell := range r.Cells {
			fmt.Fprintf(&b, " %s |", cell.Label())
		}
		b.WriteString("\n")
	}
	if len(bv.Rows) == 0 {
		b.WriteString("\nNobody has joined yet.\n")
	}
	if len(bv.Room) > 0 {
		b.WriteString("\n## Predictions and outcomes\n")
		for _, sc := range bv.Room {
			fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", mdCell(sc.Title), mdCell(sc.Prompt))
			for _, o := range sc.Options {
				mark := ""
				if o.Correct {
					mark = " ✓ what the runs show"
				}
				fmt.Fprintf(&b, "- %d %% (%d) predicted: %s%s\n", o.Pct, o.Count, mdCell(o.Text), mark)
			}
			fmt.Fprintf(&b, "\n%d of %d participants predicted; %d ran the scenario, and %d of those runs bore out every claim.\n",
				sc.Predicted, len(bv.Rows), sc.Ran, sc.Held)
		}
	}
	return []byte(b.String())
}
