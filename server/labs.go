package server

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
)

// Bounds the web puts on what one learner may do in the lab, on top of the
// engine's own caps.
const (
	// maxWebSignups caps one browser-started load; the engine allows more
	// for the command line, but a shared server should not.
	maxWebSignups = 10_000
	// maxWebConcurrency caps one learner's requests in flight, so a full
	// workshop cannot open hundreds of thousands of connections at once.
	maxWebConcurrency = 200
	// maxStreamsPerLearner bounds live-update connections per browser.
	maxStreamsPerLearner = 3
	// maxStreamLife ends a live-update connection; the browser reconnects.
	maxStreamLife = 10 * time.Minute
)

// labWeb is the web side of the lab: the scenarios rendered for pages and
// the count of live-update streams per learner.
type labWeb struct {
	mgr       *labs.Manager
	recs      labs.Recordings
	text      labText
	scenarios []*scenarioView
	byID      map[string]*scenarioView

	mu      sync.Mutex
	streams map[string]int // learner -> open SSE connections
	// streamLife bounds one live-update connection (maxStreamLife; tests
	// shorten it).
	streamLife time.Duration
}

// scenarioView is a scenario with its Markdown rendered.
type scenarioView struct {
	*labs.Scenario
	Situation   template.HTML
	Explanation template.HTML
	Hints       []template.HTML
	Options     []optionView
}

type optionView struct {
	labs.Option
	Why template.HTML
}

func newLabWeb(fsys fs.FS, mgr *labs.Manager, recs labs.Recordings) (*labWeb, error) {
	sub, err := fs.Sub(fsys, "labs")
	if err != nil {
		return nil, fmt.Errorf("lab scenarios: %w", err)
	}
	scs, err := labs.LoadScenarios(sub)
	if err != nil {
		return nil, fmt.Errorf("content/labs: %w", err)
	}
	w := &labWeb{mgr: mgr, recs: recs, byID: map[string]*scenarioView{}, streams: map[string]int{}, streamLife: maxStreamLife}
	if w.text, err = loadLabText(fsys, mgr.Max()); err != nil {
		return nil, err
	}
	figs := QuoteFigures(recs)
	for _, sc := range scs {
		v := &scenarioView{Scenario: sc}
		// The texts may quote the scenario's recorded figures; one that was
		// never recorded stops start-up, naming it.
		if v.Situation, err = lessons.RenderText(sc.Situation, figs, sc.ID+"-situation-"); err != nil {
			return nil, fmt.Errorf("content/labs: scenario %s: situation: %w", sc.ID, err)
		}
		if v.Explanation, err = lessons.RenderText(sc.Explanation, figs, sc.ID+"-explanation-"); err != nil {
			return nil, fmt.Errorf("content/labs: scenario %s: explanation: %w", sc.ID, err)
		}
		for _, h := range sc.Hints {
			v.Hints = append(v.Hints, mdHTML(h))
		}
		for _, o := range sc.Predict.Options {
			v.Options = append(v.Options, optionView{Option: o, Why: mdHTML(o.Why)})
		}
		w.scenarios = append(w.scenarios, v)
		w.byID[sc.ID] = v
	}
	return w, nil
}

// labText is the words of the lab pages (content/labs/page/text.yaml),
// rendered as inline Markdown.
type labText map[string]template.HTML

func loadLabText(fsys fs.FS, maxLabs int) (labText, error) {
	return loadPageText(fsys, "labs/page/text.yaml", strings.NewReplacer("{max}", strconv.Itoa(maxLabs)))
}

// loadPageText reads the words of a group of pages from content: a YAML map
// of inline Markdown, with placeholders replaced by r (nil: none).
func loadPageText(fsys fs.FS, name string, r *strings.Replacer) (labText, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read content/%s: %w", name, err)
	}
	var src map[string]string
	if err := yaml.Unmarshal(raw, &src); err != nil {
		return nil, fmt.Errorf("content/%s: %w", name, err)
	}
	t := labText{}
	for k, v := range src {
		if r != nil {
			v = r.Replace(v)
		}
		html := strings.TrimSpace(string(mdHTML(v)))
		html = strings.TrimSuffix(strings.TrimPrefix(html, "<p>"), "</p>")
		t[k] = template.HTML(html)
	}
	return t, nil
}

