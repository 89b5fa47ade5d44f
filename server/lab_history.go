package server

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

func contains(s string, subs ...string) bool {
	ls := strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(ls, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}

// historyRow is one run with a one-line summary of its settings.
type historyRow struct {
	N        int
	Result   labs.Result
	Faults   string
	Options  string
	Started  string
	Selected bool
}

func describeFaults(s labs.Settings) string {
	var parts []string
	for _, svc := range []struct {
		name string
		f    labs.Faults
	}{{"email", s.Email}, {"analytics", s.Analytics}} {
		st := serviceOf(svc.f)
		if st.State != "up" {
			parts = append(parts, svc.name+" "+st.Label)
		} else if svc.f.Latency > 0 {
			parts = append(parts, fmt.Sprintf("%s %d ms", svc.name, svc.f.Latency.Milliseconds()))
		}
	}
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, ", ")
}

func describeOptions(s labs.Settings) string {
	if s.Mode == labs.ModeSync {
		parts := []string{fmt.Sprintf("timeout %d ms", s.Timeout.Milliseconds())}
		if s.Breaker {
			parts = append(parts, "breaker")
		}
		if s.Fallback {
			parts = append(parts, "fallback")
		}
		return strings.Join(parts, ", ")
	}
	parts := []string{fmt.Sprintf("%d+%d consumers", s.EmailConsumers, s.AnalyticsConsumers)}
	if s.CrashRate > 0 {
		parts = append(parts, fmt.Sprintf("crash %.0f%%", s.CrashRate*100))
	}
	if !s.Idempotency {
		parts = append(parts, "idempotency OFF")
	}
	return strings.Join(parts, ", ")
}

// historyRows numbers the runs (1 = oldest kept) and returns the newest
// limit of them, newest first (limit 0: all).
func historyRows(h []labs.Result, limit int) []historyRow {
	rows := make([]historyRow, 0, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		r := h[i]
		rows = append(rows, historyRow{N: i + 1, Result: r, Faults: describeFaults(r.Settings), Options: describeOptions(r.Settings), Started: r.Started.Format("15:04:05")})
		if limit > 0 && len(rows) == limit {
			break
		}
	}
	return rows
}

type historyPage struct {
	Base    string
	Rows    []historyRow
	Compare []historyRow
	Figures []figureRow
}

// figureRow is one line of the side-by-side comparison; Best marks the runs
// with the better value, when one is better.
type figureRow struct {
	Label  string
	Values []string
	Best   []bool
}

// Better values: more is better (+1), less is better (-1), or neither (0:
// how many signups were sent says nothing good or bad).
const (
	higher  = 1
	lower   = -1
	neither = 0
)

var compareFigures = []struct {
	label, name string
	better      int
}{
	{"Signups sent", "signups_attempted", neither}, {"Succeeded", "signups_succeeded", higher}, {"Failed", "signups_failed", lower},
	{"Latency p50 (ms)", "latency_ms.p50", lower}, {"Latency p95 (ms)", "latency_ms.p95", lower}, {"Latency p99 (ms)", "latency_ms.p99", lower},
	{"Throughput (signups/s)", "throughput_per_s", higher}, {"Duration (s)", "duration_s", lower},
	{"Email effect p50 (ms)", "effect_latency_ms.p50", lower}, {"Email effect p99 (ms)", "effect_latency_ms.p99", lower},
	{"Email effect max (ms)", "effect_latency_ms.max", lower},
	{"Welcome emails sent", "emails_sent", higher}, {"Duplicate emails", "email_duplicates", lower},
	{"Emails for failed signups", "emails_for_failed_signups", lower}, {"Orphaned users", "orphaned_users", lower},
	{"Retries", "retries", lower}, {"Redeliveries", "redeliveries", lower}, {"Dead-lettered", "dead_lettered", lower},
	{"In flight at the end", "in_flight", lower}, {"Lost events", "lost", lower}, {"Consumer crashes", "consumer_crashes", lower},
	{"Max consumer lag", "max_consumer_lag", lower}, {"Max pending", "max_pending", lower},
	{"Email group paused (s)", "paused_s.email", lower}, {"Drain (s)", "drain_s", lower},
}

