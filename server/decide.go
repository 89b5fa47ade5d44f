package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// decideRoutes serves the decision wizard. Until it lands it shows what is
// coming.
func (s *Server) decideRoutes(r gin.IRouter) {
	r.GET("/decide", func(c *gin.Context) {
		s.render(c, http.StatusOK, "soon", view{Title: "Decide", Section: "decide", Data: s.site.entry("/decide")})
	})
}
