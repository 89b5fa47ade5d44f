package server

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// labNotice is a message shown at the top of the lab page after a form post.
type labNotice struct {
	Error string
	Field string
	Info  string
}

// labPageData is everything lab.html shows, rendered on the server first.
type labPageData struct {
	ID        string
	Base      string // /labs/s/<id>
	Settings  labs.Settings
	Load      loadForm
	Snap      labs.Snapshot
	Status    labs.RunStatus
	Picture   picture
	Notice    labNotice
	Scenarios []scenarioRow
	DeadPanel deadPanel
	History   []historyRow
	MaxSign   int
	MaxConc   int
	T         labText
}

type loadForm struct {
	Signups, Concurrency int
	Rate                 float64
	RecoverAfterMS       int64
}

type scenarioRow struct {
	*scenarioView
	Reached   bool
	Predicted bool
}

// Progress names how far the learner got: "new", "predicted" or "reached".
func (r scenarioRow) Progress() string {
	switch {
	case r.Reached:
		return "reached"
	case r.Predicted:
		return "predicted"
	}
	return "new"
}

// settingLabels name each control as the page labels it, so an error names
// the field the learner sees.
var settingLabels = map[string]string{
	"mode": "Mode", "email_latency": "Email latency", "email_jitter": "Email jitter", "email_error_rate": "Email error rate",
	"email_down": "Email down", "email_hang": "Email hangs", "analytics_latency": "Analytics latency",
	"analytics_jitter": "Analytics jitter", "analytics_error_rate": "Analytics error rate", "analytics_down": "Analytics down",
	"analytics_hang": "Analytics hangs", "timeout": "Timeout", "breaker": "Circuit breaker", "fallback": "Fallback",
	"crash_rate": "Consumer crash rate", "idempotency": "Idempotency", "email_consumers": "Email consumers",
	"analytics_consumers": "Analytics consumers", "max_deliveries": "Max tries", "retry_after": "First backoff",
	"retry_max_backoff": "Longest backoff", "max_retry_age": "Give up after", "lease": "Lease",
	"publish": "Publishing", "publish_error_rate": "Publish failures",
	"signups": "Signups", "concurrency": "Concurrency", "rate": "Rate", "recover_after": "Recover after",
	"email": "Email address", "name": "Name", "id": "Dead letter", "prediction": "Prediction", "limit": "Limit",
}

func fieldLabel(f string) string {
	if l, ok := settingLabels[f]; ok {
		return l
	}
	return f
}

// settingFields are the controls of the settings form; booleans are
// checkboxes (absent means off).
var settingFields = []string{
	"mode", "email_latency", "email_error_rate", "email_down", "email_hang",
	"analytics_latency", "analytics_error_rate", "analytics_down", "analytics_hang",
	"timeout", "breaker", "fallback", "crash_rate", "idempotency", "email_consumers", "analytics_consumers",
	"max_deliveries", "retry_after", "retry_max_backoff", "max_retry_age", "lease", "publish", "publish_error_rate",
}

var boolFields = map[string]bool{
	"email_down": true, "email_hang": true, "analytics_down": true, "analytics_hang": true,
	"breaker": true, "fallback": true, "idempotency": true,
}

// durationFields are entered on the page as bare numbers in this unit.
var durationFields = map[string]string{
	"email_latency": "ms", "analytics_latency": "ms", "timeout": "ms", "retry_after": "ms", "recover_after": "ms",
	"retry_max_backoff": "ms", "lease": "ms", "max_retry_age": "s",
}

// formValue reads one control, turning bare numbers of duration fields into
// Go durations.
func formValue(c *gin.Context, name string) (string, bool) {
	v, ok := c.GetPostForm(name)
	v = strings.TrimSpace(v)
	if unit := durationFields[name]; ok && unit != "" && v != "" {
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			v += unit
		}
	}
	return v, ok
}

