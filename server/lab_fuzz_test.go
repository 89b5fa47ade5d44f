package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/internal/redistest"
	"github.com/crossroads-learn/crossroads/labs"
)

// formContext is a gin context for a form post with this raw body.
func formContext(body string) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/labs/s/x/settings", strings.NewReader(body))
	c.Request.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c
}

// settingsText is how a settings form carries each control of s: what a
// browser would post back after the page showed s.
func settingsText(s labs.Settings) url.Values {
	ms := func(d time.Duration) string { return d.String() } // a Go duration passes formValue unchanged
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	rate := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return url.Values{
		"mode": {string(s.Mode)}, "publish": {string(s.Publish)},
		"email_latency": {ms(s.Email.Latency)}, "email_error_rate": {rate(s.Email.ErrorRate)},
		"email_down": {onOff(s.Email.Down)}, "email_hang": {onOff(s.Email.Hang)},
		"analytics_latency": {ms(s.Analytics.Latency)}, "analytics_error_rate": {rate(s.Analytics.ErrorRate)},
		"analytics_down": {onOff(s.Analytics.Down)}, "analytics_hang": {onOff(s.Analytics.Hang)},
		"timeout": {ms(s.Timeout)}, "breaker": {onOff(s.Breaker)}, "fallback": {onOff(s.Fallback)},
		"crash_rate": {rate(s.CrashRate)}, "idempotency": {onOff(s.Idempotency)},
		"email_consumers": {strconv.Itoa(s.EmailConsumers)}, "analytics_consumers": {strconv.Itoa(s.AnalyticsConsumers)},
		"max_deliveries": {strconv.Itoa(s.MaxDeliveries)}, "retry_after": {ms(s.RetryAfter)},
		"retry_max_backoff": {ms(s.RetryMaxBackoff)}, "max_retry_age": {ms(s.MaxRetryAge)}, "lease": {ms(s.Lease)},
		"publish_error_rate": {rate(s.PublishErrorRate)},
	}
}

// checkFieldError checks err is a *labs.FieldError whose field the web can
// show: fieldFail turns "email.jitter" into "email_jitter" and labels it.
func checkFieldError(t *testing.T, what string, err error, body string) {
	t.Helper()
	var fe *labs.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: %v (%T) is not a *labs.FieldError: a 503 instead of a 400", what, err, err)
	}
	field := strings.ReplaceAll(fe.Field, ".", "_")
	if _, ok := settingLabels[field]; !ok {
		t.Fatalf("%s: field %q has no label on the page: %v", what, field, err)
	}
	if len(err.Error()) > 4*len(body)+300 {
		t.Fatalf("%s: a message of %d bytes for a body of %d", what, len(err.Error()), len(body))
	}
}

