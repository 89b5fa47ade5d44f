package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/workshops"
)

// The facilitator's hold on the room's labs: pause (every run in progress
// stops, and no new one starts until resume) and reset (every participant's
// sandbox is closed and its data deleted; the next visit opens a fresh one).
//
// A participant's sandbox lives in the instance that opened it, so the
// instance that takes the action acts on the sandboxes it holds and
// announces it; every instance whose hub hears the notice does the same for
// its own. Both are idempotent, so hearing one's own notice does no harm.

// labsAction does an action on the workshop (pause, reset) and then on
// this instance's sandboxes of its participants.
func (s *Server) labsAction(notice string, do func(ctx context.Context, code string) error) boardAction {
	return func(_ *gin.Context, ctx context.Context, w workshops.Workshop) error {
		if err := do(ctx, w.Code); err != nil {
			return err
		}
		s.onWorkshopNotice(w.Code, notice)
		return nil
	}
}

// onWorkshopNotice acts on this instance's sandboxes of the workshop's
// participants when the labs are paused or reset; other notices are the
// boards' and bars' business.
func (s *Server) onWorkshopNotice(code, notice string) {
	if scenario, ok := strings.CutPrefix(notice, workshops.NoticeRoomRun+" "); ok {
		s.startRoomRun(code, scenario)
		return
	}
	if s.lab == nil || (notice != workshops.NoticePaused && notice != workshops.NoticeResetLabs) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := s.cfg.Workshops.Participants(ctx, code)
	if err != nil {
		s.log.Warn("workshop labs", "code", code, "notice", notice, "err", err)
		return
	}
	n := 0
	for _, p := range ps {
		l := s.lab.mgr.Lookup(p.Learner)
		if l == nil {
			continue
		}
		n++
		if notice == workshops.NoticePaused {
			l.Cancel()
			continue
		}
		if err := s.lab.mgr.Reset(p.Learner); err != nil {
			s.log.Warn("reset a participant's lab", "code", code, "err", err)
		}
	}
	s.log.Info("workshop labs", "code", code, "notice", notice, "sandboxes_here", n)
}

// refusePaused answers a run of a participant whose workshop's labs are
// paused, and reports whether it did.
func (s *Server) refusePaused(c *gin.Context) bool {
	code, err := c.Cookie(workshopCookie)
	if err != nil || s.cfg.Workshops == nil {
		return false
	}
	if code, err = normalizedCode(code); err != nil {
		return false
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	w, err := s.cfg.Workshops.Get(ctx, code)
	if err != nil || !w.Paused {
		return false
	}
	if _, err := s.cfg.Workshops.Participant(ctx, code, LearnerID(c)); err != nil {
		return false
	}
	s.labFail(c, http.StatusConflict, "run", "The facilitator has paused the labs for a moment; run again when they resume.")
	return true
}

func normalizedCode(s string) (string, error) {
	code, ok := workshops.NormalizeCode(s)
	if !ok {
		return "", workshops.ErrNotFound
	}
	return code, nil
}

// recordPrediction notes a workshop participant's prediction for the
// room's picture; outside a workshop it does nothing.
func (s *Server) recordPrediction(c *gin.Context, scenario string, option int) {
	if s.cfg.Workshops == nil {
		return
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	learner := LearnerID(c)
	code, err := s.cfg.Workshops.WorkshopOf(ctx, learner)
	if err != nil || code == "" {
		return
	}
	if err := s.cfg.Workshops.RecordPrediction(ctx, code, learner, scenario, option); err != nil && !errors.Is(err, workshops.ErrNotJoined) {
		s.log.Warn("record a workshop prediction", "code", code, "err", err)
	}
}

// recordOutcome notes, for the room's picture, that a workshop
// participant's guided scenario finished and whether its runs bore the
// scenario's claims out. The lab calls it when the runs end.
func (s *Server) recordOutcome(owner, scenario string, results []labs.Result) {
	sc := s.lab.byID[scenario]
	if sc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), workshopTimeout)
	defer cancel()
	code, err := s.cfg.Workshops.WorkshopOf(ctx, owner)
	if err != nil || code == "" {
		return
	}
	held := true
	for _, cc := range sc.CheckClaims(results) {
		held = held && cc.Holds
	}
	figs := make([]runFigures, len(results))
	for i, r := range results {
		figs[i] = runFigures{Attempted: r.SignupsAttempted, Succeeded: r.SignupsSucceeded, Emails: r.EmailsSent,
			Lost: r.Lost, P50: r.Latency.P50}
		if i < len(sc.Runs) {
			figs[i].Label = sc.Runs[i].Label
		}
	}
	raw, err := json.Marshal(figs)
	if err != nil {
		return
	}
	if err := s.cfg.Workshops.RecordOutcome(ctx, code, owner, scenario, held, raw); err != nil && !errors.Is(err, workshops.ErrNotJoined) {
		s.log.Warn("record a workshop outcome", "code", code, "err", err)
	}
}

