package server

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// lessonBufs recycles page buffers: a cached chapter is written from memory
// into a reused buffer, so serving it allocates nothing in proportion to its
// length (BenchmarkRenderLesson checks this).
var lessonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps one oversized page from pinning memory in the pool.
const maxPooledBuf = 1 << 20

// renderLesson renders lesson.html like render does, but through a pooled
// buffer.
func (s *Server) renderLesson(c *gin.Context, status int, lv lessonView) {
	buf := lessonBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuf {
			lessonBufs.Put(buf)
		}
	}()
	if err := s.executeLesson(buf, lv); err != nil {
		s.log.Error("render page", "page", "lesson", "err", err)
		c.String(http.StatusInternalServerError, "Internal error while rendering this page.")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (s *Server) executeLesson(buf *bytes.Buffer, lv lessonView) error {
	return s.pages.sets["lesson"].ExecuteTemplate(buf, "layout.html", view{
		Title: lv.Chapter.Title, Section: "lessons", RedisLabel: s.cfg.RedisLabel, Version: s.cfg.Version, Data: lv,
	})
}