// FuzzLabControlsForm parses arbitrary settings and load forms as the lab's
// handlers do (parseSettings for POST /settings, parseLoad for POST /run)
// and checks that
//
//   - every refusal is a *labs.FieldError naming a control the page labels
//     (so the answer is a 400 marking that control, never a 503);
//
//   - accepted settings pass Settings.Validate, and posting them back as the
//     page shows them gives the same settings (form round trip);
//
//   - an accepted load is within the web's caps and passes LoadSpec.Validate.
//
//     go test ./server -run '^$' -fuzz '^FuzzLabControlsForm$' -fuzztime 60s -parallel 1
func FuzzLabControlsForm(f *testing.F) {
	gin.SetMode(gin.TestMode)
	f.Add(settingsForm(nil).Encode())
	f.Add(settingsText(labs.DefaultSettings()).Encode())
	f.Add("partial=1&email_error_rate=0.5&email_down=on")
	f.Add("partial=1&mode=sync&breaker=on&fallback=on")
	f.Add(settingsForm(map[string]string{"email_latency": "1e300", "timeout": "-0"}).Encode())
	f.Add(settingsForm(map[string]string{"retry_after": "NaN", "lease": "Inf"}).Encode())
	f.Add(settingsForm(map[string]string{"max_retry_age": "9223372036854775807"}).Encode())
	f.Add(settingsForm(map[string]string{"email_consumers": "0x10", "mode": "<script>alert(1)</script>"}).Encode())
	f.Add("signups=200&concurrency=16")
	f.Add("signups=10&concurrency=4&rate=0.1&recover_after=1500")
	f.Add("signups=10000&concurrency=200&rate=1e-300")
	f.Add("signups=%zz&concurrency=;")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		current := labTestSettings()
		next, err := parseSettings(formContext(body), current)
		if err != nil {
			checkFieldError(t, "settings", err, body)
		} else {
			if err := next.Validate(); err != nil {
				t.Fatalf("accepted settings fail Validate: %v", err)
			}
			again, err := parseSettings(formContext(settingsText(next).Encode()), current)
			if err != nil {
				t.Fatalf("the settings accepted from %q do not post back: %v", body, err)
			}
			if fmt.Sprintf("%#v", again) != fmt.Sprintf("%#v", next) {
				t.Fatalf("posting back changed the settings:\n got %+v\nwant %+v", again, next)
			}
		}
		spec, err := parseLoad(formContext(body))
		if err != nil {
			checkFieldError(t, "load", err, body)
			return
		}
		if spec.Signups < 1 || spec.Signups > maxWebSignups || spec.Concurrency < 1 || spec.Concurrency > maxWebConcurrency {
			t.Fatalf("accepted load %+v is beyond the web's caps", spec)
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("accepted load fails Validate: %v", err)
		}
	})
}

// labControl is one of the lab's controls that FuzzLabControlsHTTP posts
// to or queries. None of them starts a load.
type labControl struct {
	method, path string
	page         string // the page it answers a plain request with
}

var labControls = []labControl{
	{http.MethodPost, "/settings", ""},
	{http.MethodGet, "", ""},
	{http.MethodGet, "/dead-letters", "/dead-letters"},
	{http.MethodGet, "/history", "/history"},
	{http.MethodGet, "/history.json", "/history.json"},
	{http.MethodGet, "/timeline", "/timeline"},
	{http.MethodPost, "/dead-letters/replay", "/dead-letters"},
	{http.MethodPost, "/scenarios/baseline/predict", "/scenarios/baseline"},
	{http.MethodGet, "/scenarios/baseline", "/scenarios/baseline"},
}

