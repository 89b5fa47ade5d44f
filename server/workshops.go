package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/workshops"
)

// Workshop mode: a facilitator creates a workshop and keeps its board open;
// participants join with the code and a name and go on learning as they
// would alone, with a bar on every page that says where the room is.
//
// Who is who: a participant is a learner (the learner cookie) listed in the
// workshop; the cr_workshop cookie only says which workshop's bar to show.
// The facilitator holds the token from the facilitator link, kept in a
// cookie scoped to the workshop's own addresses and never put in a page a
// participant sees.

const (
	workshopCookie  = "cr_workshop"
	facilitatorPre  = "cr_fac_"
	workshopTimeout = 2 * time.Second
)

func (s *Server) workshopRoutes(r gin.IRouter) {
	r.GET("/workshops/new", s.workshopNew)
	r.POST("/workshops", s.workshopCreate)
	r.GET("/join", s.joinForm)
	r.GET("/join/:code", s.joinForm)
	r.POST("/join", s.joinPost)
	w := r.Group("/workshops/:code", s.workshopOf)
	w.GET("", s.participantPage)
	w.POST("/hand", s.participantHand)
	w.POST("/leave", s.participantLeave)
	w.GET("/events", s.participantEvents)
	w.GET("/facilitate", s.facilitate)
	f := w.Group("", s.facilitator)
	f.GET("/board", s.boardPage)
	f.GET("/board/events", s.boardEvents)
	f.GET("/report.md", s.boardReport("md"))
	f.GET("/report.csv", s.boardReport("csv"))
	for route, do := range s.boardActions() {
		f.POST("/"+route, s.onBoard(route, do))
	}
}

// workshopsReady answers with a friendly page when the server runs without
// workshops (no store configured).
func (s *Server) workshopsReady(c *gin.Context) bool {
	if s.cfg.Workshops == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "Workshops are not available on this server.")
		return false
	}
	return true
}

func wsCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), workshopTimeout)
}

const workshopKey = "workshop"