// parseSettings reads the settings form over current. Every control must
// be present except checkboxes; a missing or malformed one is a FieldError.
func parseSettings(c *gin.Context, current labs.Settings) (labs.Settings, error) {
	next := current
	var load labs.LoadSpec
	partial := c.PostForm("partial") == "1"
	for _, f := range settingFields {
		v, ok := formValue(c, f)
		if !ok {
			if partial {
				continue
			}
			if boolFields[f] {
				v = "off"
			} else {
				return current, &labs.FieldError{Field: f, Reason: "is missing"}
			}
		}
		if err := labs.SetValue(&next, &load, f, v); err != nil {
			return current, err
		}
	}
	return next, next.Validate()
}

func (s *Server) labPage(c *gin.Context) {
	s.renderLab(c, http.StatusOK, labOf(c), labNotice{Info: c.Query("note")})
}

// labNotices are the words of the notes a redirect after a form post asks
// for (?note=...).
var labNotices = map[string]string{
	"applied": "notice_applied", "running": "notice_running", "shown": "notice_shown",
}

// NoticeText is the note to show after a form post, if any.
func (d labPageData) NoticeText() template.HTML {
	if key, ok := labNotices[d.Notice.Info]; ok {
		return d.T.Get(key)
	}
	return ""
}

// FaultSummary says in one line how the system is set up.
func (d labPageData) FaultSummary() string {
	return summarizeSettings(d.Settings)
}

// summarizeSettings says in one line how the system is set up: each
// service's state and the mode's main options.
func summarizeSettings(s labs.Settings) string {
	return "Email " + serviceOf(s.Email).Label + " · analytics " + serviceOf(s.Analytics).Label + " · " + describeOptions(s)
}

// SystemOpen opens the settings panel when one of its fields was refused.
func (d labPageData) SystemOpen() bool {
	if d.Notice.Field == "" {
		return false
	}
	for _, f := range settingFields {
		if f == d.Notice.Field || strings.HasPrefix(d.Notice.Field, f) {
			return true
		}
	}
	return d.Notice.Field == "concurrency" || d.Notice.Field == "rate" || d.Notice.Field == "recover_after"
}

// RetryAgeSeconds is max_retry_age as the form enters it.
func (d labPageData) RetryAgeSeconds() int64 { return int64(d.Settings.MaxRetryAge.Seconds()) }

// Warnings say which settings do nothing in the current mode.
func (d labPageData) Warnings() []string {
	var out []string
	for _, w := range d.Settings.Warnings() {
		out = append(out, fieldLabel(w.Field)+": "+w.Reason+".")
	}
	return out
}

// NowRun is the run in progress, or an empty one to render hidden.
func (d labPageData) NowRun() labs.RunProgress {
	if d.Snap.Run != nil {
		return *d.Snap.Run
	}
	return labs.RunProgress{}
}

func (s *Server) renderLab(c *gin.Context, status int, l *labs.Lab, note labNotice) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	snap, err := l.Snapshot(ctx)
	if err != nil {
		s.log.Warn("lab snapshot", "err", err)
	}
	snap.Settings = l.Settings()
	st := l.Status()
	data := labPageData{
		ID: l.ID(), Base: labURL(l, ""), Settings: snap.Settings, Snap: snap, Status: st, Notice: note,
		Load:    lastLoad(l),
		Picture: newPicture(snap, 0), MaxSign: maxWebSignups, MaxConc: s.maxConcurrency(), T: s.lab.text,
	}
	history := l.History()
	for _, sc := range s.lab.scenarios {
		state := l.Scenario(sc.ID)
		data.Scenarios = append(data.Scenarios, scenarioRow{scenarioView: sc, Reached: sc.GoalReached(history, l.Replays()), Predicted: state.Prediction >= 0})
	}
	data.DeadPanel = s.deadPanel(ctx, l, c)
	data.History = historyRows(history, 5)
	c.Header("Cache-Control", "no-store")
	s.render(c, status, "lab", view{Title: "Signup lab", Section: "labs", Data: data})
}

