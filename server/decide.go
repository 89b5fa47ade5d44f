package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/crossroads-learn/crossroads/decide"
)

// Body limits of the decide routes. A wizard post carries at most a step's
// answers; an upload carries one answers file and its multipart envelope.
const (
	maxDecideForm      = 1 << 20
	maxDecideStartForm = 4 << 10
	maxDecideUpload    = decide.MaxInputBytes + 16<<10
)

// decideRoutes serves the decision wizard: five steps and a review page,
// with the learner's answers kept server-side in Redis.
func (s *Server) decideRoutes(r gin.IRouter) {
	r.GET("/decide", s.decideStart)
	r.POST("/decide/start", s.decideBegin)
	r.GET("/decide/step/:n", s.decideStep)
	r.POST("/decide/step/:n", s.decideStepPost)
	r.POST("/decide/preview/:n", s.decidePreview)
	r.GET("/decide/review", s.decideReview)
	r.GET("/decide/record.md", s.decideRecord)
	r.GET("/decide/answers.json", s.decideAnswers("json"))
	r.GET("/decide/answers.yaml", s.decideAnswers("yaml"))
	r.POST("/decide/upload", s.decideUpload)
	r.POST("/decide/status", s.decideStatus)
	r.POST("/decide/reset", s.decideReset)
}

type decideStepLink struct {
	N           int
	Short, Href string
	Current     bool
	Reached     bool
}

type decidePage struct {
	Text       *decide.Text
	Prompts    map[string]string
	Steps      []decideStepLink
	N          int
	Step       decide.Step
	Fields     []decideField
	Journeys   []decideJourneyView
	Groups     []decideInteractionView
	After      []decideField
	JourneyErr string
	Errors     []decideErrorLink
	Preview    decidePreviewView
	// Glossary is what the questions asked of every interaction mean,
	// said once for the step rather than under each interaction.
	Glossary      []decideField
	Prev          int
	IsLast        bool
	CanAddJourney bool
	Warnings      []decide.Warning
}

func (s *Server) decideToday() string { return time.Now().UTC().Format("2006-01-02") }

func decideProgress(txt *decide.Text, current, reached int) []decideStepLink {
	var out []decideStepLink
	for i, st := range txt.Steps {
		out = append(out, decideStepLink{N: i + 1, Short: st.Short, Href: "/decide/step/" + strconv.Itoa(i+1), Current: i+1 == current, Reached: i+1 <= reached})
	}
	out = append(out, decideStepLink{N: 6, Short: txt.Prompts["review"], Href: "/decide/review", Current: current == 6, Reached: reached >= 6})
	return out
}

// draft loads the learner's draft or answers with an error page.
func (s *Server) loadDecide(c *gin.Context) (decide.Draft, bool, bool) {
	d, found, err := s.drafts.Load(c.Request.Context(), LearnerID(c))
	if err != nil {
		s.log.Error("decide draft", "err", err)
		c.Header("Retry-After", "5")
		s.errorPage(c, http.StatusServiceUnavailable, "Your saved answers cannot be reached right now. Please try again in a moment.")
		return d, false, false
	}
	return d, found, true
}

// savedDraft loads the learner's draft for a page that needs one; without a
// draft it sends the learner to the start page and reports false.
func (s *Server) savedDraft(c *gin.Context) (decide.Draft, bool) {
	d, found, ok := s.loadDecide(c)
	if ok && !found {
		c.Redirect(http.StatusSeeOther, "/decide")
	}
	return d, ok && found
}

func (s *Server) decideSave(c *gin.Context, d decide.Draft) bool {
	err := s.drafts.Save(c.Request.Context(), LearnerID(c), d)
	switch {
	case err == nil:
		return true
	case errors.Is(err, decide.ErrDraftTooLarge):
		s.log.Info("decide draft refused", "err", err)
		s.errorPage(c, http.StatusRequestEntityTooLarge, decideTooLargeMessage)
	default:
		s.log.Error("decide save", "err", err)
		c.Header("Retry-After", "5")
		s.errorPage(c, http.StatusServiceUnavailable, "Your answers could not be saved right now. Please try again in a moment.")
	}
	return false
}

var decideTooLargeMessage = fmt.Sprintf("Together your answers are too large to keep: at most %d KB can be saved. "+
	"Shorten the longest answers or remove a journey; the answers saved before are kept.", decide.MaxDraftBytes>>10)