// Get returns the words under key; a missing key shows as itself so a typo
// is visible (and tests catch it) rather than blank.
func (t labText) Get(key string) template.HTML {
	if v, ok := t[key]; ok {
		return v
	}
	return template.HTML("[" + template.HTMLEscapeString(key) + "]")
}

func mdHTML(src string) template.HTML {
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(buf.String())
}

// acquireStream counts one more live-update stream for learner, refusing
// beyond the bound; release gives it back.
func (w *labWeb) acquireStream(learner string) (release func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.streams[learner] >= maxStreamsPerLearner {
		return nil, false
	}
	w.streams[learner]++
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			if w.streams[learner]--; w.streams[learner] <= 0 {
				delete(w.streams, learner)
			}
			w.mu.Unlock()
		})
	}, true
}

// labRoutes serves the signup lab. Every route under /labs/s/:sb checks that
// the sandbox in the address is the caller's own.
func (s *Server) labRoutes(r gin.IRouter) {
	r.GET("/labs", s.labIndex)
	r.GET("/labs/scenarios/:sc", s.labScenarioLink)
	r.GET("/labs/results", s.labResultsIndex)
	r.GET("/labs/results/:id", s.labResults)
	g := r.Group("/labs/s/:sb", s.ownLab)
	g.GET("", s.labPage)
	g.POST("/settings", s.labSettings)
	g.POST("/run", s.labRun)
	g.POST("/cancel", s.labCancel)
	g.POST("/reset", s.labReset)
	g.GET("/events", s.labEvents)
	g.GET("/snapshot", s.labSnapshotJSON)
	g.GET("/dead-letters", s.labDeadLetters)
	g.GET("/signups/:user", s.labSignup)
	g.GET("/timeline", s.labTimeline)
	g.POST("/dead-letters/replay", s.labReplay)
	g.POST("/poison", s.labPoison)
	g.POST("/trace", s.labTrace)
	g.GET("/history", s.labHistory)
	g.GET("/history.csv", s.labHistoryCSV)
	g.GET("/history.json", s.labHistoryJSON)
	g.GET("/scenarios/:sc", s.labScenario)
	g.POST("/scenarios/:sc/predict", s.labPredict)
	g.POST("/scenarios/:sc/run", s.labScenarioRun)
	g.POST("/scenarios/:sc/hint", s.labHint)
	g.POST("/scenarios/:sc/show-me", s.labShowMe)
}

// labsReady answers with a friendly page when the server runs without a lab
// manager (as some tests and tools build it).
func (s *Server) labsReady(c *gin.Context) bool {
	if s.lab == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "The lab is not available on this server.")
		c.Abort()
		return false
	}
	return true
}

