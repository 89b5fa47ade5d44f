package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// traceStep is one line of the timeline, with its offset drawn as a bar.
type traceStep struct {
	labs.TraceStep
	// Since is the time since the step before.
	Since float64
	// Pct places the step on the timeline (0..100).
	Pct   int
	Class string
	// Note says what the step's time means: how long a message waited in
	// the stream, how long a call took.
	Note string
}

type tracePage struct {
	Base  string
	Mode  labs.Mode
	Trace labs.Trace
	Steps []traceStep
	Total float64
	Email string
	T     labText
}

// Bounds of a traced signup's fields, as the signup API checks them.
const (
	maxTraceEmail = 254 // bytes, as RFC 5321 allows
	maxTraceName  = 100 // characters
)

// labTrace sends one signup and shows what happened to it, step by step.
func (s *Server) labTrace(c *gin.Context) {
	l := labOf(c)
	email := strings.TrimSpace(c.PostForm("email"))
	name := strings.TrimSpace(c.PostForm("name"))
	// The signup API reads at most 4 KB; longer fields are refused here,
	// naming the field, rather than as a cut-off body.
	if len(email) > maxTraceEmail {
		s.labFail(c, http.StatusBadRequest, "email", fmt.Sprintf("Email: must be at most %d characters, got %d", maxTraceEmail, len(email)))
		return
	}
	if n := utf8.RuneCountInString(name); n > maxTraceName {
		s.labFail(c, http.StatusBadRequest, "name", fmt.Sprintf("Name: must be at most %d characters, got %d", maxTraceName, n))
		return
	}
	if email == "" {
		email = "trace-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.com"
	}
	if name == "" {
		name = "Traced Learner"
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 20*time.Second)
	defer cancel()
	mode := l.Settings().Mode
	tr, err := l.Trace(ctx, email, name, 10*time.Second)
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	p := tracePage{Base: labURL(l, ""), Mode: mode, Trace: tr, Email: email, T: s.lab.text}
	for _, st := range tr.Steps {
		p.Total = max(p.Total, st.AtMS)
	}
	// The API notes "published" once its MULTI/EXEC returns; a consumer
	// blocked on the stream can receive the entry before that note.
	prev, published := 0.0, -1.0
	for _, st := range tr.Steps {
		if published < 0 && strings.Contains(st.What, "published") {
			published = st.AtMS
		}
	}
	received := map[string]float64{} // consumer -> when it got the message
	for _, st := range tr.Steps {
		ts := traceStep{TraceStep: st, Since: st.AtMS - prev, Class: traceClass(st)}
		group, _, _ := strings.Cut(st.Where, " ")
		switch {
		case strings.HasSuffix(st.Where, " consumer") && strings.HasPrefix(st.What, "received"):
			switch {
			case published < 0:
			case st.AtMS <= published:
				ts.Note = "picked up from the stream at once, before the API had answered"
			default:
				ts.Note = fmt.Sprintf("waited %.1f ms in the stream", st.AtMS-published)
			}
			received[group] = st.AtMS
		case strings.HasSuffix(st.Where, " service"):
			if at, ok := received[group]; ok {
				ts.Note = fmt.Sprintf("%.1f ms after the consumer received it", st.AtMS-at)
			}
		}
		if p.Total > 0 {
			ts.Pct = int(math.Round(st.AtMS/p.Total*20)) * 5
		}
		prev = st.AtMS
		p.Steps = append(p.Steps, ts)
	}
	if wantsJSON(c) {
		c.JSON(http.StatusOK, p)
		return
	}
	s.render(c, http.StatusOK, "lab-trace", view{Title: "Trace of one signup", Section: "labs", Data: p})
}

func traceClass(st labs.TraceStep) string {
	switch {
	case contains(st.What, "fail", "DUPLICATE", "crash", "error", "refused", "timeout"):
		return "bad"
	case contains(st.Where, "email"):
		return "email"
	case contains(st.Where, "analytics"):
		return "analytics"
	}
	return "api"
}