func (s *Server) decideStart(c *gin.Context) {
	txt := s.decideText
	d, found, ok := s.loadDecide(c)
	if !ok {
		return
	}
	resume := ""
	if found {
		resume = "/decide/step/" + strconv.Itoa(max(1, min(d.Reached, 5)))
		if d.Reached >= 6 {
			resume = "/decide/review"
		}
	}
	s.render(c, http.StatusOK, "decide_start", view{Title: "Decide", Section: "decide",
		Data: decideStartPage{txt, resume, d.Answers.Title, nil}})
}

func (s *Server) decideBegin(c *gin.Context) {
	if !s.decideParseForm(c, maxDecideStartForm) {
		return
	}
	a := blankDecideAnswers()
	if c.PostForm("from") == "example" {
		a = decide.Seed()
	}
	if !s.decideSave(c, decide.Draft{Answers: a.Normalized(s.decideToday()), Reached: 1}) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/decide/step/1")
}

func decideStepNumber(c *gin.Context) (int, bool) {
	n, err := strconv.Atoi(c.Param("n"))
	return n, err == nil && n >= 1 && n <= 5
}

func (s *Server) decideStep(c *gin.Context) {
	n, ok := decideStepNumber(c)
	if !ok {
		s.errorPage(c, http.StatusNotFound, "The questionnaire has five steps, numbered 1 to 5.")
		return
	}
	d, ok := s.savedDraft(c)
	if !ok {
		return
	}
	if n > d.Reached {
		d.Reached = n
		if !s.decideSave(c, d) {
			return
		}
	}
	s.renderDecideStep(c, http.StatusOK, n, d, nil)
}

func (s *Server) renderDecideStep(c *gin.Context, status, n int, d decide.Draft, errs []decide.FieldError) {
	txt := s.decideText
	byPath := map[string]string{}
	var links []decideErrorLink
	for _, e := range errs {
		if _, dup := byPath[e.Path]; !dup {
			byPath[e.Path] = e.Msg
		}
		links = append(links, decideErrorLink{ID: decideFieldID(e.Path), Path: e.Path, Msg: e.Msg, Name: txt.Describe(d.Answers, e.Path)})
	}
	p := decidePage{Text: txt, Prompts: txt.Prompts, Steps: decideProgress(txt, n, d.Reached), N: n, Step: txt.Steps[n-1],
		Errors: links, Prev: n - 1, IsLast: n == 5, JourneyErr: byPath["journeys"],
		CanAddJourney: len(d.Answers.Journeys) < decide.MaxJourneys}
	p.Fields, p.Journeys, p.Groups, p.After, p.Glossary = decideStepFields(txt, n, d.Answers, byPath)
	p.Preview = newDecidePreview(txt, d.Answers)
	p.Warnings = txt.Evaluate(d.Answers).AllWarnings()
	s.render(c, status, "decide", view{Title: fmt.Sprintf("Decide · step %d: %s", n, p.Step.Short), Section: "decide", Data: p})
}

// decideParseForm reads a posted form of at most limit bytes.
func (s *Server) decideParseForm(c *gin.Context, limit int64) bool {
	if c.Request.ContentLength > limit {
		s.errorPage(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("That form is too large: at most %d KB is accepted here.", limit>>10))
		return false
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.errorPage(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("That form is too large: at most %d KB is accepted here.", limit>>10))
			return false
		}
		s.errorPage(c, http.StatusBadRequest, "That form could not be read.")
		return false
	}
	return true
}

