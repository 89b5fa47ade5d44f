package server

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHomeExplainsBothAnalogiesAndLinksEverySection(t *testing.T) {
	_, base := newTestServer(t, Config{RedisLabel: "embedded Redis — data is in memory"})
	res, body := get(t, base+"/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, body, "The restaurant")
	assert.Contains(t, body, "The postal service")
	assert.Contains(t, body, "<strong>waits for the answer</strong>", "content Markdown is rendered, not escaped")
	assert.NotContains(t, body, "&lt;p&gt;")
	for _, href := range []string{`href="/lessons"`, `href="/labs"`, `href="/decide"`} {
		assert.Contains(t, body, href)
	}
	assert.Contains(t, body, "Using embedded Redis — data is in memory", "the footer says which Redis is in use")
	assert.Contains(t, body, `id="theme-toggle"`)
}

func TestSectionPagesRender(t *testing.T) {
	_, base := newTestServer(t, Config{})
	for _, path := range []string{"/lessons", "/labs", "/decide"} {
		res, body := get(t, base+path)
		assert.Equal(t, http.StatusOK, res.StatusCode, path)
		assert.Contains(t, body, `aria-current="page"`, path)
		assert.NotContains(t, body, "&lt;p&gt;", "%s: content Markdown is rendered, not escaped", path)
		assert.NotContains(t, body, "{<p>", "%s: content Markdown is printed as HTML, not as a struct", path)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	_, base := newTestServer(t, Config{})
	res, body := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, body)
	res, body = get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.JSONEq(t, `{"status":"ready"}`, body)
}

func TestReadinessFailsWhenRedisDoesNot(t *testing.T) {
	_, base := newTestServer(t, Config{Ready: func(context.Context) error { return errors.New("dial tcp: connection refused") }})
	res, body := get(t, base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Contains(t, body, "connection refused")
	res, _ = get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, res.StatusCode, "liveness must not depend on Redis")
}

func TestMetricsShowRequestHistogramsByRoute(t *testing.T) {
	s, base := newTestServer(t, Config{})
	for range 3 {
		get(t, base+"/")
	}
	get(t, base+"/no/such/page")
	m := httptest.NewServer(s.MetricsHandler()) // its own listener in serve (--metrics-addr)
	defer m.Close()
	_, body := get(t, m.URL+"/metrics")
	assert.Contains(t, body, `crossroads_http_request_duration_seconds_count{method="GET",route="/",status="200"} 3`)
	assert.Contains(t, body, `route="unmatched",status="404"`)
	assert.Contains(t, body, "go_goroutines", "Go runtime metrics are exported")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	s, base := newTestServer(t, Config{})
	asset, err := s.assets.url("app.css")
	require.NoError(t, err)
	for _, path := range []string{"/", "/healthz", "/nope", asset} {
		res, _ := get(t, base+path)
		csp := res.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "frame-ancestors 'none'", path)
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		assert.NotEmpty(t, res.Header.Get("Referrer-Policy"), path)
	}
}

func TestUnknownRouteGetsFriendly404(t *testing.T) {
	_, base := newTestServer(t, Config{})
	res, body := get(t, base+"/lessons/does-not-exist/<script>")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Contains(t, body, "This road leads nowhere")
	assert.Contains(t, body, `href="/lessons"`)
	assert.NotContains(t, body, "<script>", "the path is escaped")
}

func TestStaticAssetsAreVersionedCachedAndCompressed(t *testing.T) {
	s, base := newTestServer(t, Config{})
	url, err := s.assets.url("app.css")
	require.NoError(t, err)
	_, home := get(t, base+"/")
	assert.Contains(t, home, url, "pages link the content-hashed URL")

	req, _ := http.NewRequest(http.MethodGet, base+url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "public, max-age=31536000, immutable", res.Header.Get("Cache-Control"))
	assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
	assert.Contains(t, res.Header.Get("Content-Type"), "text/css")
	zr, err := gzip.NewReader(res.Body)
	require.NoError(t, err)
	css, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Contains(t, string(css), "prefers-color-scheme")
	assert.Contains(t, string(css), "prefers-reduced-motion")

	res, _ = get(t, base+"/static/app.css?v=stale")
	assert.Equal(t, "public, max-age=300", res.Header.Get("Cache-Control"), "an old hash is not cached for a year")
	res, _ = get(t, base+"/static/../server.go")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestLearnerCookieIsIssuedOnceAndKept(t *testing.T) {
	_, base := newTestServer(t, Config{})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(base + "/")
	require.NoError(t, err)
	res.Body.Close()
	var first *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == learnerCookieName {
			first = ck
		}
	}
	require.NotNil(t, first)
	assert.True(t, first.HttpOnly)
	assert.Len(t, first.Value, 32)

	res, err = c.Get(base + "/lessons")
	require.NoError(t, err)
	res.Body.Close()
	for _, ck := range res.Cookies() {
		assert.NotEqual(t, learnerCookieName, ck.Name, "a known learner keeps their id")
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	_, base := newTestServer(t, Config{})
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader("x=1"))
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
}

func TestPanicBecomesA500Page(t *testing.T) {
	s, base := newTestServer(t, Config{})
	s.engine.GET("/boom", func(*gin.Context) { panic("boom") })
	res, body := get(t, base+"/boom")
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Contains(t, body, "Something went wrong")
}

func TestGracefulShutdownLetsInFlightRequestsFinish(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	started := make(chan struct{})
	s.engine.GET("/slow", func(c *gin.Context) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		c.String(http.StatusOK, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel() // like SIGTERM while /slow is running

	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, "finished", r.body, "the in-flight request completes")
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	_, err = net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond)
	assert.Error(t, err, "the listener is closed after shutdown")
	select {
	case <-s.Closing():
	default:
		t.Fatal("Closing() was not closed, so streams would hold shutdown open")
	}
}

func TestSameOriginPostPassesCrossOriginProtection(t *testing.T) {
	_, base := newTestServer(t, Config{})
	res, body := postForm(t, nil, base+"/no-such-form", "x=1")
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "a same-origin POST reaches the router")
	assert.Contains(t, body, "This road leads nowhere")
}
