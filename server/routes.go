package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

func (s *Server) routes() {
	r := s.engine
	// HEAD needs no routes of its own: headAsGet answers it for every GET.
	r.GET("/", s.home)
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/static/*path", s.assets.serve)
	s.lessonRoutes(r)
	s.labRoutes(r)
	s.decideRoutes(r)
	s.decisionRoutes(r)
	s.workshopRoutes(r)
	r.NoRoute(s.notFound)
	r.NoMethod(s.methodNotAllowed)
}

// home serves the home page rendered and compressed at start-up: it is the
// same for everyone (see cachedPage).
func (s *Server) home(c *gin.Context) {
	if barOf(c) != nil { // a workshop's participant: the page carries their bar
		s.render(c, http.StatusOK, "home", s.homeView())
		return
	}
	s.homePage.serve(c)
}

func (s *Server) homeView() view {
	return view{Title: s.site.Home.Title, Section: "home", Data: s.site.Home}
}

// healthz says the process is up; it checks nothing else, so an orchestrator
// never restarts a healthy process because Redis blinked.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz says whether this process can do useful work: Redis must answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *Server) notFound(c *gin.Context) {
	s.render(c, http.StatusNotFound, "notfound", view{Title: "Page not found", Data: c.Request.URL.Path})
}

// methodNotAllowed answers a known address asked with a method it does not
// take. gin has set the Allow header from the routes; every GET route also
// answers HEAD (headAsGet), so the header says so.
func (s *Server) methodNotAllowed(c *gin.Context) {
	h := c.Writer.Header()
	allow := strings.Split(h.Get("Allow"), ", ")
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead)
	}
	h.Set("Allow", strings.Join(allow, ", "))
	method := c.Request.Method
	if isHead(c.Request) {
		method = http.MethodHead
	}
	s.failWith(c, http.StatusMethodNotAllowed, "method",
		"This address does not take "+method+" requests; it answers "+strings.Join(allow, ", ")+".")
}