// runFigures are what the board shows of one guided run, side by side with
// the room's.
type runFigures struct {
	Label     string  `json:"label"`
	Attempted int64   `json:"attempted"`
	Succeeded int64   `json:"succeeded"`
	Emails    int64   `json:"emails"`
	Lost      int64   `json:"lost"`
	P50       float64 `json:"p50_ms"`
}

// roomRunFor bounds how long an instance keeps starting a room run in its
// sandboxes while the room's budget of signups in flight is taken.
const roomRunFor = 10 * time.Minute

// startRoomRun runs scenario in the sandbox of every participant of the
// workshop that this instance holds. The room's budget of signups in flight
// rarely takes every sandbox at once, so a sandbox whose run cannot start
// (the room is busy, or its learner's own run is on) is tried again each
// second until it starts, for at most roomRunFor. One room run per workshop
// and scenario at a time in each instance.
func (s *Server) startRoomRun(code, scenario string) {
	if s.lab == nil {
		return
	}
	sc := s.lab.byID[scenario]
	if sc == nil {
		return
	}
	key := code + " " + scenario
	s.roomRunsMu.Lock()
	if s.roomRuns[key] {
		s.roomRunsMu.Unlock()
		return
	}
	s.roomRuns[key] = true
	s.roomRunsMu.Unlock()
	defer func() {
		s.roomRunsMu.Lock()
		delete(s.roomRuns, key)
		s.roomRunsMu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), roomRunFor)
	defer cancel()
	ps, err := s.cfg.Workshops.Participants(ctx, code)
	if err != nil {
		s.log.Warn("room run", "code", code, "scenario", scenario, "err", err)
		return
	}
	plan, err := sc.Plan(s.lab.mgr.Base())
	if err != nil {
		s.log.Warn("room run", "code", code, "scenario", scenario, "err", err)
		return
	}
	for i := range plan {
		plan[i].Load.DrainTimeout = labs.GuidedDrainTimeout
	}
	var pending []*labs.Lab
	for _, p := range ps {
		if l := s.lab.mgr.Lookup(p.Learner); l != nil {
			pending = append(pending, l)
		}
	}
	s.log.Info("room run", "code", code, "scenario", scenario, "sandboxes_here", len(pending))
	for len(pending) > 0 {
		var wait []*labs.Lab
		for _, l := range pending {
			switch err := l.Start(sc.ID, plan); {
			case err == nil, errors.Is(err, labs.ErrClosed):
			case errors.Is(err, labs.ErrRoomBusy), errors.Is(err, labs.ErrBusy):
				wait = append(wait, l)
			default:
				s.log.Warn("room run in a sandbox", "code", code, "scenario", scenario, "err", err)
			}
		}
		if pending = wait; len(pending) == 0 {
			return
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			s.log.Warn("room run gave up", "code", code, "scenario", scenario, "not_started", len(pending))
			return
		case <-s.closing:
			return
		}
	}
}

// roomRunAction starts the chosen scenario in every participant's sandbox.
func (s *Server) roomRunAction(c *gin.Context, ctx context.Context, w workshops.Workshop) error {
	scenario := c.PostForm("scenario")
	if err := s.cfg.Workshops.StartRoomRun(ctx, w.Code, scenario); err != nil {
		return err
	}
	go s.startRoomRun(w.Code, scenario)
	return nil
}
