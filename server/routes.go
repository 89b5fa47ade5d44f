package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes() {
	r := s.engine
	r.GET("/", s.home)
	r.HEAD("/", s.home)
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	r.GET("/static/*path", s.assets.serve)
	r.HEAD("/static/*path", s.assets.serve)
	s.lessonRoutes(r)
	s.labRoutes(r)
	s.decideRoutes(r)
	r.NoRoute(s.notFound)
}

func (s *Server) home(c *gin.Context) {
	s.render(c, http.StatusOK, "home", view{Title: s.site.Home.Title, Section: "home", Data: s.site.Home})
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