func (s *Server) decideStepPost(c *gin.Context) {
	n, ok := decideStepNumber(c)
	if !ok {
		s.errorPage(c, http.StatusNotFound, "The questionnaire has five steps, numbered 1 to 5.")
		return
	}
	if !s.decideParseForm(c, maxDecideForm) {
		return
	}
	d, found, ok := s.loadDecide(c)
	if !ok {
		return
	}
	if !found {
		d = decide.Draft{Answers: blankDecideAnswers().Normalized(s.decideToday()), Reached: 1}
	}
	txt := s.decideText
	merged, errs := mergeDecideStep(txt, d.Answers, n, c.Request.PostForm)
	d.Answers = merged
	action := c.PostForm("action")
	known, fe := applyDecideAction(&d.Answers, action)
	// Whatever else is wrong, the draft keeps only what fits the limits:
	// an over-long answer is cut (and the page says so), the rest is kept.
	var clipped []decide.FieldError
	d.Answers, clipped = decide.Clip(d.Answers)
	errs = append(errs, clipped...)
	if _, err := decide.EncodeDraft(d); errors.Is(err, decide.ErrDraftTooLarge) {
		s.log.Info("decide draft refused", "err", err)
		s.renderDecideStep(c, http.StatusRequestEntityTooLarge, n, d,
			append(errs, decide.FieldError{Path: "(answers)", Msg: decideTooLargeMessage}))
		return
	}
	if known {
		// Structural edits save and come back to the same step, so they
		// work without JavaScript.
		if fe != nil {
			errs = append(errs, *fe)
		}
		if !s.decideSave(c, d) {
			return
		}
		if len(errs) > 0 {
			s.renderDecideStep(c, http.StatusUnprocessableEntity, n, d, errs)
			return
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/decide/step/%d#journeys", n))
		return
	}
	target := ""
	switch {
	case action == "back":
		target = fmt.Sprintf("/decide/step/%d", max(1, n-1))
		if n == 1 {
			target = "/decide"
		}
	case action == "save":
		target = fmt.Sprintf("/decide/step/%d", n)
	case strings.HasPrefix(action, "goto:"):
		g, err := strconv.Atoi(strings.TrimPrefix(action, "goto:"))
		if err != nil || g < 1 || g > 6 {
			s.errorPage(c, http.StatusBadRequest, "Unknown step.")
			return
		}
		target = fmt.Sprintf("/decide/step/%d", g)
		if g == 6 {
			target = "/decide/review"
		}
	default: // next
		if err := decide.Validate(d.Answers); err != nil {
			var ve *decide.ValidationError
			if errors.As(err, &ve) {
				for _, f := range ve.Fields {
					if txt.StepOf(f.Path) == n {
						errs = append(errs, f)
					}
				}
			}
		}
		if n == 5 {
			target = "/decide/review"
		} else {
			target = fmt.Sprintf("/decide/step/%d", n+1)
		}
		if len(errs) == 0 {
			d.Reached = max(d.Reached, n+1)
		}
	}
	if !s.decideSave(c, d) {
		return
	}
	if len(clipped) > 0 || len(errs) > 0 && action != "back" && !strings.HasPrefix(action, "goto:") {
		s.renderDecideStep(c, http.StatusUnprocessableEntity, n, d, errs)
		return
	}
	c.Redirect(http.StatusSeeOther, target)
}

// decidePreview renders the record for the posted, unsaved answers of a step
// so the page can refresh its preview while the learner types.
func (s *Server) decidePreview(c *gin.Context) {
	n, ok := decideStepNumber(c)
	if !ok {
		c.String(http.StatusNotFound, "unknown step")
		return
	}
	if !s.decideParseForm(c, maxDecideForm) {
		return
	}
	d, _, ok := s.loadDecide(c)
	if !ok {
		return
	}
	txt := s.decideText
	merged, _ := mergeDecideStep(txt, d.Answers, n, c.Request.PostForm)
	merged, _ = decide.Clip(merged)
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c) {
		// decide.js: the preview fragment and the interactions' badges.
		html, err := s.renderPreview(newDecidePreview(txt, merged))
		if err != nil {
			s.log.Error("render decide preview", "err", err)
			c.JSON(http.StatusInternalServerError, gin.H{"error": "the preview could not be drawn"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"html": html, "badges": decideBadges(txt, merged)})
		return
	}
	text, _ := txt.Render(merged, decide.Options{Format: decide.FormatMADR})
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(text))
}

func decideFormat(c *gin.Context) (string, bool) {
	f := c.DefaultQuery("format", decide.FormatMADR)
	return f, f == decide.FormatMADR || f == decide.FormatNygard || f == decide.FormatMinimal
}

func decideValidationLinks(txt *decide.Text, a decide.Answers, err error) []decideErrorLink {
	var ve *decide.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []decideErrorLink
	for i, f := range ve.Fields {
		if i == decide.MaxErrors {
			more := &decide.ValidationError{More: len(ve.Fields) - i + ve.More}
			out = append(out, decideErrorLink{ID: "/decide/review", Path: "…", Msg: more.MoreMessage()})
			break
		}
		step := txt.StepOf(f.Path)
		href := "/decide/review"
		if step > 0 {
			href = fmt.Sprintf("/decide/step/%d#%s", step, decideFieldID(f.Path))
		}
		out = append(out, decideErrorLink{ID: href, Path: f.Path, Msg: f.Msg, Name: txt.Describe(a, f.Path)})
	}
	return out
}

func (s *Server) decideReview(c *gin.Context) {
	s.renderDecideReview(c, http.StatusOK, nil)
}

