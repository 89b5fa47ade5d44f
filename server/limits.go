package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/lessons"
)

// Body limits. Every request body is read through http.MaxBytesReader sized
// for its route: forms are small, uploads and imports larger. A body over the
// limit is answered with 413 before any handler sees it, so a handler never
// mistakes a cut-off form for a missing field.
const (
	// defaultBodyLimit bounds every route not listed in routeBodyLimits: the
	// lab's forms, the reset and status buttons.
	defaultBodyLimit int64 = 64 << 10
	// decideBodyLimit bounds a decide wizard post: a step may carry every
	// journey and interaction (decide.MaxJourneys × decide.MaxInteractions).
	decideBodyLimit int64 = 1 << 20
	// uploadBodyLimit bounds an uploaded answers file with its multipart
	// envelope. The decide handlers may check a tighter limit of their own.
	uploadBodyLimit int64 = 1 << 20
	// importBodyLimit bounds an uploaded progress file with its envelope.
	importBodyLimit int64 = lessons.MaxImportBytes + 8<<10
)

// routeBodyLimits are the routes whose body may be larger or must be smaller
// than defaultBodyLimit, keyed by method and gin route pattern.
var routeBodyLimits = map[string]int64{
	"POST /decide/start":            decideBodyLimit,
	"POST /decide/step/:n":          decideBodyLimit,
	"POST /decide/preview/:n":       decideBodyLimit,
	"POST /decide/upload":           uploadBodyLimit,
	"POST /lessons/progress/import": importBodyLimit,
	"POST /lessons/:slug/quiz":      maxQuizForm,
}

const bodyLimitKey = "body_limit"

// bodyLimitFor is the most bytes the body of c's request may hold.
func bodyLimitFor(c *gin.Context) int64 {
	if n, ok := routeBodyLimits[c.Request.Method+" "+c.FullPath()]; ok {
		return n
	}
	return defaultBodyLimit
}

// limitBody bounds the request body of every route. For a route that takes
// a body (POST, PUT, PATCH, DELETE) it reads the body now, up to the route's
// limit, so an oversized one is answered with 413 whatever the handler
// would have made of it (gin's PostForm, for one, drops the parse error and
// reports every field missing). A handler that wants a tighter limit wraps
// c.Request.Body in its own http.MaxBytesReader and answers isTooLarge errors
// with s.tooLarge.
func (s *Server) limitBody(c *gin.Context) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		c.Next()
		return
	}
	limit := bodyLimitFor(c)
	c.Set(bodyLimitKey, limit)
	if r.ContentLength > limit {
		// Said up front: refuse without reading a byte.
		s.tooLarge(c)
		c.Abort()
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, limit)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next() // nothing reads a body here; the reader bounds any that does
		return
	}
	if c.FullPath() == "" {
		c.Next() // no route: the 404 or 405 page reads nothing
		return
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(r.Body)
	r.Body.Close()
	switch {
	case isTooLarge(err):
		s.tooLarge(c)
		c.Abort()
		return
	case isTimeout(err):
		c.Header("Connection", "close")
		s.failWith(c, http.StatusRequestTimeout, "body", "The request took too long to arrive and was dropped. Please try again.")
		c.Abort()
		return
	case err != nil:
		// The client went away or sent a malformed chunked body.
		c.Header("Connection", "close")
		s.failWith(c, http.StatusBadRequest, "body", "The request body could not be read. Please try again.")
		c.Abort()
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	c.Next()
}

// limitBodyTo narrows the body limit of this request to n bytes, for a
// handler that accepts less than its route's limit; s.tooLarge then names n.
// Read errors past n satisfy isTooLarge.
func limitBodyTo(c *gin.Context, n int64) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
	c.Set(bodyLimitKey, n)
}

// isTooLarge reports whether err comes from reading a body past its
// http.MaxBytesReader limit. Answer it with s.tooLarge.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// tooLarge answers 413 for a body over its route's limit: JSON for scripts
// and lab.js (Accept: application/json), plain text for other fetches, a page
// otherwise. The connection is closed after the answer, so the rest of the
// body is never read.
func (s *Server) tooLarge(c *gin.Context) {
	limit := defaultBodyLimit
	if n, ok := c.Get(bodyLimitKey); ok {
		limit = n.(int64)
	}
	c.Header("Connection", "close")
	s.failWith(c, http.StatusRequestEntityTooLarge, "body",
		fmt.Sprintf("This request is too large: this address accepts at most %s. Send less (a smaller file, shorter answers) and try again.", byteSize(limit)))
}

// failWith answers a refused request with status and message in the form
// the client asked for: JSON {"error", "field"} when it accepts JSON (and for
// every fetch of the lab's scripts, as labFail does), the bare sentence for
// other fetch() calls (lessons.js shows it as is), and the friendly error
// page otherwise.
func (s *Server) failWith(c *gin.Context, status int, field, msg string) {
	switch {
	case acceptsJSON(c) || (fetched(c) && strings.HasPrefix(c.Request.URL.Path, "/labs/")):
		c.JSON(status, gin.H{"error": msg, "field": field})
	case fetched(c):
		c.String(status, msg)
	default:
		s.errorPage(c, status, msg)
	}
}

// acceptsJSON reports whether the client asked for JSON (lab.js and scripts
// do) in preference to a page.
func acceptsJSON(c *gin.Context) bool {
	a := c.GetHeader("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// byteSize writes n bytes for people: "64 KB", "1 MB".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+1<<10-1)>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// streamRoutes are the routes that answer with a long-lived stream (SSE).
// They are exempt from the server's read and write timeouts; the handler
// bounds their life itself (maxStreamLife).
var streamRoutes = map[string]bool{
	"GET /labs/s/:sb/events":            true,
	"GET /workshops/:code/events":       true,
	"GET /workshops/:code/board/events": true,
}

// streamDeadlines lifts the server's timeouts for a streaming route: no read
// deadline (the request has no body; a read timeout would cancel the
// stream's context) and a write deadline just past the stream's own life, so
// a client that stops reading is still dropped.
func (s *Server) streamDeadlines(c *gin.Context) {
	if !streamRoutes[c.Request.Method+" "+c.FullPath()] {
		c.Next()
		return
	}
	life := maxStreamLife
	if s.lab != nil {
		life = s.lab.streamLife
	}
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("lift read deadline of a stream", "err", err)
	}
	if err := rc.SetWriteDeadline(time.Now().Add(life + time.Minute)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("extend write deadline of a stream", "err", err)
	}
	c.Next()
}
