package server

import (
	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/decide"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// newTestServer starts the whole web app on a loopback httptest server and
// returns it with its base URL. A nil cfg.Redis gets the test Redis (real when
// REDIS_URL is set, embedded otherwise).
func newTestServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Redis == nil {
		db := redistest.Open(t)
		cfg.Redis = db.Client
		if cfg.Ready == nil {
			cfg.Ready = db.Ready
		}
		if cfg.RedisLabel == "" {
			cfg.RedisLabel = db.Describe()
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Content == nil {
		cfg.Content = content.FS
	}
	s, err := New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// get fetches url and returns the response with its body read.
func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// postForm submits a same-origin form and returns the response with its body.
func postForm(t testing.TB, client *http.Client, url string, form string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// shippedDecide is the questionnaire the binary embeds.
func shippedDecide(t testing.TB) *decide.Text {
	t.Helper()
	txt, err := decide.Load(content.FS)
	require.NoError(t, err)
	return txt
}
