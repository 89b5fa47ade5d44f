package server

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/crossroads-learn/crossroads/lessons"
)

// A gzipped lesson page is one gzip member whose DEFLATE data is laid end to
// end from segments, most of them compressed once:
//
//   - a segment is a whole compressor's output ended by a sync flush, which
//     ends on a byte boundary with a non-final block and refers to nothing
//     before it, so segments can follow one another in any order;
//   - the chapter's pieces, the frame's literal parts and the unanswered
//     quiz in each option order are segments kept with them; a graded quiz,
//     seen once, is compressed now;
//   - an empty final block closes the data, and the trailer carries the
//     CRC-32 and length of the whole page.
//
// Browsers see an ordinary gzip body (TestLessonGzipIsTheSamePage).

// gzCachedLevel compresses what is compressed once and kept.
const gzCachedLevel = flate.BestCompression

// gzHeader is a gzip member header with no name, time or extra fields.
var gzHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// gzFinal is an empty stored block with BFINAL set.
var gzFinal = []byte{1, 0, 0, 0xff, 0xff}

// gzPiece is one of a chapter's pieces and its segment.
type gzPiece struct {
	src   string // the piece as the chapter holds it, to recognise it
	plain []byte // the same bytes, for the CRC
	seg   []byte
}

// chapterPieces caches each chapter's Before, After and TOC, compressed.
// Chapters are loaded once and never change, so the cache is bounded by the
// catalogue.
type chapterPieces struct {
	m sync.Map // *lessons.Chapter → *[4]gzPiece
}

// of returns the cached pieces of ch (pieceQuiz is left empty: it differs
// by learner).
func (cp *chapterPieces) of(ch *lessons.Chapter) (*[4]gzPiece, error) {
	if v, ok := cp.m.Load(ch); ok {
		return v.(*[4]gzPiece), nil
	}
	var ps [4]gzPiece
	for _, i := range []int{pieceBefore, pieceAfter, pieceTOC} {
		piece := string((&lessonView{Chapter: ch}).pieces()[i])
		if piece == "" {
			continue
		}
		var b bytes.Buffer
		if err := compressSegment(&b, []byte(piece), gzCachedLevel); err != nil {
			return nil, err
		}
		ps[i] = gzPiece{src: piece, plain: []byte(piece), seg: b.Bytes()}
	}
	v, _ := cp.m.LoadOrStore(ch, &ps)
	return v.(*[4]gzPiece), nil
}

// maxQuizSegments bounds the quiz forms kept compressed: one per option
// order learners have (lessons keeps the forms themselves the same way), a
// few kilobytes each.
const maxQuizSegments = 2048

// quizSegments keeps unanswered quiz forms compressed, by their HTML.
type quizSegments struct {
	mu sync.Mutex
	m  map[string]*gzPiece
}

// of returns quiz compressed, from the cache or compressed now and kept.
func (qs *quizSegments) of(quiz string) (*gzPiece, error) {
	qs.mu.Lock()
	p, ok := qs.m[quiz]
	qs.mu.Unlock()
	if ok {
		return p, nil
	}
	var b bytes.Buffer
	if err := compressSegment(&b, []byte(quiz), gzCachedLevel); err != nil {
		return nil, err
	}
	p = &gzPiece{src: quiz, plain: []byte(quiz), seg: b.Bytes()}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.m == nil {
		qs.m = map[string]*gzPiece{}
	}
	if len(qs.m) >= maxQuizSegments {
		for k := range qs.m {
			delete(qs.m, k)
			break
		}
	}
	qs.m[quiz] = p
	return p, nil
}

// fastWriters recycles the per-request compressors.
var fastWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// compressSegment appends p to b as one segment.
func compressSegment(b *bytes.Buffer, p []byte, level int) error {
	if len(p) == 0 {
		return nil
	}
	var w *flate.Writer
	if level == flate.BestSpeed {
		w = fastWriters.Get().(*flate.Writer)
		defer fastWriters.Put(w)
		w.Reset(b)
	} else {
		var err error
		if w, err = flate.NewWriter(b, level); err != nil {
			return err
		}
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Flush()
}

// gzipLesson writes the whole page of frame f and lv's pieces to out as one
// gzip member.
func (s *Server) gzipLesson(out *bytes.Buffer, f *lessonFrame, lv *lessonView) error {
	cached, err := s.chapterPieces.of(lv.Chapter)
	if err != nil {
		return err
	}
	pieces := lv.pieces()
	out.Write(gzHeader)
	var crc, size uint32
	add := func(plain, seg []byte) {
		crc = crc32.Update(crc, crc32.IEEETable, plain)
		size += uint32(len(plain))
		out.Write(seg)
	}
	for _, p := range f.parts {
		if p.piece < 0 {
			add(p.plain, p.seg)
			continue
		}
		piece := string(pieces[p.piece])
		if c := &cached[p.piece]; c.seg != nil && piece == c.src {
			add(c.plain, c.seg)
			continue
		}
		if p.piece == pieceQuiz && lv.unanswered {
			q, err := s.quizSegments.of(piece)
			if err != nil {
				return err
			}
			add(q.plain, q.seg)
			continue
		}
		// A graded quiz is seen once, right after the answers.
		plain := []byte(piece)
		crc = crc32.Update(crc, crc32.IEEETable, plain)
		size += uint32(len(plain))
		if err := compressSegment(out, plain, flate.BestSpeed); err != nil {
			return err
		}
	}
	out.Write(gzFinal)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], size)
	out.Write(trailer[:])
	return nil
}