// FuzzLabControlsHTTP sends arbitrary values to the lab's controls through
// the whole web app (gin routes, middleware, a real sandbox on the test
// Redis), as a plain form post or query (which gets a page) and as lab.js
// sends it (which gets JSON), and checks that
//
//   - no answer is a 5xx: bad input is the client's mistake;
//
//   - a JSON answer is valid JSON, and a 4xx one names the field it refuses;
//
//   - a page shows no <script> element the input brought along (it has as
//     many as the same page for an empty input).
//
//     go test ./server -run '^$' -fuzz '^FuzzLabControlsHTTP$' -fuzztime 60s -parallel 1
func FuzzLabControlsHTTP(f *testing.F) {
	gin.SetMode(gin.TestMode)
	for i, c := range labControls {
		var body string
		if c.path == "/settings" {
			body = settingsForm(nil).Encode()
		}
		f.Add(uint8(i), "", body, false)
		f.Add(uint8(i), "", body, true)
	}
	f.Add(uint8(0), "", settingsForm(map[string]string{"email_error_rate": "1.5"}).Encode(), false)
	f.Add(uint8(0), "", settingsForm(map[string]string{"mode": "<script>alert(1)</script>"}).Encode(), false)
	f.Add(uint8(0), "", "partial=1&email_consumers=64&analytics_consumers=64", true)
	f.Add(uint8(1), "dead_code=%3Cscript%3E&dead_group=email&dead_before=1-1&note=applied", "", false)
	f.Add(uint8(2), "code=poison&group=analytics&before=0-0&limit=abc", "", true)
	f.Add(uint8(3), "run=7", "", false)
	f.Add(uint8(4), "run=-1", "", true)
	f.Add(uint8(5), "after=99999999999999999999", "", true)
	f.Add(uint8(6), "", "id=not-an-id", true)
	f.Add(uint8(6), "", "all=1&dead_code=x", false)
	f.Add(uint8(6), "", "code=<script>&group=email", false)
	f.Add(uint8(7), "", "prediction=99", false)
	f.Add(uint8(7), "", "prediction=%3Cscript%3E", false)
	f.Add(uint8(8), "run=1&note=%3Cscript%3E", "", false)

	db := redistest.Open(f)
	settings := labTestSettings()
	mgr, err := labs.NewManager(db.Client, labs.ManagerOptions{Sandbox: labs.Options{
		Settings: &settings, Logger: quietLog(), Block: 50 * time.Millisecond,
		Breaker: labs.BreakerPolicy{Failures: 5, Cooldown: 200 * time.Millisecond},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { mgr.Close() })
	_, base := newTestServer(f, Config{Redis: db.Client, Labs: mgr, RedisLabel: db.Describe(), Ready: db.Ready})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/labs/s/") {
				return http.ErrUseLastResponse // a form's 303: the redirect is the answer
			}
			return nil
		}}
	do := func(method, target, body string, fetch bool) (*http.Response, []byte, error) {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if fetch {
			req.Header.Set("X-Requested-With", "fetch")
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, b, err
	}
	res, page, err := do(http.MethodGet, base+"/labs", "", false)
	if err != nil || res.StatusCode != http.StatusOK {
		f.Fatalf("open the lab: %v %v", err, res)
	}
	m := labBaseRe.FindSubmatch(page)
	if m == nil {
		f.Fatal("the lab page names no sandbox")
	}
	lab := base + string(m[1])
	f.Fuzz(func(t *testing.T, pick uint8, query, body string, fetch bool) {
		ctl := labControls[int(pick)%len(labControls)]
		target := lab + ctl.path
		if query != "" {
			q, err := url.ParseQuery(query)
			if err != nil {
				return // not a query a client sends
			}
			target += "?" + q.Encode()
		}
		if ctl.method == http.MethodGet {
			body = ""
		}
		res, out, err := do(ctl.method, target, body, fetch)
		if err != nil {
			t.Fatalf("%s %s: %v", ctl.method, target, err)
		}
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s %q (fetch %v): %d %s", ctl.method, target, body, fetch, res.StatusCode, truncateFor(out))
		}
		isJSON := strings.HasPrefix(res.Header.Get("Content-Type"), "application/json")
		if isJSON {
			var v map[string]any
			if err := json.Unmarshal(out, &v); err != nil {
				var list []any
				if json.Unmarshal(out, &list) != nil {
					t.Fatalf("%s %s: JSON answer does not parse: %v: %s", ctl.method, target, err, truncateFor(out))
				}
			}
			if res.StatusCode >= 400 {
				if _, ok := v["field"].(string); !ok {
					t.Fatalf("%s %s: %d without a field: %s", ctl.method, target, res.StatusCode, truncateFor(out))
				}
			}
			return
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			return
		}
		if n := foreignScripts(out); n > 0 {
			t.Fatalf("%s %s %q: the page has %d <script elements that are not the site's own", ctl.method, target, body, n)
		}
	})
}

// ownScript is a script element the site's templates write: a file of its
// own under /static/.
var ownScript = regexp.MustCompile(`<script src="/static/[A-Za-z0-9./_-]+(\?[A-Za-z0-9=&._-]*)?"( defer)?></script>`)

// foreignScripts counts the <script elements of a page that are not the
// site's own, whatever their case: any is markup the input smuggled in.
func foreignScripts(page []byte) int {
	lower := bytes.ToLower(page)
	return bytes.Count(lower, []byte("<script")) - len(ownScript.FindAll(page, -1))
}

func truncateFor(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}