// workshopOf loads the workshop named in the address; an unknown or
// malformed code is a 404 with the same words either way.
func (s *Server) workshopOf(c *gin.Context) {
	if !s.workshopsReady(c) {
		c.Abort()
		return
	}
	code, ok := workshops.NormalizeCode(c.Param("code"))
	if !ok || code != c.Param("code") {
		if ok { // a code typed in lower case or with a dash: its own address
			c.Redirect(http.StatusSeeOther, strings.Replace(c.Request.URL.Path, c.Param("code"), code, 1))
			c.Abort()
			return
		}
		s.failWith(c, http.StatusNotFound, "code", "No workshop has this code. Check it with your facilitator.")
		c.Abort()
		return
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	w, err := s.cfg.Workshops.Get(ctx, code)
	if err != nil {
		s.workshopFail(c, err)
		c.Abort()
		return
	}
	c.Set(workshopKey, w)
	c.Next()
}

func workshopOf(c *gin.Context) workshops.Workshop {
	return c.MustGet(workshopKey).(workshops.Workshop)
}

// workshopFail turns a workshops error into an answer for people.
func (s *Server) workshopFail(c *gin.Context, err error) {
	var fe *workshops.FieldError
	switch {
	case errors.As(err, &fe):
		s.failWith(c, http.StatusBadRequest, fe.Field, fe.Error())
	case errors.Is(err, workshops.ErrNotFound):
		s.failWith(c, http.StatusNotFound, "code", "No workshop has this code. Check it with your facilitator.")
	case errors.Is(err, workshops.ErrClosed):
		s.failWith(c, http.StatusGone, "code", "This workshop is over: the facilitator has closed it.")
	case errors.Is(err, workshops.ErrLocked):
		s.failWith(c, http.StatusForbidden, "code", "The facilitator has locked joining this workshop. Ask them to open it for a moment.")
	case errors.Is(err, workshops.ErrFull):
		s.failWith(c, http.StatusConflict, "code", "This workshop is full.")
	case errors.Is(err, workshops.ErrBusy):
		c.Header("Retry-After", "30")
		s.failWith(c, http.StatusTooManyRequests, "code", "Many people are joining this workshop at once; try again in half a minute.")
	case errors.Is(err, workshops.ErrTooMany):
		s.failWith(c, http.StatusServiceUnavailable, "workshop", "This server runs as many workshops as it allows; close one first.")
	case errors.Is(err, workshops.ErrForbidden):
		s.failWith(c, http.StatusForbidden, "key", "This facilitator link is not valid for this workshop.")
	case errors.Is(err, workshops.ErrNotJoined):
		s.failWith(c, http.StatusForbidden, "code", "You are not in this workshop. Join it with its code first.")
	case errors.Is(err, errHandDown):
		s.failWith(c, http.StatusNotFound, "learner", "This participant's hand is not raised any more.")
	default:
		s.log.Warn("workshop", "err", err)
		s.failWith(c, http.StatusServiceUnavailable, "workshop", "The workshop could not be reached just now. Please try again.")
	}
}

// ---- creating -----------------------------------------------------------------

// agendaChoice is one item the facilitator may put on the agenda.
type agendaChoice struct {
	Value string // kind:ref, the form's value
	Item  workshops.Item
	Kind  string // for people: "Chapter", "Scenario", "Exercise"
}

// agendaChoices lists chapters in course order, each followed by the
// scenarios that belong to it, then the decide exercise.
func (s *Server) agendaChoices() []agendaChoice {
	var out []agendaChoice
	used := map[string]bool{}
	scenarios := s.labScenarios()
	add := func(kind workshops.ItemKind, ref, title, label string) {
		out = append(out, agendaChoice{Value: string(kind) + ":" + ref, Item: workshops.Item{Kind: kind, Ref: ref, Title: title}, Kind: label})
	}
	if s.cfg.Lessons != nil {
		for _, ch := range s.cfg.Lessons.Chapters {
			add(workshops.KindChapter, ch.Slug, ch.Title, "Chapter")
			for _, sc := range scenarios {
				slug, _, _ := strings.Cut(strings.TrimPrefix(sc.Lesson.Href, "/lessons/"), "#")
				if !used[sc.ID] && slug == ch.Slug {
					used[sc.ID] = true
					add(workshops.KindScenario, sc.ID, sc.Title, "Scenario")
				}
			}
		}
	}
	for _, sc := range scenarios {
		if !used[sc.ID] {
			add(workshops.KindScenario, sc.ID, sc.Title, "Scenario")
		}
	}
	add(workshops.KindDecide, "", "Decide: your own decision record", "Exercise")
	return out
}

// newWorkshopView is what workshop-new.html receives.
type newWorkshopView struct {
	Choices []agendaChoice
	Title   string
	Error   string
	Checked map[string]bool // nil: the whole course is ticked
	Text    labText
}

func (s *Server) workshopNew(c *gin.Context) {
	if !s.workshopsReady(c) {
		return
	}
	s.render(c, http.StatusOK, "workshop-new", view{Title: "New workshop", Section: "workshops",
		Data: newWorkshopView{Choices: s.agendaChoices(), Text: s.wsText}})
}

func (s *Server) workshopCreate(c *gin.Context) {
	if !s.workshopsReady(c) {
		return
	}
	choices := s.agendaChoices()
	byValue := map[string]workshops.Item{}
	for _, ch := range choices {
		byValue[ch.Value] = ch.Item
	}
	plan := workshops.Plan{Title: c.PostForm("title")}
	checked := map[string]bool{}
	for _, v := range c.PostFormArray("item") {
		if checked[v] {
			continue
		}
		it, ok := byValue[v]
		if !ok {
			s.failWith(c, http.StatusBadRequest, "item", "item: "+strconv.Quote(v)+" is not a chapter, scenario or exercise of this course.")
			return
		}
		checked[v] = true
		plan.Agenda = append(plan.Agenda, it)
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	w, token, err := s.cfg.Workshops.Create(ctx, plan)
	var fe *workshops.FieldError
	if errors.As(err, &fe) {
		s.render(c, http.StatusBadRequest, "workshop-new", view{Title: "New workshop", Section: "workshops",
			Data: newWorkshopView{Choices: choices, Title: c.PostForm("title"), Error: fe.Error(), Checked: checked, Text: s.wsText}})
		return
	}
	if err != nil {
		s.workshopFail(c, err)
		return
	}
	s.log.Info("workshop created", "code", w.Code, "items", len(w.Agenda))
	s.setFacilitatorCookie(c, w, token)
	c.Redirect(http.StatusSeeOther, "/workshops/"+w.Code+"/board?created=1")
}

// ---- the facilitator ------------------------------------------------------------

func facilitatorCookieName(code string) string { return facilitatorPre + code }

func (s *Server) setFacilitatorCookie(c *gin.Context, w workshops.Workshop, token string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     facilitatorCookieName(w.Code),
		Value:    token,
		Path:     "/workshops/" + w.Code,
		Expires:  w.ExpiresAt,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   s.secureRequest(c),
	})
}