// labIndex creates the learner's sandbox on the first visit and shows it.
func (s *Server) labIndex(c *gin.Context) {
	if s.lab == nil {
		// No lab manager (a server built without one): say what is coming.
		s.render(c, http.StatusOK, "soon", view{Title: "Labs", Section: "labs", Data: s.site.entry("/labs")})
		return
	}
	// A scenario link (/labs?scenario=ID, as the lessons use) opens that
	// scenario in the learner's own lab.
	var sc *scenarioView
	if id := c.Query("scenario"); id != "" {
		if sc = s.lab.byID[id]; sc == nil {
			s.errorPage(c, http.StatusNotFound, "There is no lab scenario called "+strconv.Quote(id)+".")
			return
		}
	}
	if id, err := c.Cookie(learnerCookieName); err != nil || id != LearnerID(c) {
		c.Header("Cache-Control", "no-store")
		if c.Query(cookieCheckParam) != "" {
			// Sent back once with the cookie and still without it: this
			// client keeps no cookies. Say so instead of redirecting for ever.
			s.render(c, http.StatusOK, "lab-cookies", view{Title: "The lab needs a cookie", Section: "labs",
				Data: labCookiesPage{T: s.lab.text, Retry: labsURL(sc, false)}})
			return
		}
		// The learner cookie was minted just now: come back with it before a
		// sandbox is made, so clients that keep no cookies (crawlers, scripts)
		// cannot create one per request. The scenario asked for comes along,
		// and a marker tells the second visit from the first.
		c.Redirect(http.StatusSeeOther, labsURL(sc, true))
		return
	}
	if s.lab.mgr.Lookup(LearnerID(c)) == nil && !s.allow(c, rateSandboxes) {
		return // this visit would make a sandbox, and the address has made its share
	}
	// The sandbox counts against the client's address, so one visitor
	// collecting cookies cannot take every place (ManagerOptions.PerAddress).
	l, err := s.lab.mgr.Open(c.Request.Context(), LearnerID(c), s.clientKey(c))
	if e, ok := labs.IsElsewhere(err); ok {
		s.passOn(c, e)
		return
	}
	if errors.Is(err, labs.ErrFull) {
		c.Header("Retry-After", "600")
		s.render(c, http.StatusServiceUnavailable, "lab-full", view{Title: "The lab is full", Section: "labs", Data: s.lab.text})
		return
	}
	if errors.Is(err, labs.ErrAddressFull) {
		// Unused labs expire after 10 minutes, so that is when a place is
		// sure to come free unless the other labs are in use.
		c.Header("Retry-After", "600")
		s.log.Warn("lab refused: address holds its share", "client", s.clientKey(c), "per_address", s.lab.mgr.PerAddress())
		s.labFail(c, http.StatusTooManyRequests, "sandbox", fmt.Sprintf(
			"Your address already has %d lab sandboxes open, as many as one address may have on this server. "+
				"Use one of them (in the browser that opened it), or wait until an unused one closes after 10 minutes. "+
				"A workshop behind one shared address can ask its facilitator to raise --lab-per-address.", s.lab.mgr.PerAddress()))
		return
	}
	if err != nil {
		s.log.Error("open lab", "err", err)
		s.errorPage(c, http.StatusServiceUnavailable, "Your lab could not be started just now. Please try again in a minute.")
		return
	}
	c.Set(labKey, l)
	if sc != nil {
		c.Redirect(http.StatusSeeOther, scenarioURL(l, sc, ""))
		return
	}
	s.renderLab(c, http.StatusOK, l, labNotice{})
}

// cookieCheckParam marks the redirect that hands a new learner their cookie;
// arriving with it and without the cookie means cookies are off.
const cookieCheckParam = "cookie"

// labsURL is /labs, with the scenario asked for and, for the cookie
// redirect, the marker.
func labsURL(sc *scenarioView, check bool) string {
	q := url.Values{}
	if sc != nil {
		q.Set("scenario", sc.ID)
	}
	if check {
		q.Set(cookieCheckParam, "1")
	}
	if len(q) == 0 {
		return "/labs"
	}
	return "/labs?" + q.Encode()
}

// labCookiesPage is what lab-cookies.html receives.
type labCookiesPage struct {
	T     labText
	Retry string
}

// labScenarioLink is a scenario's address that does not depend on the
// learner's sandbox: it opens the scenario in their own lab.
func (s *Server) labScenarioLink(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/labs?scenario="+url.QueryEscape(c.Param("sc")))
}

const labKey = "lab"

// ownLab loads the caller's lab and refuses any sandbox id that is not
// theirs with the same 404 as one that does not exist, so ids cannot be
// probed.
func (s *Server) ownLab(c *gin.Context) {
	if !s.labsReady(c) {
		return
	}
	l := s.lab.mgr.Lookup(LearnerID(c))
	if l == nil {
		// Another instance may have run it: take it up, or pass the
		// request on to the instance running it.
		var err error
		l, err = s.lab.mgr.Resume(c.Request.Context(), LearnerID(c), s.clientKey(c))
		if e, ok := labs.IsElsewhere(err); ok {
			s.passOn(c, e)
			return
		}
		if err != nil && !errors.Is(err, labs.ErrFull) && !errors.Is(err, labs.ErrAddressFull) {
			s.log.Error("resume lab", "err", err)
		}
	}
	if l == nil || l.ID() != c.Param("sb") {
		s.labFail(c, http.StatusNotFound, "sandbox", "This lab sandbox does not exist or is not yours. Open the lab again to get your own.")
		c.Abort()
		return
	}
	c.Set(labKey, l)
	c.Next()
}

