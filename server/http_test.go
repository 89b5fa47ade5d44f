package server

import (
	"context"
	"encoding/json"
	"github.com/crossroads-learn/crossroads/content"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
)

func do(t *testing.T, c *http.Client, method, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
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

// wholeAppLearner is a learner with a lab on a server that has every part
// (lessons too) behind its full Handler, the hashed URL of an asset and the
// course it serves.
func wholeAppLearner(t *testing.T) (*learner, string, *lessons.Catalog) {
	t.Helper()
	e := newLabServer(t, labs.ManagerOptions{})
	cat := realCatalog(t)
	s, err := New(Config{Content: content.FS, Redis: e.srv.cfg.Redis, Labs: e.mgr, Lessons: cat, Logger: quietLog()})
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	asset, err := s.assets.url("app.css")
	require.NoError(t, err)
	a := e.learner(t)
	a.server = ts.URL // the same cookie works on this server (the manager is shared)
	return a, asset, cat
}

func TestHeadAnswersEveryGetPage(t *testing.T) {
	t.Parallel()
	a, asset, cat := wholeAppLearner(t)

	paths := []string{"/", "/healthz", "/readyz", asset, "/lessons", "/lessons/" + cat.Chapters[0].Slug,
		"/lessons/search?q=queue", "/lessons/print", "/glossary", "/lessons/progress/export",
		"/decide", "/decide/step/1", "/decide/review", "/labs/results",
		a.lab, a.lab + "/snapshot", a.lab + "/history", a.lab + "/timeline"}
	for _, p := range paths {
		get, getBody := do(t, a.c, http.MethodGet, a.server+p)
		head, headBody := do(t, a.c, http.MethodHead, a.server+p)
		assert.Equal(t, get.StatusCode, head.StatusCode, "HEAD %s answers as GET does", p)
		assert.NotEqual(t, http.StatusNotFound, head.StatusCode, p)
		assert.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"), p)
		assert.Empty(t, headBody, "HEAD %s has no body", p)
		assert.NotEmpty(t, getBody, p)
	}

	// The live stream answers HEAD with its headers and ends.
	start := time.Now()
	res, body := do(t, a.c, http.MethodHead, a.server+a.lab+"/events")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	assert.Empty(t, body)
	assert.Less(t, time.Since(start), 3*time.Second, "HEAD on a stream does not stream")

	// An unknown page is still 404 to HEAD.
	res, _ = do(t, nil, http.MethodHead, a.server+"/no/such/page")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestWrongMethodGets405WithAllow(t *testing.T) {
	t.Parallel()
	a, asset, _ := wholeAppLearner(t)

	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/lessons", "GET, HEAD"},
		{http.MethodPost, "/", "GET, HEAD"},
		{http.MethodDelete, "/healthz", "GET, HEAD"},
		{http.MethodPut, asset, "GET, HEAD"},
		{http.MethodGet, "/lessons/progress/import", "POST"},
		{http.MethodHead, "/decide/upload", "POST"},
		{http.MethodPost, a.lab + "/events", "GET, HEAD"},
		{http.MethodGet, a.lab + "/run", "POST"},
	} {
		res, body := do(t, a.c, tc.method, a.server+tc.path)
		assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.allow, res.Header.Get("Allow"), "%s %s", tc.method, tc.path)
		if tc.method != http.MethodHead {
			assert.Contains(t, body, "it answers "+tc.allow, "%s %s", tc.method, tc.path)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, a.server+"/lessons", nil)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]string
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	assert.Equal(t, "method", out["field"])
	assert.Contains(t, out["error"], "does not take POST requests")

	res, _ = do(t, nil, http.MethodPost, a.server+"/no/such/page")
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "an unknown address is 404 whatever the method")
}

func learnerCookieOf(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == learnerCookieName {
			return c
		}
	}
	return nil
}

func TestSecureCookieBehindATLSProxy(t *testing.T) {
	t.Parallel()
	proxies, err := ParseTrustedProxies("127.0.0.0/8")
	require.NoError(t, err)
	cookie := func(cfg Config, proto string) *http.Cookie {
		_, base := newTestServer(t, cfg)
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		c := learnerCookieOf(res)
		require.NotNil(t, c)
		return c
	}
	assert.False(t, cookie(Config{}, "").Secure, "plain HTTP on loopback")
	assert.False(t, cookie(Config{}, "https").Secure, "an untrusted peer's header is ignored")
	assert.True(t, cookie(Config{TrustedProxies: proxies}, "https").Secure, "a trusted proxy says the browser used HTTPS")
	assert.False(t, cookie(Config{TrustedProxies: proxies}, "http").Secure)
	assert.True(t, cookie(Config{SecureCookies: true}, "").Secure, "--secure-cookies")
}

func TestMetricsAreNotOnThePublicRouter(t *testing.T) {
	t.Parallel()
	s, base := newTestServer(t, Config{})
	res, _ := get(t, base+"/metrics")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)

	m := httptest.NewServer(s.MetricsHandler())
	t.Cleanup(m.Close)
	res, body := get(t, m.URL+"/metrics")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `route="unmatched",status="404"`, "the public /metrics request was counted as unmatched")

	// The profiler too is only on the private listener.
	res, _ = get(t, base+"/debug/pprof/")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	res, body = get(t, m.URL+"/debug/pprof/goroutine?debug=1")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "goroutine profile:")
}

func TestServeMetricsStopsWithItsContext(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Config{})
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeMetrics(ctx, ln) }()
	res, body := get(t, "http://"+ln.Addr().String()+"/metrics")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "go_goroutines")
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ServeMetrics did not return")
	}
}