func (s *Server) renderDecideReview(c *gin.Context, status int, extra []decideErrorLink) {
	txt := s.decideText
	d, ok := s.savedDraft(c)
	if !ok {
		return
	}
	format, ok := decideFormat(c)
	if !ok {
		s.errorPage(c, http.StatusBadRequest, "format must be madr, nygard or minimal")
		return
	}
	if d.Reached < 6 {
		d.Reached = 6
		if !s.decideSave(c, d) {
			return
		}
	}
	record, _ := txt.Render(d.Answers, decide.Options{Format: format})
	errs := append(extra, decideValidationLinks(txt, d.Answers, decide.Validate(d.Answers))...)
	if len(errs) > 0 && status == http.StatusOK {
		status = http.StatusUnprocessableEntity
	}
	res := txt.Evaluate(d.Answers)
	s.render(c, status, "decide_review", view{Title: "Decide · review", Section: "decide", Data: struct {
		Text     *decide.Text
		Prompts  map[string]string
		Steps    []decideStepLink
		Record   string
		Format   string
		Formats  []string
		Errors   []decideErrorLink
		Outcomes []decide.Outcome
		Warnings []decide.Warning
		Status   string
		Next     []string
		Diagrams []decide.Diagram
	}{txt, txt.Prompts, decideProgress(txt, 6, d.Reached), record, format, []string{decide.FormatMADR, decide.FormatNygard, decide.FormatMinimal},
		errs, res.Outcomes, res.AllWarnings(), d.Answers.Status, decide.NextStatuses(d.Answers.Status), txt.Diagrams(d.Answers)}})
}

func (s *Server) decideRecord(c *gin.Context) {
	d, found, ok := s.loadDecide(c)
	if !ok {
		return
	}
	if !found {
		s.errorPage(c, http.StatusNotFound, "There is no decision to download yet. Start the questionnaire first.")
		return
	}
	format, ok := decideFormat(c)
	if !ok {
		s.errorPage(c, http.StatusBadRequest, "format must be madr, nygard or minimal")
		return
	}
	if err := decide.Validate(d.Answers); err != nil {
		s.renderDecideReview(c, http.StatusUnprocessableEntity, nil)
		return
	}
	text, err := s.decideText.Render(d.Answers, decide.Options{Format: format})
	if err != nil {
		s.errorPage(c, http.StatusBadRequest, err.Error())
		return
	}
	name := decide.Slug(d.Answers.Title) + ".md"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/markdown; charset=utf-8", []byte(text))
}

func (s *Server) decideAnswers(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, found, ok := s.loadDecide(c)
		if !ok {
			return
		}
		if !found {
			s.errorPage(c, http.StatusNotFound, "There are no answers to download yet. Start the questionnaire first.")
			return
		}
		var buf bytes.Buffer
		ctype := "application/json"
		if kind == "yaml" {
			ctype = "application/yaml"
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(d.Answers); err != nil {
				s.errorPage(c, http.StatusInternalServerError, "The answers could not be encoded.")
				return
			}
		} else {
			if err := encodeDecideJSON(&buf, d.Answers); err != nil {
				s.errorPage(c, http.StatusInternalServerError, "The answers could not be encoded.")
				return
			}
		}
		name := decide.Slug(d.Answers.Title) + "-answers." + kind
		c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusOK, ctype+"; charset=utf-8", buf.Bytes())
	}
}

// decideUploadTooLarge is the answer to an answers file over the limit,
// whether the body was cut by this route's limit, a server-wide one, or the
// file itself is over decide.MaxInputBytes.
func (s *Server) decideUploadTooLarge(c *gin.Context) {
	s.renderDecideUploadError(c, http.StatusRequestEntityTooLarge, []decideErrorLink{{Path: "answers",
		Msg: fmt.Sprintf("the file is too large: an answers file may be at most %d KB", decide.MaxInputBytes>>10)}})
}

