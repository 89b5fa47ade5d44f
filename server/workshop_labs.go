package server

import (
	"context"
	"errors"
	"net/http"
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

func (s *Server) boardLabs(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := workshopOf(c)
		ctx, cancel := wsCtx(c)
		defer cancel()
		var err error
		switch action {
		case "pause":
			err = s.cfg.Workshops.SetPaused(ctx, w.Code, true)
		case "resume":
			err = s.cfg.Workshops.SetPaused(ctx, w.Code, false)
		case "reset":
			err = s.cfg.Workshops.Announce(ctx, w.Code, workshops.NoticeResetLabs)
		}
		if err != nil {
			s.workshopFail(c, err)
			return
		}
		s.log.Info("workshop labs "+action, "code", w.Code)
		if action != "resume" {
			notice := workshops.NoticePaused
			if action == "reset" {
				notice = workshops.NoticeResetLabs
			}
			s.onWorkshopNotice(w.Code, notice)
		}
		s.backToBoard(c, w)
	}
}

// onWorkshopNotice acts on this instance's sandboxes of the workshop's
// participants when the labs are paused or reset; other notices are the
// boards' and bars' business.
func (s *Server) onWorkshopNotice(code, notice string) {
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
	if err := s.cfg.Workshops.RecordOutcome(ctx, code, owner, scenario, held); err != nil && !errors.Is(err, workshops.ErrNotJoined) {
		s.log.Warn("record a workshop outcome", "code", code, "err", err)
	}
}
