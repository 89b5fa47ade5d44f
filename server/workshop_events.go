package server

// The workshop's live views: the facilitator's board and each participant's
// bar, redrawn on the server and sent as server-sent events.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/workshops"
)

// boardEvery refreshes an open board even when nothing is announced (the
// "seen" times move on, and a notice lost during a Redis restart is caught
// up).
const boardEvery = 10 * time.Second

// boardDebounce gathers the notices of a burst (a room joining at once)
// into one redraw.
const boardDebounce = 250 * time.Millisecond

// drawRetry is how soon a live view tries again after a draw failed.
const drawRetry = time.Second

// boardEvents streams the board's body, redrawn on every change.
func (s *Server) boardEvents(c *gin.Context) {
	w := workshopOf(c)
	s.workshopStream(c, w.Code, func(string) bool { return true }, func(ctx context.Context) (string, string, error) {
		bv, err := s.board(ctx, c, w.Code)
		if err != nil {
			return "", "", err
		}
		var buf bytes.Buffer
		if err := s.pages.sets["workshop-board"].ExecuteTemplate(&buf, "board-body", bv); err != nil {
			return "", "", err
		}
		return "board", buf.String(), nil
	})
}

// participantEvents streams a participant's bar when the facilitator moves
// everyone, changes the workshop's state or answers their hand.
func (s *Server) participantEvents(c *gin.Context) {
	w := workshopOf(c)
	learner := LearnerID(c)
	back := c.Query("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/workshops/" + w.Code
	}
	mine := func(notice string) bool {
		return notice == "move" || notice == "state" || notice == workshops.NoticePaused || notice == "hands "+learner
	}
	s.workshopStream(c, w.Code, mine, func(ctx context.Context) (string, string, error) {
		w, err := s.cfg.Workshops.Get(ctx, w.Code)
		if err != nil {
			return "", "", err
		}
		p, err := s.cfg.Workshops.Participant(ctx, w.Code, learner)
		if err != nil {
			return "", "", err
		}
		b := s.newBar(w, p, back)
		var buf bytes.Buffer
		if err := s.pages.sets["workshop-board"].ExecuteTemplate(&buf, "workshop-bar-body", b); err != nil {
			return "", "", err
		}
		return "bar", buf.String(), nil
	})
}

// workshopStream sends server-sent events: what draw renders, now, on every
// notice about the workshop that wanted accepts (a burst drawn once), and
// every boardEvery. It ends with the request, at shutdown, or after the
// stream's life; the browser reconnects by itself.
func (s *Server) workshopStream(c *gin.Context, code string, wanted func(string) bool, draw func(context.Context) (string, string, error)) {
	release, ok := s.wsStreams.acquire(LearnerID(c))
	if !ok {
		c.Header("Retry-After", "5")
		c.String(http.StatusTooManyRequests, "Too many live views are open; close one and try again.")
		return
	}
	defer release()
	notices, stop := s.wsHub.listen(code)
	defer stop()
	w := openEventStream(c, 3*time.Second)

	ctx := c.Request.Context()
	life := time.NewTimer(s.wsStreams.life)
	defer life.Stop()
	tick := time.NewTicker(boardEvery)
	defer tick.Stop()
	last := ""
	// A draw that failed (Redis slow under a room's load) is tried again
	// soon, not only at the next notice or tick: the change it missed may
	// be the last one for a while.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	send := func() bool {
		dctx, cancel := context.WithTimeout(ctx, workshopTimeout)
		event, body, err := draw(dctx)
		cancel()
		if err != nil {
			s.log.Debug("workshop stream", "code", code, "err", err)
			retry.Reset(drawRetry)
			return ctx.Err() == nil
		}
		retry.Stop()
		if body == last {
			return true
		}
		last = body
		fmt.Fprintf(w, "event: %s\n", event)
		for line := range strings.SplitSeq(body, "\n") {
			fmt.Fprintf(w, "data: %s\n", line)
		}
		fmt.Fprint(w, "\n")
		w.Flush()
		return true
	}
	if !send() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-life.C:
			return
		case n := <-notices:
			if !wanted(n) {
				continue
			}
			// Gather the rest of a burst into one redraw.
			t := time.NewTimer(boardDebounce)
		gather:
			for {
				select {
				case <-notices:
				case <-t.C:
					break gather
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		case <-tick.C:
		case <-retry.C:
		}
		if !send() {
			return
		}
	}
}
