package server

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// When several app instances share one Redis, a learner's lab runs in one
// of them (labs/lease.go). A request for it that reaches another instance
// is passed on to the one running it, when that one advertised an address
// (--advertise-url); otherwise, or when it does not answer, the learner is
// asked to try again once its lease ends, when the lab moves here if its
// instance is gone.

// forwardedHeader marks a request one instance passed on to another, which
// never passes it on again.
const forwardedHeader = "X-Crossroads-Forwarded"

// passOn answers a request for a lab running elsewhere.
func (s *Server) passOn(c *gin.Context, e *labs.ElsewhereError) {
	if e.Addr == "" || c.GetHeader(forwardedHeader) != "" {
		s.labElsewhere(c, e)
		return
	}
	target, err := url.Parse(e.Addr)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		s.log.Warn("another instance advertised an address that is not a URL", "instance", e.Instance, "addr", e.Addr)
		s.labElsewhere(c, e)
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
			r.Out.Header.Set(forwardedHeader, "1")
		},
		FlushInterval: -1, // live updates (SSE) pass at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("pass a lab request on to its instance", "instance", e.Instance, "err", err)
			s.labElsewhere(c, e)
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
	c.Abort()
}

// labElsewhere tells the learner their lab is busy moving between
// instances, and when to try again.
func (s *Server) labElsewhere(c *gin.Context, e *labs.ElsewhereError) {
	wait := max(1, int(math.Ceil(e.RetryAfter.Seconds())))
	c.Header("Retry-After", strconv.Itoa(wait))
	c.Header("Cache-Control", "no-store")
	s.labFail(c, http.StatusServiceUnavailable, "sandbox", fmt.Sprintf(
		"Your lab is running in another instance of this server, which cannot be reached from here just now. "+
			"If that instance has stopped, your lab moves here within %s with everything in it: try again then.",
		(time.Duration(wait)*time.Second).String()))
	c.Abort()
}