// compareRows are the figures of results side by side, better values marked.
func compareRows(results []labs.Result) []figureRow {
	var rows []figureRow
	for _, f := range compareFigures {
		fr := figureRow{Label: f.label, Best: bestOf(results, f.name, f.better)}
		for _, r := range results {
			fr.Values = append(fr.Values, shortFigure(r, f.name))
		}
		rows = append(rows, fr)
	}
	return rows
}

// bestOf marks the results with the better value of figure name, when they
// differ; ties and figures with no better side mark nothing.
func bestOf(rs []labs.Result, name string, better int) []bool {
	out := make([]bool, len(rs))
	if better == neither || len(rs) < 2 {
		return out
	}
	var best, first float64
	seen, same := 0, true
	for _, r := range rs {
		if !measured(r, name) {
			continue
		}
		v, _ := labs.ResultFigure(r, name)
		if seen == 0 {
			best, first = v, v
		} else if float64(better)*(v-best) > 0 {
			best = v
		}
		same = same && v == first
		seen++
	}
	if same || seen < 2 {
		return out
	}
	for i, r := range rs {
		v, _ := labs.ResultFigure(r, name)
		out[i] = measured(r, name) && v == best
	}
	return out
}

// measured reports whether a run measured figure name at all: a run that
// sent no email has no time until its email went out, which is not 0 ms.
func measured(r labs.Result, name string) bool {
	if strings.HasPrefix(name, "effect_latency_ms.") {
		return r.EmailsSent > 0
	}
	return true
}

// figure is a result figure as the CSV holds it, at full precision.
// A figure the run did not measure is left empty.
func figure(r labs.Result, name string) string {
	if !measured(r, name) {
		return ""
	}
	v, _ := labs.ResultFigure(r, name)
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// shortFigure is a figure as a page shows it: one decimal at most, or a
// dash when the run did not measure it.
func shortFigure(r labs.Result, name string) string {
	if !measured(r, name) {
		return "—"
	}
	v, _ := labs.ResultFigure(r, name)
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// labHistory shows the kept runs; ?run=N (repeatable) puts runs side by side.
func (s *Server) labHistory(c *gin.Context) {
	l := labOf(c)
	h := l.History()
	rows := historyRows(h, 0)
	p := historyPage{Base: labURL(l, ""), Rows: rows}
	picked := map[int]bool{}
	for _, v := range c.QueryArray("run") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(h) {
			s.labFail(c, http.StatusBadRequest, "run", "Run: "+strconv.Quote(v)+" is not a run in your history")
			return
		}
		picked[n] = true
	}
	if len(picked) == 0 && len(h) >= 2 {
		picked[len(h)-1], picked[len(h)] = true, true // the last two by default
	}
	for i := range p.Rows {
		if picked[p.Rows[i].N] {
			p.Rows[i].Selected = true
		}
	}
	for i := len(p.Rows) - 1; i >= 0; i-- { // oldest first, left to right
		if p.Rows[i].Selected {
			p.Compare = append(p.Compare, p.Rows[i])
		}
	}
	results := make([]labs.Result, len(p.Compare))
	for i, r := range p.Compare {
		results[i] = r.Result
	}
	p.Figures = compareRows(results)
	c.Header("Cache-Control", "no-store")
	s.render(c, http.StatusOK, "lab-history", view{Title: "Run history", Section: "labs", Data: p})
}

// labHistoryCSV exports every kept run, one line each.
func (s *Server) labHistoryCSV(c *gin.Context) {
	l := labOf(c)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="crossroads-lab-runs.csv"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	head := []string{"run", "started", "mode", "faults", "options", "signups", "concurrency", "rate"}
	for _, f := range compareFigures {
		head = append(head, f.name)
	}
	w.Write(head)
	for i, r := range l.History() {
		row := []string{strconv.Itoa(i + 1), r.Started.Format(time.RFC3339), string(r.Mode), describeFaults(r.Settings), describeOptions(r.Settings),
			strconv.Itoa(r.Load.Signups), strconv.Itoa(r.Load.Concurrency), strconv.FormatFloat(r.Load.Rate, 'f', -1, 64)}
		for _, f := range compareFigures {
			row = append(row, figure(r, f.name))
		}
		w.Write(row)
	}
	w.Flush()
}

// labHistoryJSON answers the kept runs, oldest first, each exactly as
// `crossroads lab run --json` reports a run.
func (s *Server) labHistoryJSON(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"runs": labOf(c).History()})
}
