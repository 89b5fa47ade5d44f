package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"10/m":   {10, time.Minute},
		"5/s":    {5, time.Second},
		"100/h":  {100, time.Hour},
		"3/30s":  {3, 30 * time.Second},
		" 2/m ":  {2, time.Minute},
		"off":    {},
		"0":      {},
		"7/1m0s": {7, time.Minute},
	} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		again, err := ParseRate(got.String())
		require.NoError(t, err, "%s round-trips", got)
		assert.Equal(t, got, again)
	}
	for _, bad := range []string{"", "10", "x/m", "-1/m", "0/m", "10/fortnight", "10/1ms", "10/48h", "99999999/m"} {
		_, err := ParseRate(bad)
		assert.Error(t, err, bad)
	}
}

func TestAddrLimitersRefuseBeyondTheBurstAndRefill(t *testing.T) {
	a := newAddrLimiters(Rate{N: 2, Per: time.Minute}, 100)
	now := time.Now()
	assert.Zero(t, a.reserve("1.2.3.4", now))
	assert.Zero(t, a.reserve("1.2.3.4", now))
	wait := a.reserve("1.2.3.4", now)
	assert.InDelta(t, 30*time.Second, wait, float64(time.Second), "one token every 30 s")
	assert.Zero(t, a.reserve("5.6.7.8", now), "another address has its own allowance")
	assert.Zero(t, a.reserve("1.2.3.4", now.Add(31*time.Second)), "a token came back")
}

func TestAddrLimitersStayBounded(t *testing.T) {
	a := newAddrLimiters(Rate{N: 1, Per: time.Hour}, 50)
	now := time.Now()
	for i := range 10_000 {
		a.reserve("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	assert.LessOrEqual(t, a.len(), 50, "the map never holds more addresses than its bound")
	assert.Equal(t, len(a.byKey), a.lru.Len())

	// Buckets that refilled are dropped as new addresses come.
	b := newAddrLimiters(Rate{N: 1, Per: time.Second}, 1000)
	for i := range 100 {
		b.reserve("10.1.0."+strconv.Itoa(i), now)
	}
	b.reserve("10.2.0.1", now.Add(2*time.Second))
	assert.Equal(t, 1, b.len(), "idle, refilled buckets are forgotten")
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1, ::1")
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies: the peer", nil, "203.0.113.9:5555", []string{"1.1.1.1"}, "203.0.113.9"},
		{"untrusted peer's header is ignored", proxies, "203.0.113.9:5555", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer: last hop", proxies, "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"skips trusted hops from the right", proxies, "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"a spoofed left part is not believed", proxies, "10.1.2.3:80", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted: the first", proxies, "10.1.2.3:80", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"no header: the proxy", proxies, "10.1.2.3:80", nil, "10.1.2.3"},
		{"garbage stops the walk", proxies, "10.1.2.3:80", []string{"1.2.3.4, nonsense, 10.7.7.7"}, "10.7.7.7"},
		{"port in the header", proxies, "192.168.1.1:80", []string{"198.51.100.7:1234"}, "198.51.100.7"},
		{"ipv6 proxy", proxies, "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped v4", nil, "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustedProxies: tc.trusted}}
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			c.Request.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				c.Request.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tc.want, s.clientIP(c).String())
		})
	}
	_, err = ParseTrustedProxies("10.0.0.0/8, not-an-ip")
	assert.ErrorContains(t, err, "not-an-ip")
}

