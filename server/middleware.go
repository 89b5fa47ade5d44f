package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// contentSecurityPolicy allows only this origin's own scripts and styles: no
// inline script, no framing, no plugins.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	c.Next()
}

// recoverer turns a panic in a handler into a logged 500 page instead of a
// dropped connection.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "path", c.Request.URL.Path, "panic", v)
			if !c.Writer.Written() {
				s.errorPage(c, http.StatusInternalServerError, "Something went wrong on our side. Please try again.")
			}
			c.Abort()
		}
	}()
	c.Next()
}

func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	path := c.Request.URL.Path
	level := slog.LevelInfo
	if path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/static/") {
		level = slog.LevelDebug
	}
	method := c.Request.Method
	if isHead(c.Request) {
		method = http.MethodHead
	}
	s.log.Log(c.Request.Context(), level, "request",
		"method", method,
		"path", path,
		"route", routeOf(c),
		"status", c.Writer.Status(),
		"bytes", c.Writer.Size(),
		"duration", time.Since(start),
	)
}

// routeOf is the route pattern that matched, so metrics and logs group
// /lessons/a and /lessons/b together and unknown paths cannot blow up label
// cardinality.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// learnerCookieName identifies a learner's browser: their lesson progress,
// lab sandbox and decision answers hang off it. It holds no personal data.
const learnerCookieName = "cr_learner"

const learnerKey = "learner"

// learnerCookie gives every browser an unguessable id on its first visit and
// keeps it for a year.
func (s *Server) learnerCookie(c *gin.Context) {
	id, err := c.Cookie(learnerCookieName)
	if err != nil || !validLearnerID(id) {
		id = newLearnerID()
		http.SetCookie(c.Writer, &http.Cookie{
			Name:     learnerCookieName,
			Value:    id,
			Path:     "/",
			MaxAge:   365 * 24 * 3600,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
			Secure:   s.secureRequest(c),
		})
	}
	c.Set(learnerKey, id)
	c.Next()
}

// LearnerID returns the id of the browser making the request.
func LearnerID(c *gin.Context) string { return c.GetString(learnerKey) }

func newLearnerID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validLearnerID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
