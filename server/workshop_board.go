package server

import (
	"context"
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
