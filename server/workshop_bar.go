package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/workshops"
)

// barView is the participant bar every page shows while its reader is in a
// workshop: the title, the agenda with the facilitator's current item, the
// hand, and a way out.
type barView struct {
	Code    string
	Title   string
	Items   []barItem
	HandUp  bool
	OnMyWay bool
	// Prompt is the item the facilitator moved everyone to, when the
	// participant is elsewhere: a suggestion, never a forced jump.
	Prompt *barItem
	Paused bool
	Back   string // the page being read, for the hand form to come back to
	Text   labText
}

type barItem struct {
	N       int // 1-based, for people
	Title   string
	Kind    workshops.ItemKind
	Href    string
	Current bool // the facilitator moved everyone here
	Here    bool // the participant last opened it
}

func itemHref(it workshops.Item) string {
	switch it.Kind {
	case workshops.KindChapter:
		return "/lessons/" + it.Ref
	case workshops.KindScenario:
		return "/labs/scenarios/" + it.Ref
	}
	return "/decide"
}

func barItems(w workshops.Workshop, p workshops.Participant) []barItem {
	out := make([]barItem, len(w.Agenda))
	for i, it := range w.Agenda {
		out[i] = barItem{N: i + 1, Title: it.Title, Kind: it.Kind, Href: itemHref(it), Current: i == w.Current, Here: i == p.At}
	}
	return out
}

// newBar is participant p's bar in workshop w, on the page at back.
func (s *Server) newBar(w workshops.Workshop, p workshops.Participant, back string) *barView {
	b := &barView{Code: w.Code, Title: w.Title, Items: barItems(w, p), HandUp: p.HandUp(), OnMyWay: p.OnMyWay,
		Paused: w.Paused, Back: back, Text: s.wsText}
	if _, ok := w.CurrentItem(); ok && w.Current != p.At {
		cur := b.Items[w.Current]
		b.Prompt = &cur
	}
	return b
}

const barKey = "workshopBar"

// workshopBar loads the bar for a reader who joined a workshop, and notes
// which agenda item a page they open belongs to. A workshop that is gone, or
// that the reader left, clears the cookie; Redis trouble only hides the bar.
func (s *Server) workshopBar(c *gin.Context) {
	code, err := c.Cookie(workshopCookie)
	if err != nil || s.cfg.Workshops == nil || c.Request.Method != http.MethodGet || fetched(c) ||
		strings.HasPrefix(c.Request.URL.Path, "/static/") || strings.HasSuffix(c.FullPath(), "/events") {
		c.Next()
		return
	}
	code, ok := workshops.NormalizeCode(code)
	if !ok {
		c.Next()
		return
	}
	ctx, cancel := wsCtx(c)
	w, err := s.cfg.Workshops.Get(ctx, code)
	var p workshops.Participant
	if err == nil {
		p, err = s.cfg.Workshops.Participant(ctx, code, LearnerID(c))
	}
	cancel()
	switch {
	case errors.Is(err, workshops.ErrNotFound), errors.Is(err, workshops.ErrNotJoined):
		http.SetCookie(c.Writer, &http.Cookie{Name: workshopCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: s.secureRequest(c)})
		c.Next()
		return
	case err != nil:
		s.log.Warn("workshop bar", "err", err)
		c.Next()
		return
	}
	if at := s.agendaIndex(c, w); at >= 0 && at != p.At {
		ctx, cancel := wsCtx(c)
		if err := s.cfg.Workshops.Visit(ctx, code, p.Learner, at); err != nil {
			s.log.Warn("workshop visit", "err", err)
		} else {
			p.At = at
		}
		cancel()
	}
	c.Set(barKey, s.newBar(w, p, c.Request.URL.Path))
	c.Next()
}

func barOf(c *gin.Context) *barView {
	if v, ok := c.Get(barKey); ok {
		return v.(*barView)
	}
	return nil
}

// agendaIndex is the agenda item the requested page belongs to, or -1.
func (s *Server) agendaIndex(c *gin.Context, w workshops.Workshop) int {
	var kind workshops.ItemKind
	var ref string
	switch route := c.FullPath(); {
	case route == "/lessons/:slug":
		kind, ref = workshops.KindChapter, c.Param("slug")
	case route == "/labs/s/:sb/scenarios/:sc":
		kind, ref = workshops.KindScenario, c.Param("sc")
	case strings.HasPrefix(route, "/decide"):
		kind = workshops.KindDecide
	default:
		return -1
	}
	for i, it := range w.Agenda {
		if it.Kind == kind && it.Ref == ref {
			return i
		}
	}
	return -1
}

// labScenarios are the lab's scenarios, none without a lab.
func (s *Server) labScenarios() []*labs.Scenario {
	if s.lab == nil {
		return nil
	}
	out := make([]*labs.Scenario, 0, len(s.lab.scenarios))
	for _, v := range s.lab.scenarios {
		out = append(out, v.Scenario)
	}
	return out
}
