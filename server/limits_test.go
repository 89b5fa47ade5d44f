package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/crossroads-learn/crossroads/content"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
)

// sendBody posts body to u with the given content type and extra headers and
// returns the response with its body read.
func sendBody(t *testing.T, c *http.Client, u, contentType string, body io.Reader, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// chunked hides a body's length, so the server sees a chunked request and
// must count the bytes itself.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestOversizedBodiesGet413NotAMissingField(t *testing.T) {
	t.Parallel()
	cat, base := newLessonServer(t)
	ch := cat.Chapters[0]
	big := "x=" + strings.Repeat("a", 200<<10) // over the 64 KB of a form

	t.Run("form page", func(t *testing.T) {
		res, body := postForm(t, nil, base+"/lessons/progress/reset", big)
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		assert.Contains(t, body, "too large")
		assert.Contains(t, body, "at most 64 KB")
		assert.Contains(t, res.Header.Get("Content-Type"), "text/html")
	})
	t.Run("json for scripts", func(t *testing.T) {
		res, body := sendBody(t, nil, base+"/lessons/progress/reset", "application/x-www-form-urlencoded",
			strings.NewReader(big), map[string]string{"Accept": "application/json"})
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		var out map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		assert.Equal(t, "body", out["field"])
		assert.Contains(t, out["error"], "at most 64 KB")
	})
	t.Run("chunked body without a length", func(t *testing.T) {
		res, body := sendBody(t, nil, base+"/lessons/progress/reset", "application/x-www-form-urlencoded",
			chunked{strings.NewReader(big)}, nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		assert.Contains(t, body, "too large")
	})
	t.Run("quiz, fetched", func(t *testing.T) {
		// lessons.js shows the text of a failed answer as it is.
		res, body := sendBody(t, nil, base+"/lessons/"+ch.Slug+"/quiz", "application/x-www-form-urlencoded",
			strings.NewReader("x="+strings.Repeat("a", 20<<10)), map[string]string{"X-Requested-With": "fetch"})
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		assert.True(t, strings.HasPrefix(body, "This request is too large: this address accepts at most 16 KB."), body)
	})
	t.Run("progress upload", func(t *testing.T) {
		// Before: "file: choose a progress file", as if nothing was sent.
		res, body := upload(t, browser(t), base+"/lessons/progress/import", strings.Repeat(" ", 2<<20))
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		assert.Contains(t, body, "at most 72 KB")
		assert.NotContains(t, body, "choose a progress file")
	})
	t.Run("a body within the limit still works", func(t *testing.T) {
		res, _ := postForm(t, browser(t), base+"/lessons/progress/reset", "x="+strings.Repeat("a", 60<<10))
		assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	})
}

func TestOversizedLabSettingsGet413(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	form := settingsForm(nil)
	form.Set("padding", strings.Repeat("p", 1<<20))
	res, body := a.post(a.lab+"/settings", form, true)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, body)
	assert.NotContains(t, body, "is missing", "before: every field read as missing")
	assert.Contains(t, body, `"field":"body"`)
	res, body = a.post(a.lab+"/settings", settingsForm(nil), true)
	assert.Equal(t, http.StatusOK, res.StatusCode, "a normal form still applies: %s", body)
}

// serveOnLoopback runs s.Serve on a loopback listener until the test ends
// and returns its base URL.
func serveOnLoopback(t *testing.T, s *Server) string {
	t.Helper()
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(ShutdownTimeout + 2*time.Second):
			t.Error("Serve did not return")
		}
	})
	return "http://" + ln.Addr().String()
}

func TestSlowBodyIsCutOffByReadTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Config{Lessons: realCatalog(t), ReadTimeout: time.Second})
	base := serveOnLoopback(t, s)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /lessons/progress/reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	require.NoError(t, err)

	// One byte every 300 ms would take five minutes to finish the body.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for range 1000 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()

	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		// The server may say why before it hangs up.
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, res.StatusCode, string(body))
	}
	_, err = conn.Read(make([]byte, 1))
	assert.Error(t, err, "the connection is closed")
	assert.Less(t, time.Since(start), 5*time.Second, "a trickled body is cut off by ReadTimeout (1 s), not served for minutes")
}

func TestLiveStreamOutlivesTheServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newLabServer(t, labs.ManagerOptions{})
	a := e.learner(t)
	s, err := New(Config{Content: content.FS, Redis: e.srv.cfg.Redis, Labs: e.mgr, Logger: quietLog(),
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	base := serveOnLoopback(t, s)

	// The same learner (cookie) on the server with short timeouts.
	u, _ := url.Parse(base)
	a.c.Jar.SetCookies(u, a.c.Jar.Cookies(mustURL(t, e.base)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+a.lab+"/events", nil)
	res, err := a.c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	start := time.Now()
	snaps := 0
	for sc.Scan() && time.Since(start) < 1500*time.Millisecond {
		if sc.Text() == "event: snap" {
			snaps++
		}
	}
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "the stream was cut off early: %v", sc.Err())
	assert.GreaterOrEqual(t, snaps, 2, "updates kept coming past the 300 ms timeouts")

	// An ordinary page on the same server still answers.
	res2, err := a.c.Get(base + a.lab + "/snapshot")
	require.NoError(t, err)
	res2.Body.Close()
	assert.Equal(t, http.StatusOK, res2.StatusCode)
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestByteSize(t *testing.T) {
	assert.Equal(t, "64 KB", byteSize(64<<10))
	assert.Equal(t, "1 MB", byteSize(1<<20))
	assert.Equal(t, "72 KB", byteSize(importBodyLimit))
	assert.Equal(t, "500 bytes", byteSize(500))
}

func TestHandlersCanNarrowTheBodyLimit(t *testing.T) {
	t.Parallel()
	s, base := newTestServer(t, Config{})
	s.engine.POST("/narrow", func(c *gin.Context) {
		limitBodyTo(c, 10)
		if _, err := io.ReadAll(c.Request.Body); isTooLarge(err) {
			s.tooLarge(c)
			return
		}
		c.String(http.StatusOK, "fine")
	})
	res, body := postForm(t, nil, base+"/narrow", "x=123")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "fine", body)
	res, body = postForm(t, nil, base+"/narrow", "x=123456789012")
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Contains(t, body, "at most 10 bytes")
}

// The per-route tables name routes by pattern; a renamed route would
// silently lose its limit, so every entry must match a registered route.
func TestLimitTablesNameRealRoutes(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	s, err := New(Config{Content: content.FS, Redis: e.srv.cfg.Redis, Labs: e.mgr, Lessons: realCatalog(t), Logger: quietLog()})
	require.NoError(t, err)
	routes := map[string]bool{}
	for _, r := range s.engine.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for k := range routeBodyLimits {
		assert.True(t, routes[k], "routeBodyLimits: %s is not a route", k)
	}
	for k := range rateRoutes {
		assert.True(t, routes[k], "rateRoutes: %s is not a route", k)
	}
	for k := range streamRoutes {
		assert.True(t, routes[k], "streamRoutes: %s is not a route", k)
	}
}