// lastLoad pre-fills the load form with the last run's load, or defaults.
func lastLoad(l *labs.Lab) loadForm {
	h := l.History()
	if len(h) == 0 {
		return loadForm{Signups: 200, Concurrency: 16}
	}
	ld := h[len(h)-1].Load
	return loadForm{Signups: ld.Signups, Concurrency: ld.Concurrency, Rate: ld.Rate, RecoverAfterMS: ld.RecoverAfter.Milliseconds()}
}

// labSettings applies the settings form at once, even while a load runs.
func (s *Server) labSettings(c *gin.Context) {
	l := labOf(c)
	next, err := parseSettings(c, l.Settings())
	if err == nil {
		err = l.Apply(next)
	}
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, labURL(l, "?note=applied"), gin.H{"settings": l.Settings()})
}

// parseLoad reads the load form.
func parseLoad(c *gin.Context) (labs.LoadSpec, error) {
	var spec labs.LoadSpec
	var scratch labs.Settings
	for _, f := range []string{"signups", "concurrency", "rate", "recover_after"} {
		v, ok := formValue(c, f)
		if !ok || v == "" {
			if f == "signups" || f == "concurrency" {
				return spec, &labs.FieldError{Field: f, Reason: "is missing"}
			}
			continue
		}
		if err := labs.SetValue(&scratch, &spec, f, v); err != nil {
			return spec, err
		}
	}
	if spec.Signups < 1 || spec.Signups > maxWebSignups {
		return spec, &labs.FieldError{Field: "signups", Reason: strconv.Itoa(spec.Signups) + " is not between 1 and " + strconv.Itoa(maxWebSignups)}
	}
	if spec.Concurrency < 1 || spec.Concurrency > maxWebConcurrency {
		return spec, &labs.FieldError{Field: "concurrency", Reason: strconv.Itoa(spec.Concurrency) + " is not between 1 and " + strconv.Itoa(maxWebConcurrency)}
	}
	spec.DrainTimeout = time.Minute
	return spec, spec.Validate()
}

// labRun starts a load in the background; the page watches it live.
func (s *Server) labRun(c *gin.Context) {
	if s.refusePaused(c) {
		return
	}
	l := labOf(c)
	spec, err := parseLoad(c)
	if err == nil {
		err = l.Start("", []labs.PlannedRun{{Label: "Your run", Load: spec}})
	}
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, labURL(l, "?note=running"), gin.H{"status": l.Status()})
}

func (s *Server) labCancel(c *gin.Context) {
	l := labOf(c)
	l.Cancel()
	s.done(c, labURL(l, ""), gin.H{})
}

// labSnapshotJSON is the live state once, for scripts and tests.
func (s *Server) labSnapshotJSON(c *gin.Context) {
	l := labOf(c)
	ev, err := s.labEvent(c.Request.Context(), l, nil)
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, ev)
}

// Invalid marks the control named by the last error for assistive tech and
// styling.
func (d labPageData) Invalid(name string) template.HTMLAttr {
	if d.Notice.Field == name {
		return `aria-invalid="true" aria-describedby="lab-error"`
	}
	return ""
}

// Last is the newest run, if any.
func (d labPageData) Last() *historyRow {
	if len(d.History) == 0 {
		return nil
	}
	return &d.History[0]
}

// svcForm is one service's fault controls.
type svcForm struct {
	Key, Title string
	F          labs.Faults
	D          labPageData
}

// Svc returns the fault controls of service key.
func (d labPageData) Svc(key string) svcForm {
	if key == labs.ServiceEmail {
		return svcForm{Key: key, Title: "Email service", F: d.Settings.Email, D: d}
	}
	return svcForm{Key: key, Title: "Analytics service", F: d.Settings.Analytics, D: d}
}

// maxConcurrency is the largest concurrency the lab form offers: the web's
// cap, or the room's whole budget when that is smaller, so the form never
// offers a run the server would refuse whoever else is running.
func (s *Server) maxConcurrency() int {
	if n := s.lab.mgr.RoomSize(); n > 0 && n < maxWebConcurrency {
		return n
	}
	return maxWebConcurrency
}
