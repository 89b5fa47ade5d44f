package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A lesson page sent gzipped is laid together from the chapter's pieces,
// compressed once, and the learner's parts, compressed per request; decoded
// (which checks the CRC and the length) it is the very page sent plain, for
// every chapter, before and after the learner answers the quiz.
func TestLessonGzipIsTheSamePage(t *testing.T) {
	cat := realCatalog(t)
	s, base := newTestServer(t, Config{Lessons: cat})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	rt := &http.Transport{DisableCompression: true}
	do := func(method, path, enc string, form url.Values) (*http.Response, []byte) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		res, err := rt.RoundTrip(req)
		require.NoError(t, err)
		defer res.Body.Close()
		jar.SetCookies(req.URL, res.Cookies())
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}
	same := func(method, path string, form url.Values) {
		t.Helper()
		plainRes, plain := do(method, path, "", form)
		gzRes, gz := do(method, path, "gzip", form)
		assert.Equal(t, plainRes.StatusCode, gzRes.StatusCode, path)
		assert.Empty(t, plainRes.Header.Get("Content-Encoding"), path)
		require.Equal(t, "gzip", gzRes.Header.Get("Content-Encoding"), path)
		assert.Contains(t, gzRes.Header.Values("Vary"), "Accept-Encoding", path)
		assert.NotEmpty(t, gzRes.Header.Get("Content-Security-Policy"), "the middleware still runs")
		r, err := gzip.NewReader(bytes.NewReader(gz))
		require.NoError(t, err, path)
		unzipped, err := io.ReadAll(r)
		require.NoError(t, err, "%s: a valid gzip member (CRC and length)", path)
		assert.Equal(t, string(plain), string(unzipped), path)
		assert.Less(t, len(gz), len(plain)/2, "%s: compressed", path)
	}
	do(http.MethodGet, "/", "", nil) // a learner cookie first
	for _, ch := range cat.Chapters {
		same(http.MethodGet, "/lessons/"+ch.Slug, nil)
		_, ok := s.chapterPieces.m.Load(ch)
		assert.True(t, ok, "%s: its pieces were compressed once and kept", ch.Slug)
	}
	ch := cat.Chapters[0]
	answers := url.Values{}
	for _, q := range ch.Quiz.Questions {
		answers.Set(q.ID, q.Options[0].Value)
	}
	same(http.MethodPost, "/lessons/"+ch.Slug+"/quiz", answers)
	same(http.MethodGet, "/lessons/"+ch.Slug, nil)
}