func labOf(c *gin.Context) *labs.Lab {
	l, _ := c.Get(labKey)
	return l.(*labs.Lab)
}

// fetched tells a request made by lab.js (which wants JSON) from a plain
// form post (which wants a page).
func fetched(c *gin.Context) bool { return c.GetHeader("X-Requested-With") == "fetch" }

func wantsJSON(c *gin.Context) bool {
	return fetched(c) || strings.Contains(c.GetHeader("Accept"), "application/json")
}

// labFail answers a refused request: JSON naming the field for lab.js, a
// page otherwise.
func (s *Server) labFail(c *gin.Context, status int, field, msg string) {
	if wantsJSON(c) {
		c.JSON(status, gin.H{"error": msg, "field": field})
		return
	}
	if l, ok := c.Get(labKey); ok && status == http.StatusBadRequest {
		s.renderLab(c, status, l.(*labs.Lab), labNotice{Error: msg, Field: field})
		return
	}
	s.errorPage(c, status, msg)
}

// fieldFail turns an engine error into a 400 naming the field, a busy lab
// into 409 and anything else into 503.
func (s *Server) fieldFail(c *gin.Context, err error) {
	var fe *labs.FieldError
	switch {
	case errors.As(err, &fe):
		field := strings.ReplaceAll(fe.Field, ".", "_") // the engine's "email.error_rate" is the form's "email_error_rate"
		s.labFail(c, http.StatusBadRequest, field, fieldLabel(field)+": "+fe.Reason)
	case errors.Is(err, labs.ErrBusy):
		s.labFail(c, http.StatusConflict, "run", "A load is already running in your lab. Wait for it to finish or cancel it.")
	case errors.Is(err, labs.ErrRoomBusy):
		// Other learners' loads hold the server's budget of signups in
		// flight; a run takes seconds, so try again soon.
		c.Header("Retry-After", "15")
		s.labFail(c, http.StatusServiceUnavailable, "concurrency", "The room is busy: "+strings.TrimPrefix(err.Error(), labs.ErrRoomBusy.Error()+": ")+
			". Try again in a few seconds, or with a lower concurrency.")
	case errors.Is(err, labs.ErrStorageFull):
		s.labFail(c, http.StatusConflict, "run", sentence(err.Error()))
	case errors.Is(err, labs.ErrNotFound):
		s.labFail(c, http.StatusNotFound, "id", "That item does not exist (any more).")
	case errors.Is(err, labs.ErrClosed):
		s.labFail(c, http.StatusGone, "sandbox", "Your lab sandbox was closed. Open the lab again to get a fresh one.")
	default:
		s.log.Error("lab request", "path", c.Request.URL.Path, "err", err)
		s.labFail(c, http.StatusServiceUnavailable, "", "The lab could not do that just now. Please try again.")
	}
}

// sentence makes an error message a sentence: capital first, full stop last.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// done answers a successful change: JSON for lab.js, a redirect back to the
// page (post/redirect/get) otherwise.
func (s *Server) done(c *gin.Context, to string, body gin.H) {
	if wantsJSON(c) {
		body["ok"] = true
		c.JSON(http.StatusOK, body)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

func labURL(l *labs.Lab, rest string) string { return "/labs/s/" + l.ID() + rest }

// labReset closes the caller's sandbox and starts a fresh one.
func (s *Server) labReset(c *gin.Context) {
	if err := s.lab.mgr.Reset(LearnerID(c)); err != nil {
		s.log.Warn("reset lab", "err", err)
	}
	if wantsJSON(c) {
		c.JSON(http.StatusOK, gin.H{"ok": true, "location": "/labs"})
		return
	}
	c.Redirect(http.StatusSeeOther, "/labs")
}