// facilitate takes the facilitator link (?key=TOKEN), keeps the token in a
// cookie and moves on to the board, so the token leaves the address bar.
func (s *Server) facilitate(c *gin.Context) {
	w := workshopOf(c)
	ctx, cancel := wsCtx(c)
	defer cancel()
	if _, err := s.cfg.Workshops.Authorize(ctx, w.Code, c.Query("key")); err != nil {
		s.workshopFail(c, err)
		return
	}
	s.setFacilitatorCookie(c, w, c.Query("key"))
	c.Redirect(http.StatusSeeOther, "/workshops/"+w.Code+"/board")
}

const tokenKey = "facilitatorToken"

// facilitator lets only the holder of the workshop's token through.
func (s *Server) facilitator(c *gin.Context) {
	w := workshopOf(c)
	token, _ := c.Cookie(facilitatorCookieName(w.Code))
	ctx, cancel := wsCtx(c)
	defer cancel()
	if _, err := s.cfg.Workshops.Authorize(ctx, w.Code, token); err != nil {
		if errors.Is(err, workshops.ErrForbidden) {
			s.failWith(c, http.StatusForbidden, "key", "Only the facilitator can do this: open the facilitator link you were given when the workshop was created.")
		} else {
			s.workshopFail(c, err)
		}
		c.Abort()
		return
	}
	c.Set(tokenKey, token)
	c.Next()
}

// facilitatorLink is the link that gives the board to whoever holds it.
func (s *Server) facilitatorLink(c *gin.Context, code, token string) string {
	return s.origin(c) + "/workshops/" + code + "/facilitate?key=" + url.QueryEscape(token)
}

// origin is the scheme and host the browser used.
func (s *Server) origin(c *gin.Context) string {
	scheme := "http"
	if s.secureRequest(c) {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// boardAction is one facilitator action on the board's workshop: do it,
// note it in the log, and go back to the board.
type boardAction func(c *gin.Context, ctx context.Context, w workshops.Workshop) error

func (s *Server) onBoard(name string, do boardAction) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := workshopOf(c)
		ctx, cancel := wsCtx(c)
		defer cancel()
		if err := do(c, ctx, w); err != nil {
			s.workshopFail(c, err)
			return
		}
		s.log.Info("workshop "+name, "code", w.Code)
		s.backToBoard(c, w)
	}
}

// The facilitator's actions, by route.
func (s *Server) boardActions() map[string]boardAction {
	ws := s.cfg.Workshops
	return map[string]boardAction{
		"move": func(c *gin.Context, ctx context.Context, w workshops.Workshop) error {
			i, err := strconv.Atoi(c.PostForm("item"))
			if err != nil || i < 1 || i > len(w.Agenda) {
				return &workshops.FieldError{Field: "item", Msg: "choose an agenda item (1 to " + strconv.Itoa(len(w.Agenda)) + ") to move everyone to"}
			}
			return ws.Move(ctx, w.Code, i-1)
		},
		"lock": func(_ *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return ws.SetLocked(ctx, w.Code, true)
		},
		"unlock": func(_ *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return ws.SetLocked(ctx, w.Code, false)
		},
		"close": func(_ *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return ws.Close(ctx, w.Code)
		},
		"hands/:learner/on-my-way": func(c *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return handDown(ws.OnMyWay(ctx, w.Code, c.Param("learner")))
		},
		"hands/:learner/done": func(c *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return ws.LowerHand(ctx, w.Code, c.Param("learner"))
		},
		"pause": s.labsAction(workshops.NoticePaused, func(ctx context.Context, code string) error { return ws.SetPaused(ctx, code, true) }),
		"resume": func(_ *gin.Context, ctx context.Context, w workshops.Workshop) error {
			return ws.SetPaused(ctx, w.Code, false)
		},
		"reset-labs": s.labsAction(workshops.NoticeResetLabs, func(ctx context.Context, code string) error { return ws.Announce(ctx, code, workshops.NoticeResetLabs) }),
		"room-run":   s.roomRunAction,
	}
}

// errHandDown: the facilitator answered a hand that is down already.
var errHandDown = errors.New("this participant's hand is not raised any more")

func handDown(err error) error {
	if errors.Is(err, workshops.ErrNotJoined) {
		return errHandDown
	}
	return err
}

// backToBoard answers a facilitator's form: the board again, or 204 for the
// board's script, which redraws from the live stream.
func (s *Server) backToBoard(c *gin.Context, w workshops.Workshop) {
	if fetched(c) {
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, "/workshops/"+w.Code+"/board")
}

// ---- participants ---------------------------------------------------------------

type joinView struct {
	Code, Name, Error, Field string
	Text                     labText
}

