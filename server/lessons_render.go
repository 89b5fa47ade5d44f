package server

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// A lesson page is its chapter's text, the same for every learner, inside a
// frame (the layout, the chapter's header and footer) that depends only on
// the learner's progress in that chapter, and the knowledge check in the
// learner's option order. Running the template and compressing the page on
// every request was most of its cost (`cd bench && go run . web`), so:
//
//   - the page template runs with short markers in place of the chapter's
//     pieces, and its output, the frame, is kept per progress state
//     (lessonFrames): a returning learner's page runs no template;
//   - serving splices the pieces into the frame without copying them, so
//     nothing per request grows with the chapter's length
//     (TestRenderLessonAllocsDoNotGrowWithLength);
//   - gzipped, every part is compressed once and the parts are laid end to
//     end (lessons_gzip.go); only the quiz is compressed per request.

// Markers stand in for the pieces; U+E000 is a private-use rune that neither
// the templates nor the content produce.
const (
	markerOpen = "\uE000lesson:"
	markerEnd  = "\uE000"
)

var pieceMarkers = [...]template.HTML{
	markerOpen + "0" + markerEnd, markerOpen + "1" + markerEnd,
	markerOpen + "2" + markerEnd, markerOpen + "3" + markerEnd,
}

// Piece indices: the chapter's text before the quiz, the quiz, after it,
// and its table of contents.
const (
	pieceBefore = iota
	pieceQuiz
	pieceAfter
	pieceTOC
)

// lessonFrame is the page template's output for one progress state, cut at
// the markers.
type lessonFrame struct {
	parts []framePart
}

// framePart is either literal template output (with its compressed segment)
// or a marker for piece.
type framePart struct {
	plain []byte
	seg   []byte
	piece int // -1 for literal output
}

// maxLessonFrames bounds the frame cache: a frame is about 4 KB plain and
// 1.5 KB compressed, and there are a handful of progress states per chapter
// (the attempt count is the only open-ended part of the key).
const maxLessonFrames = 1024

// lessonFrames caches frames by frameKey, up to maxLessonFrames; a new frame
// beyond that evicts an arbitrary one.
type lessonFrames struct {
	mu sync.Mutex
	m  map[string]*lessonFrame
}

// frameKey is everything the frame depends on besides the server's config.
func frameKey(lv *lessonView) string {
	p := lv.Progress
	var b strings.Builder
	b.WriteString(lv.Chapter.Slug)
	for _, n := range []int{btoi(p.Completed), p.BestScore, p.LastScore, p.Attempts, p.Total, btoi(lv.Saved), lv.Count} {
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteByte(0)
	b.WriteString(lv.Note)
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// frame returns lv's frame, from the cache or rendered now.
func (s *Server) frame(lv *lessonView) (*lessonFrame, error) {
	key := frameKey(lv)
	fc := &s.lessonFrames
	fc.mu.Lock()
	f, ok := fc.m[key]
	fc.mu.Unlock()
	if ok && lv.Bar == nil {
		return f, nil
	}
	var out bytes.Buffer
	v := *lv
	v.Before, v.QuizHTML, v.After, v.TOC = pieceMarkers[0], pieceMarkers[1], pieceMarkers[2], pieceMarkers[3]
	err := s.pages.sets["lesson"].ExecuteTemplate(&out, "layout.html", view{
		Title: lv.Chapter.Title, Section: "lessons", RedisLabel: s.cfg.RedisLabel, Version: s.cfg.Version, Data: &v, Bar: lv.Bar,
	})
	if err != nil {
		return nil, err
	}
	if f, err = cutFrame(out.Bytes()); err != nil {
		return nil, err
	}
	if lv.Bar != nil { // a workshop participant's own bar: not for others
		return f, nil
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.m == nil {
		fc.m = map[string]*lessonFrame{}
	}
	if len(fc.m) >= maxLessonFrames {
		for k := range fc.m {
			delete(fc.m, k)
			break
		}
	}
	fc.m[key] = f
	return f, nil
}

// cutFrame cuts the template output at its markers and compresses each
// literal part.
func cutFrame(page []byte) (*lessonFrame, error) {
	f := &lessonFrame{}
	literal := func(p []byte) error {
		if len(p) == 0 {
			return nil
		}
		var seg bytes.Buffer
		if err := compressSegment(&seg, p, gzCachedLevel); err != nil {
			return err
		}
		f.parts = append(f.parts, framePart{plain: p, seg: seg.Bytes(), piece: -1})
		return nil
	}
	for {
		i := bytes.Index(page, []byte(markerOpen))
		if i < 0 {
			return f, literal(page)
		}
		if err := literal(page[:i]); err != nil {
			return nil, err
		}
		rest := page[i+len(markerOpen):]
		f.parts = append(f.parts, framePart{piece: int(rest[0] - '0')})
		page = rest[1+len(markerEnd):]
	}
}

// pieces are lv's four pieces in marker order.
func (lv *lessonView) pieces() [4]template.HTML {
	return [4]template.HTML{lv.Chapter.Before, lv.Quiz, lv.Chapter.After, lv.Chapter.TOC}
}

// writeTo writes the whole page plain.
func (f *lessonFrame) writeTo(w io.Writer, lv *lessonView) error {
	pieces := lv.pieces()
	for _, p := range f.parts {
		var err error
		if p.piece < 0 {
			_, err = w.Write(p.plain)
		} else {
			_, err = io.WriteString(w, string(pieces[p.piece]))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// gzBufs recycles the buffers compressed pages are assembled in.
var gzBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps one oversized buffer from pinning memory in the pool.
const maxPooledBuf = 256 << 10

// renderLesson writes lesson.html for lv.
func (s *Server) renderLesson(c *gin.Context, status int, lv lessonView) {
	lv.Bar = barOf(c)
	f, err := s.frame(&lv)
	if err != nil {
		s.log.Error("render page", "page", "lesson", "err", err)
		c.String(http.StatusInternalServerError, "Internal error while rendering this page.")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(c.Request) {
		c.Status(status)
		if err := f.writeTo(c.Writer, &lv); err != nil {
			s.log.Debug("write lesson", "err", err)
		}
		return
	}
	gz := gzBufs.Get().(*bytes.Buffer)
	gz.Reset()
	defer func() {
		if gz.Cap() <= maxPooledBuf {
			gzBufs.Put(gz)
		}
	}()
	if err := s.gzipLesson(gz, f, &lv); err != nil {
		s.log.Error("compress page", "page", "lesson", "err", err)
		c.String(http.StatusInternalServerError, "Internal error while rendering this page.")
		return
	}
	// Content-Encoding tells the gzip wrapper (Handler) to pass the bytes
	// through untouched.
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(gz.Len()))
	c.Status(status)
	c.Writer.Write(gz.Bytes())
}

// splicedLesson returns the whole page as a string, for tests.
func (s *Server) splicedLesson(lv lessonView) (string, error) {
	f, err := s.frame(&lv)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = f.writeTo(&b, &lv)
	return b.String(), err
}