func (s *Server) decideUpload(c *gin.Context) {
	if c.Request.ContentLength > maxDecideUpload {
		s.decideUploadTooLarge(c)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxDecideUpload)
	fh, err := c.FormFile("answers")
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			s.decideUploadTooLarge(c)
		case errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart):
			s.renderDecideUploadError(c, http.StatusUnprocessableEntity, []decideErrorLink{{Path: "answers", Msg: "choose an answers file (YAML or JSON) to upload"}})
		default:
			s.renderDecideUploadError(c, http.StatusBadRequest, []decideErrorLink{{Path: "answers", Msg: "the upload could not be read; choose the file and send it again"}})
		}
		return
	}
	f, err := fh.Open()
	if err != nil {
		s.log.Error("decide upload", "err", err)
		s.renderDecideUploadError(c, http.StatusUnprocessableEntity, []decideErrorLink{{Path: "answers", Msg: "the file could not be read"}})
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, decide.MaxInputBytes+1))
	if err != nil {
		s.log.Error("decide upload", "err", err)
		s.renderDecideUploadError(c, http.StatusUnprocessableEntity, []decideErrorLink{{Path: "answers", Msg: "the file could not be read"}})
		return
	}
	if len(b) > decide.MaxInputBytes {
		s.decideUploadTooLarge(c)
		return
	}
	a, err := decide.Parse(b)
	if err != nil {
		var links []decideErrorLink
		var ve *decide.ValidationError
		if errors.As(err, &ve) {
			for _, f := range ve.Fields {
				links = append(links, decideErrorLink{Path: f.Path, Msg: f.Msg})
			}
			if m := ve.MoreMessage(); m != "" {
				links = append(links, decideErrorLink{Path: "…", Msg: m})
			}
		}
		s.renderDecideUploadError(c, http.StatusUnprocessableEntity, links)
		return
	}
	d := decide.Draft{Answers: a.Normalized(s.decideToday()), Reached: 6}
	if _, err := decide.EncodeDraft(d); errors.Is(err, decide.ErrDraftTooLarge) {
		s.log.Info("decide upload refused", "err", err)
		s.renderDecideUploadError(c, http.StatusRequestEntityTooLarge, []decideErrorLink{{Path: "answers", Msg: decideTooLargeMessage}})
		return
	}
	if !s.decideSave(c, d) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/decide/review")
}

func (s *Server) renderDecideUploadError(c *gin.Context, status int, errs []decideErrorLink) {
	txt := s.decideText
	// The draft only adds a resume link here: if Redis cannot be reached,
	// the page still says what was wrong with the file.
	d, found, err := s.drafts.Load(c.Request.Context(), LearnerID(c))
	if err != nil {
		s.log.Warn("decide draft for the upload page", "err", err)
	}
	resume := ""
	if found {
		resume = "/decide/step/1"
	}
	s.render(c, status, "decide_start", view{Title: "Decide", Section: "decide",
		Data: decideStartPage{txt, resume, d.Answers.Title, errs}})
}

func (s *Server) decideStatus(c *gin.Context) {
	if !s.decideParseForm(c, maxDecideForm) {
		return
	}
	d, ok := s.savedDraft(c)
	if !ok {
		return
	}
	to := c.PostForm("status")
	if err := decide.CheckTransition(d.Answers.Status, to); err != nil {
		msg := strings.TrimPrefix(err.Error(), decide.ErrInvalid.Error()+": ")
		s.renderDecideReview(c, http.StatusUnprocessableEntity, []decideErrorLink{{ID: "#status", Path: "status", Msg: msg}})
		return
	}
	if err := decide.Validate(d.Answers); err != nil && to == "accepted" {
		s.renderDecideReview(c, http.StatusUnprocessableEntity, []decideErrorLink{{ID: "#status", Path: "status", Msg: "fix the answers below before accepting the decision"}})
		return
	}
	d.Answers.Status = to
	if !s.decideSave(c, d) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/decide/review")
}

// decideReset deletes the learner's answers once they confirmed it: the
// start page's button only asks.
func (s *Server) decideReset(c *gin.Context) {
	if !s.decideParseForm(c, 4<<10) {
		return
	}
	if c.PostForm("confirm") != "yes" {
		txt := s.decideText
		s.render(c, http.StatusOK, "decide_discard", view{Title: txt.Prompts["discard_title"], Section: "decide", Data: txt.Prompts})
		return
	}
	if err := s.drafts.Delete(c.Request.Context(), LearnerID(c)); err != nil {
		s.log.Error("decide reset", "err", err)
		c.Header("Retry-After", "5")
		s.errorPage(c, http.StatusServiceUnavailable, "Your answers could not be removed right now. Please try again in a moment.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/decide")
}

// decideStartPage is what the start page shows: the framework's steps, where
// to resume a saved draft, and any upload errors.
type decideStartPage struct {
	Text   *decide.Text
	Resume string
	Title  string
	Error  []decideErrorLink
}

// encodeDecideJSON writes answers as indented JSON, the same shape the CLI reads.
func encodeDecideJSON(w io.Writer, a decide.Answers) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(a)
}