func (s *Server) joinForm(c *gin.Context) {
	if !s.workshopsReady(c) {
		return
	}
	code := c.Param("code")
	if n, ok := workshops.NormalizeCode(code); ok {
		code = n
	}
	s.render(c, http.StatusOK, "workshop-join", view{Title: "Join a workshop", Section: "workshops", Data: joinView{Code: code, Text: s.wsText}})
}

func (s *Server) joinPost(c *gin.Context) {
	if !s.workshopsReady(c) {
		return
	}
	jv := joinView{Code: c.PostForm("code"), Name: c.PostForm("name"), Text: s.wsText}
	again := func(status int, field, msg string) {
		jv.Error, jv.Field = msg, field
		if fetched(c) || acceptsJSON(c) {
			s.failWith(c, status, field, msg)
			return
		}
		s.render(c, status, "workshop-join", view{Title: "Join a workshop", Section: "workshops", Data: jv})
	}
	code, ok := workshops.NormalizeCode(jv.Code)
	if !ok {
		again(http.StatusBadRequest, "code", "code: type the six characters your facilitator shows, like ACD-E34.")
		return
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	_, isNew, err := s.cfg.Workshops.Join(ctx, code, LearnerID(c), jv.Name)
	var fe *workshops.FieldError
	switch {
	case errors.As(err, &fe):
		again(http.StatusBadRequest, fe.Field, fe.Error())
		return
	case errors.Is(err, workshops.ErrNotFound):
		again(http.StatusNotFound, "code", "code: no workshop has this code. Check it with your facilitator.")
		return
	case errors.Is(err, workshops.ErrClosed), errors.Is(err, workshops.ErrLocked), errors.Is(err, workshops.ErrFull):
		again(http.StatusForbidden, "code", "code: "+err.Error()+".")
		return
	case err != nil:
		s.workshopFail(c, err)
		return
	}
	if isNew {
		s.log.Info("workshop joined", "code", code)
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: workshopCookie, Value: code, Path: "/", MaxAge: 7 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureRequest(c),
	})
	c.Redirect(http.StatusSeeOther, "/workshops/"+code)
}

// member returns the caller's entry in the workshop, or answers for them.
func (s *Server) member(c *gin.Context, w workshops.Workshop) (workshops.Participant, bool) {
	ctx, cancel := wsCtx(c)
	defer cancel()
	p, err := s.cfg.Workshops.Participant(ctx, w.Code, LearnerID(c))
	if errors.Is(err, workshops.ErrNotJoined) {
		if c.Request.Method == http.MethodGet && !fetched(c) {
			c.Redirect(http.StatusSeeOther, "/join/"+w.Code)
			return p, false
		}
	}
	if err != nil {
		s.workshopFail(c, err)
		return p, false
	}
	return p, true
}

func (s *Server) participantPage(c *gin.Context) {
	w := workshopOf(c)
	p, ok := s.member(c, w)
	if !ok {
		return
	}
	s.render(c, http.StatusOK, "workshop-participant", view{Title: w.Title, Section: "workshops", Data: struct {
		W     workshops.Workshop
		P     workshops.Participant
		Items []barItem
		Text  labText
	}{w, p, barItems(w, p), s.wsText}})
}

func (s *Server) participantHand(c *gin.Context) {
	w := workshopOf(c)
	if _, ok := s.member(c, w); !ok {
		return
	}
	ctx, cancel := wsCtx(c)
	defer cancel()
	var err error
	if c.PostForm("up") == "1" {
		err = s.cfg.Workshops.RaiseHand(ctx, w.Code, LearnerID(c))
	} else {
		err = s.cfg.Workshops.LowerHand(ctx, w.Code, LearnerID(c))
	}
	if err != nil {
		s.workshopFail(c, err)
		return
	}
	s.backTo(c, "/workshops/"+w.Code)
}

func (s *Server) participantLeave(c *gin.Context) {
	w := workshopOf(c)
	ctx, cancel := wsCtx(c)
	defer cancel()
	if err := s.cfg.Workshops.Leave(ctx, w.Code, LearnerID(c)); err != nil {
		s.workshopFail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: workshopCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureRequest(c)})
	c.Redirect(http.StatusSeeOther, "/lessons")
}

// backTo answers a participant's form: the page they came from when it is
// ours, else fallback.
func (s *Server) backTo(c *gin.Context, fallback string) {
	if fetched(c) {
		c.Status(http.StatusNoContent)
		return
	}
	to := fallback
	if back := c.PostForm("back"); strings.HasPrefix(back, "/") && !strings.HasPrefix(back, "//") && !strings.ContainsAny(back, "\\\r\n") {
		to = back
	}
	c.Redirect(http.StatusSeeOther, to)
}
