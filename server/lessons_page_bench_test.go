package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkLessonPage serves a whole lesson page as a returning learner's
// browser asks for it (cookie, gzip), through every middleware: the
// per-request cost `cd bench && go run . web` measures under load.
func BenchmarkLessonPage(b *testing.B) {
	s, _ := newTestServer(b, Config{Lessons: realCatalog(b)})
	h := s.Handler()
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest(http.MethodGet, "/lessons/synchronous-reality", nil))
	require.Equal(b, http.StatusOK, first.Code)
	cookies := first.Result().Cookies()
	require.NotEmpty(b, cookies)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/lessons/synchronous-reality", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
