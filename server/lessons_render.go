package server

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// A cached chapter is served without copying it through the template
// engine: the page template runs with short markers in place of the
// chapter's HTML, and the cached pieces are written out between the
// template's bytes. The template's output is the same size for every
// chapter, so serving a chapter allocates nothing in proportion to its
// length (BenchmarkRenderLesson and TestRenderLessonAllocsDoNotGrow).

// lessonBufs recycles the template output buffers.
var lessonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps one oversized buffer from pinning memory in the pool.
const maxPooledBuf = 256 << 10

// Markers stand in for the cached pieces; U+E000 is a private-use rune that
// neither the templates nor the content produce.
const (
	markerOpen = "\uE000lesson:"
	markerEnd  = "\uE000"
)

var pieceMarkers = [...]template.HTML{
	markerOpen + "0" + markerEnd, markerOpen + "1" + markerEnd,
	markerOpen + "2" + markerEnd, markerOpen + "3" + markerEnd,
}

// renderLesson writes lesson.html for lv.
func (s *Server) renderLesson(c *gin.Context, status int, lv lessonView) {
	tb, err := s.executeLesson(&lv)
	defer putBuf(tb)
	if err != nil {
		s.log.Error("render page", "page", "lesson", "err", err)
		c.String(http.StatusInternalServerError, "Internal error while rendering this page.")
		return
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := writeSpliced(c.Writer, tb.Bytes(), &lv); err != nil {
		s.log.Debug("write lesson", "err", err)
	}
}

// executeLesson runs the page template with markers in place of the
// chapter's cached HTML. The caller returns the buffer with putBuf.
func (s *Server) executeLesson(lv *lessonView) (*bytes.Buffer, error) {
	tb := lessonBufs.Get().(*bytes.Buffer)
	tb.Reset()
	lv.pieces = [4]template.HTML{lv.Chapter.Before, lv.Quiz, lv.Chapter.After, lv.Chapter.TOC}
	lv.Before, lv.QuizHTML, lv.After, lv.TOC = pieceMarkers[0], pieceMarkers[1], pieceMarkers[2], pieceMarkers[3]
	err := s.pages.sets["lesson"].ExecuteTemplate(tb, "layout.html", view{
		Title: lv.Chapter.Title, Section: "lessons", RedisLabel: s.cfg.RedisLabel, Version: s.cfg.Version, Data: lv,
	})
	return tb, err
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuf {
		lessonBufs.Put(b)
	}
}

// writeSpliced writes the template output with every marker replaced by its
// piece.
func writeSpliced(w io.Writer, page []byte, lv *lessonView) error {
	for {
		i := bytes.Index(page, []byte(markerOpen))
		if i < 0 {
			_, err := w.Write(page)
			return err
		}
		if _, err := w.Write(page[:i]); err != nil {
			return err
		}
		rest := page[i+len(markerOpen):]
		k := int(rest[0] - '0')
		if _, err := io.WriteString(w, string(lv.pieces[k])); err != nil {
			return err
		}
		page = rest[1+len(markerEnd):]
	}
}

// spliced returns the whole page as a string, for tests.
func (s *Server) splicedLesson(lv lessonView) (string, error) {
	tb, err := s.executeLesson(&lv)
	defer putBuf(tb)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = writeSpliced(&b, tb.Bytes(), &lv)
	return b.String(), err
}
