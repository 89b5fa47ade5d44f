package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// deadLetterRow is one dead letter as the inspector lists it.
type deadLetterRow struct {
	labs.DeadLetter
	When string `json:"when"`
}

func deadRows(dl []labs.DeadLetter) []deadLetterRow {
	out := make([]deadLetterRow, 0, len(dl))
	for _, d := range dl {
		out = append(out, deadLetterRow{DeadLetter: d, When: d.At.Format("15:04:05")})
	}
	return out
}

// deadPanel is what the lab page's dead-letter panel shows.
type deadPanel struct {
	Rows []deadLetterRow
}

// deadPanel reads the dead-letter panel of the lab page.
func (s *Server) deadPanel(ctx context.Context, l *labs.Lab, c *gin.Context) deadPanel {
	var p deadPanel
	if dl, err := l.DeadLetters(ctx, 20); err == nil {
		p.Rows = deadRows(dl)
	}
	return p
}

// labDeadLetters lists dead letters: JSON for lab.js, else the lab page's
// inspector.
func (s *Server) labDeadLetters(c *gin.Context) {
	l := labOf(c)
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.labFail(c, http.StatusBadRequest, "limit", "Limit: "+strconv.Quote(v)+" is not a whole number")
			return
		}
		limit = n
	}
	dl, err := l.DeadLetters(c.Request.Context(), limit)
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	if wantsJSON(c) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"dead_letters": deadRows(dl)})
		return
	}
	c.Redirect(http.StatusSeeOther, labURL(l, "#dead-letters"))
}

// labReplay replays one dead letter (id=...) or all of them (all=1).
// Replaying the same letter twice changes nothing the second time.
func (s *Server) labReplay(c *gin.Context) {
	l := labOf(c)
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	if c.PostForm("all") == "1" {
		n, err := l.ReplayAll(ctx)
		if err != nil {
			s.fieldFail(c, err)
			return
		}
		s.done(c, labURL(l, "?note=replayed#dead-letters"), gin.H{"replayed": n})
		return
	}
	id := c.PostForm("id")
	if id == "" {
		s.labFail(c, http.StatusBadRequest, "id", "Dead letter: choose which one to replay")
		return
	}
	_, err := l.Replay(ctx, id)
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, labURL(l, "?note=replayed#dead-letters"), gin.H{"replayed": 1})
}

// labPoison adds one unreadable message to the stream.
func (s *Server) labPoison(c *gin.Context) {
	l := labOf(c)
	id, err := l.InjectPoison(c.Request.Context())
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, labURL(l, "?note=poisoned#dead-letters"), gin.H{"entry": id})
}

// labSignup shows what Redis knows of one signup: the page the dead-letter
// list links each letter to.
func (s *Server) labSignup(c *gin.Context) {
	l := labOf(c)
	rec, err := l.Signup(c.Request.Context(), c.Param("user"))
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	c.JSON(http.StatusOK, rec)
}
