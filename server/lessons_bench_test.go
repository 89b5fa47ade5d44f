package server

import (
	"github.com/crossroads-learn/crossroads/content"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/lessons"
)

// fixtureCatalog loads the lessons package's test chapters with the body of
// the first one repeated times times, to compare short and long chapters.
func fixtureCatalog(t testing.TB, times int) *lessons.Catalog {
	t.Helper()
	root := os.DirFS("../lessons/testdata/content")
	m := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	}))
	const para = "A caller with a [timeout](glossary:timeout) stops waiting."
	src := string(m["lessons/01-waiting.md"].Data)
	long := strings.Repeat(para+" It frees its thread, its connection and its memory for the next request.\n\n", times)
	m["lessons/01-waiting.md"].Data = []byte(strings.Replace(src, para, long+para, 1))
	c, err := lessons.Load(m, lessons.Options{Source: os.DirFS("../lessons/testdata/src")})
	require.NoError(t, err)
	return c
}

func lessonServer(t testing.TB, c *lessons.Catalog) (*Server, lessonView) {
	t.Helper()
	s, err := New(Config{Content: content.FS, Lessons: c, RedisLabel: "embedded Redis", Version: "test"})
	require.NoError(t, err)
	ch, _ := c.Chapter("waiting")
	return s, lessonView{Chapter: ch, Quiz: ch.QuizForm, Count: len(c.Chapters)}
}

// renderOnce serves one cached chapter the way renderLesson does, into
// io.Discard.
func renderOnce(tb testing.TB, s *Server, lv lessonView) {
	f, err := s.frame(&lv)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.writeTo(io.Discard, &lv); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRenderLesson serves a cached chapter of ordinary length and one
// more than ten times longer; allocs/op and B/op are the same for both.
func BenchmarkRenderLesson(b *testing.B) {
	for _, tc := range []struct {
		name  string
		times int
	}{{"short", 1}, {"long", 2000}} {
		s, lv := lessonServer(b, fixtureCatalog(b, tc.times))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(lv.Chapter.Before)))
			for b.Loop() {
				renderOnce(b, s, lv)
			}
		})
	}
}

// memPerOp measures allocations of f per call, after a warm-up.
func memPerOp(f func(), n int) (allocs, bytes uint64) {
	for range 5 {
		f()
	}
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range n {
		f()
	}
	runtime.ReadMemStats(&b)
	return (b.Mallocs - a.Mallocs) / uint64(n), (b.TotalAlloc - a.TotalAlloc) / uint64(n)
}

func TestRenderLessonAllocsDoNotGrowWithLength(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	short, shortLV := lessonServer(t, fixtureCatalog(t, 1))
	long, longLV := lessonServer(t, fixtureCatalog(t, 2000))
	require.Greater(t, len(longLV.Chapter.Before), 10*len(shortLV.Chapter.Before))

	sa, sb := memPerOp(func() { renderOnce(t, short, shortLV) }, 200)
	la, lb := memPerOp(func() { renderOnce(t, long, longLV) }, 200)
	t.Logf("short chapter (%d B): %d allocs, %d B per render; long chapter (%d B): %d allocs, %d B per render",
		len(shortLV.Chapter.Before), sa, sb, len(longLV.Chapter.Before), la, lb)
	assert.InDelta(t, float64(sa), float64(la), 2, "allocations per render")
	assert.InDelta(t, float64(sb), float64(lb), 512, "bytes allocated per render")
	assert.Less(t, lb, uint64(len(longLV.Chapter.Before)/20), "nothing proportional to the chapter")

	// The spliced page is the whole chapter.
	page, err := long.splicedLesson(longLV)
	require.NoError(t, err)
	assert.Contains(t, page, string(longLV.Chapter.Before))
	assert.Contains(t, page, string(longLV.Chapter.TOC))
	assert.Contains(t, page, string(longLV.Chapter.QuizForm))
	assert.NotContains(t, page, markerOpen)
}
