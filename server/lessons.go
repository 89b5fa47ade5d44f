package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// lessonRoutes serves the chapters. Until the lessons engine lands it shows
// what is coming.
func (s *Server) lessonRoutes(r gin.IRouter) {
	r.GET("/lessons", func(c *gin.Context) {
		s.render(c, http.StatusOK, "soon", view{Title: "Lessons", Section: "lessons", Data: s.site.entry("/lessons")})
	})
}
