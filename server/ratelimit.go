package server

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// Rate is "at most N per Per" for one client address: N at once, then one
// more every Per/N. The zero Rate means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// String writes r as ParseRate reads it: "10/1m0s" or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	switch r.Per {
	case time.Second:
		return strconv.Itoa(r.N) + "/s"
	case time.Minute:
		return strconv.Itoa(r.N) + "/m"
	case time.Hour:
		return strconv.Itoa(r.N) + "/h"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// maxRateN bounds N so the token bucket stays meaningful.
const maxRateN = 1_000_000

// ParseRate reads "N/unit" where unit is s, m, h or a Go duration ("20/m",
// "5/30s"), or "off" (also "0") for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	ns, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not N/period (like 10/m) or off", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil || n < 1 || n > maxRateN {
		return Rate{}, fmt.Errorf("%q: the count must be a whole number from 1 to %d", s, maxRateN)
	}
	var d time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	default:
		if d, err = time.ParseDuration(per); err != nil {
			return Rate{}, fmt.Errorf("%q: the period must be s, m, h or a duration like 30s", s)
		}
	}
	if d < time.Second || d > 24*time.Hour {
		return Rate{}, fmt.Errorf("%q: the period must be between 1s and 24h", s)
	}
	return Rate{N: n, Per: d}, nil
}

// RateLimits are the per-address limits on the requests that cost the
// server most. The zero value limits nothing (tests and tools); serve sets
// safe defaults from its flags.
type RateLimits struct {
	// Sandboxes bounds new lab sandboxes (a visit to /labs that makes one).
	Sandboxes Rate
	// Saves bounds decide saves: POST /decide/start and /decide/step/N.
	Saves Rate
	// Imports bounds progress imports (POST /lessons/progress/import).
	Imports Rate
	// Uploads bounds answer-file uploads (POST /decide/upload).
	Uploads Rate
	// Joins bounds workshop joins (POST /join); each workshop also bounds
	// its own joins per minute, whoever sends them.
	Joins Rate
	// Workshops bounds new workshops (POST /workshops).
	Workshops Rate
}

// rateClass names one limit; its words go into the 429 answer.
type rateClass struct {
	name  string // for logs
	what  string // "new lab sandboxes": what was refused, in words
	field string
}

var (
	rateSandboxes = rateClass{"sandboxes", "new lab sandboxes", "sandbox"}
	rateSaves     = rateClass{"saves", "saved decision steps", "decide"}
	rateImports   = rateClass{"imports", "progress imports", "file"}
	rateUploads   = rateClass{"uploads", "uploaded answer files", "answers"}
	rateJoins     = rateClass{"joins", "workshop joins", "code"}
	rateWorkshops = rateClass{"workshops", "new workshops", "title"}
)

// rateRoutes are the routes limited per address whatever their handler
// does, by method and gin route pattern. Sandbox creation is limited in the
// /labs handler, only when a visit would make one.
var rateRoutes = map[string]rateClass{
	"POST /decide/start":            rateSaves,
	"POST /decide/step/:n":          rateSaves,
	"POST /decide/upload":           rateUploads,
	"POST /lessons/progress/import": rateImports,
	"POST /join":                    rateJoins,
	"POST /workshops":               rateWorkshops,
}

// maxRateAddrs bounds how many client addresses each limit remembers; past
// it the least recently seen is forgotten (which at worst hands that address
// a fresh allowance).
const maxRateAddrs = 10_000

// rateLimiters keeps one token bucket per client address for each class.
type rateLimiters struct {
	classes map[rateClass]*addrLimiters
}

func newRateLimiters(cfg RateLimits) *rateLimiters {
	rl := &rateLimiters{classes: map[rateClass]*addrLimiters{}}
	for class, r := range map[rateClass]Rate{
		rateSandboxes: cfg.Sandboxes, rateSaves: cfg.Saves, rateImports: cfg.Imports, rateUploads: cfg.Uploads,
		rateJoins: cfg.Joins, rateWorkshops: cfg.Workshops,
	} {
		if !r.Off() {
			rl.classes[class] = newAddrLimiters(r, maxRateAddrs)
		}
	}
	return rl
}

// addrLimiters is a bounded map from client address to token bucket, the
// least recently used first to go. Buckets unused for a whole period are
// full again, the same as a new one, so they are dropped as they are met.
type addrLimiters struct {
	rate Rate
	max  int

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   *list.List // of *addrLimiter, most recently used at the front
}

type addrLimiter struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

func newAddrLimiters(r Rate, max int) *addrLimiters {
	return &addrLimiters{rate: r, max: max, byKey: map[string]*list.Element{}, lru: list.New()}
}

// reserve takes one token for key at now; it returns 0 when the request may
// go ahead, else how long until it could.
func (a *addrLimiters) reserve(key string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var l *addrLimiter
	if e, ok := a.byKey[key]; ok {
		l = e.Value.(*addrLimiter)
		a.lru.MoveToFront(e)
	} else {
		a.evict(now)
		every := rate.Every(a.rate.Per / time.Duration(a.rate.N))
		l = &addrLimiter{key: key, lim: rate.NewLimiter(every, a.rate.N)}
		a.byKey[key] = a.lru.PushFront(l)
	}
	l.seen = now
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		return a.rate.Per
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// evict makes room for one more address: it drops the buckets at the back
// that have refilled (unused for a whole period) and, if the map is still
// full, the least recently used one. Each call removes at most what is
// there, so the loop is bounded by the map's size.
func (a *addrLimiters) evict(now time.Time) {
	for e := a.lru.Back(); e != nil; e = a.lru.Back() {
		l := e.Value.(*addrLimiter)
		if now.Sub(l.seen) < a.rate.Per && a.lru.Len() < a.max {
			return
		}
		a.lru.Remove(e)
		delete(a.byKey, l.key)
	}
}

// len is how many addresses are remembered.
func (a *addrLimiters) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

// clientKey is what per-address limits count by: the client's address
// (clientIP), or for IPv6 its /64, which one household or host usually owns
// whole.
func (s *Server) clientKey(c *gin.Context) string {
	a := s.clientIP(c)
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// allow takes one request of class from the client's allowance. When there
// is none left it answers 429 with Retry-After and a clear sentence, and
// returns false; the caller must stop.
func (s *Server) allow(c *gin.Context, class rateClass) bool {
	lims := s.rates.classes[class]
	if lims == nil {
		return true
	}
	wait := lims.reserve(s.clientKey(c), time.Now())
	if wait <= 0 {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	s.log.Warn("rate limited", "limit", class.name, "client", s.clientKey(c), "path", c.Request.URL.Path, "retry_after_s", secs)
	s.failWith(c, http.StatusTooManyRequests, class.field, fmt.Sprintf(
		"Too many %s from your address: at most %d per %s. Please wait %s and try again.",
		class.what, lims.rate.N, perWords(lims.rate.Per), secondsWords(secs)))
	return false
}

// rateLimit applies the per-route limits of rateRoutes.
func (s *Server) rateLimit(c *gin.Context) {
	if class, ok := rateRoutes[c.Request.Method+" "+c.FullPath()]; ok && !s.allow(c, class) {
		c.Abort()
		return
	}
	c.Next()
}

func perWords(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

func secondsWords(n int) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}
