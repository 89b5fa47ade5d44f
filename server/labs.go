package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// labRoutes serves the signup lab. Until the lab page lands it shows what is
// coming.
func (s *Server) labRoutes(r gin.IRouter) {
	r.GET("/labs", func(c *gin.Context) {
		s.render(c, http.StatusOK, "soon", view{Title: "Labs", Section: "labs", Data: s.site.entry("/labs")})
	})
}