func TestClientKeyGroupsAnIPv6Slash64(t *testing.T) {
	s := &Server{}
	key := func(remote string) string {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		c.Request.RemoteAddr = remote
		return s.clientKey(c)
	}
	assert.Equal(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:1"))
	assert.NotEqual(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"))
	assert.Equal(t, "192.0.2.1", key("192.0.2.1:9"))
}

func TestImportsAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	cat := realCatalog(t)
	proxies, err := ParseTrustedProxies("127.0.0.1")
	require.NoError(t, err)
	_, base := newTestServer(t, Config{Lessons: cat, TrustedProxies: proxies,
		RateLimits: RateLimits{Imports: Rate{N: 2, Per: time.Minute}}})
	file := `{"version":1,"chapters":{}}`
	post := func(xff string, accept string) (*http.Response, string) {
		h := map[string]string{"X-Forwarded-For": xff}
		if accept != "" {
			h["Accept"] = accept
		}
		return sendBody(t, browser(t), base+"/lessons/progress/import", "application/json", strings.NewReader(file), h)
	}
	for range 2 {
		res, body := post("198.51.100.1", "")
		require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	}
	res, body := post("198.51.100.1", "")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body, "Too many progress imports from your address: at most 2 per minute")
	retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is a number of seconds")
	assert.InDelta(t, 30, retry, 2)

	res, body = post("198.51.100.1", "application/json")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	var out map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	assert.Contains(t, out["error"], "Too many progress imports")

	res, _ = post("198.51.100.2", "")
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "another client behind the proxy has its own allowance")
}

func TestForwardedForIsIgnoredWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	cat := realCatalog(t)
	_, base := newTestServer(t, Config{Lessons: cat, RateLimits: RateLimits{Imports: Rate{N: 1, Per: time.Hour}}})
	file := `{"version":1,"chapters":{}}`
	res, _ := sendBody(t, browser(t), base+"/lessons/progress/import", "application/json", strings.NewReader(file),
		map[string]string{"X-Forwarded-For": "198.51.100.1"})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, _ = sendBody(t, browser(t), base+"/lessons/progress/import", "application/json", strings.NewReader(file),
		map[string]string{"X-Forwarded-For": "198.51.100.2"})
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "a client cannot pick a fresh address with a header")
}

func TestDecideSavesAndUploadsAreRateLimited(t *testing.T) {
	t.Parallel()
	_, base := newTestServer(t, Config{RateLimits: RateLimits{Saves: Rate{N: 1, Per: time.Minute}, Uploads: Rate{N: 1, Per: time.Minute}}})
	c := browser(t)
	res, _ := postForm(t, c, base+"/decide/step/1", "title=x")
	assert.NotEqual(t, http.StatusTooManyRequests, res.StatusCode)
	res, body := postForm(t, c, base+"/decide/step/1", "title=y")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body, "saved decision steps")
	res, _ = postForm(t, c, base+"/decide/start", "")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "start and steps share the saves allowance")
	res, _ = postForm(t, c, base+"/decide/preview/1", "title=z")
	assert.NotEqual(t, http.StatusTooManyRequests, res.StatusCode, "a preview saves nothing and is not limited")

	res, _ = sendBody(t, c, base+"/decide/upload", "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"), nil)
	assert.NotEqual(t, http.StatusTooManyRequests, res.StatusCode)
	res, body = sendBody(t, c, base+"/decide/upload", "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"), nil)
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body, "uploaded answer files")
}

func TestNewSandboxesAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	db := redistest.Open(t)
	settings := labTestSettings()
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{Settings: &settings, Logger: quietLog()}})
	require.NoError(t, err)
	t.Cleanup(func() { mgr.Close() })
	srv, base := newTestServer(t, Config{Redis: db.Client, Labs: mgr,
		RateLimits: RateLimits{Sandboxes: Rate{N: 2, Per: time.Hour}}})
	e := &labEnv{srv: srv, base: base, mgr: mgr}
	a := e.learner(t)
	e.learner(t)
	third := browser(t)
	res, _ := fetch(t, third, base+"/labs") // the cookie redirect
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	res, body := fetch(t, third, base+res.Header.Get("Location"))
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, body)
	assert.Contains(t, body, "Too many new lab sandboxes from your address")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Equal(t, 2, mgr.Len(), "no third sandbox")

	res, _ = a.get("/labs")
	assert.Equal(t, http.StatusOK, res.StatusCode, "a learner who has a sandbox keeps using it")
}
