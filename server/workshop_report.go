package server

// The workshop report: the board as Markdown for the facilitator's notes and
// as CSV for a spreadsheet, safe to open whatever participants typed.

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// boardReport exports the board: Markdown for notes, CSV for a spreadsheet.
func (s *Server) boardReport(format string) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := workshopOf(c)
		ctx, cancel := wsCtx(c)
		defer cancel()
		bv, err := s.board(ctx, c, w.Code)
		if err != nil {
			s.workshopFail(c, err)
			return
		}
		name := "workshop-" + w.Code + "-" + bv.At.UTC().Format("20060102-1504")
		c.Header("Cache-Control", "no-store")
		if format == "csv" {
			c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			c.Data(http.StatusOK, "text/csv; charset=utf-8", reportCSV(bv))
			return
		}
		c.Header("Content-Disposition", `attachment; filename="`+name+`.md"`)
		c.Data(http.StatusOK, "text/markdown; charset=utf-8", reportMarkdown(bv))
	}
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func reportCSV(bv boardView) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	head := []string{"name", "joined", "last seen", "at agenda item", "hand"}
	for _, ch := range bv.Chapters {
		head = append(head, ch.Title+" (read)", ch.Title+" (best score)")
	}
	for _, sc := range bv.Room {
		head = append(head, sc.Title+" (predicted)", sc.Title+" (predicted right)", sc.Title+" (run bore the claims out)")
	}
	cw.Write(head)
	for _, r := range bv.Rows {
		hand := ""
		if r.P.HandUp() {
			hand = "raised " + r.P.HandAt.UTC().Format(time.RFC3339)
		}
		rec := []string{csvSafe(r.P.Name), r.P.JoinedAt.UTC().Format(time.RFC3339), seenStamp(r.P.SeenAt), csvSafe(r.Where), hand}
		for _, cell := range r.Cells {
			best := ""
			if cell.Taken {
				best = fmt.Sprintf("%d/%d", cell.Best, cell.Total)
			}
			rec = append(rec, strconv.FormatBool(cell.Read), best)
		}
		for k, sc := range bv.Room {
			var c scenarioCell
			if k < len(r.Scenarios) {
				c = r.Scenarios[k]
			}
			pred, right, held := "", "", ""
			if c.Predicted > 0 {
				pred = csvSafe(sc.Options[c.Predicted-1].Text)
				right = strconv.FormatBool(sc.Options[c.Predicted-1].Correct)
			}
			if c.Ran {
				held = strconv.FormatBool(c.Held)
			}
			rec = append(rec, pred, right, held)
		}
		cw.Write(rec)
	}
	cw.Flush()
	return buf.Bytes()
}

func seenStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// mdCell escapes what a person typed for a Markdown table cell.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\\", `\\`, "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func reportMarkdown(bv boardView) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Workshop report: %s\n\n", mdCell(bv.W.Title))
	fmt.Fprintf(&b, "Code %s · exported %s UTC · %d participants", bv.W.Code, bv.At.UTC().Format("2006-01-02 15:04"), len(bv.Rows))
	if bv.W.Closed {
		b.WriteString(" · closed")
	}
	b.WriteString("\n\n## Agenda\n\n")
	for _, it := range bv.Items {
		mark := ""
		if it.Current {
			mark = " ← everyone was moved here"
		}
		fmt.Fprintf(&b, "%d. %s (%s)%s\n", it.N, mdCell(it.Title), it.Kind, mark)
	}
	b.WriteString("\n## Participants\n\n| Name | At agenda item | Hand |")
	for _, ch := range bv.Chapters {
		fmt.Fprintf(&b, " %s |", mdCell(ch.Title))
	}
	b.WriteString("\n|---|---|---|")
	for range bv.Chapters {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range bv.Rows {
		hand := ""
		if r.P.HandUp() {
			hand = "raised"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |", mdCell(r.P.Name), mdCell(r.Where), hand)
		for _, cell := range r.Cells {
			fmt.Fprintf(&b, " %s |", cell.Label())
		}
		b.WriteString("\n")
	}
	if len(bv.Rows) == 0 {
		b.WriteString("\nNobody has joined yet.\n")
	}
	if len(bv.Room) > 0 {
		b.WriteString("\n## Predictions and outcomes\n")
		for _, sc := range bv.Room {
			fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", mdCell(sc.Title), mdCell(sc.Prompt))
			for _, o := range sc.Options {
				mark := ""
				if o.Correct {
					mark = " ✓ what the runs show"
				}
				fmt.Fprintf(&b, "- %d %% (%d) predicted: %s%s\n", o.Pct, o.Count, mdCell(o.Text), mark)
			}
			fmt.Fprintf(&b, "\n%d of %d participants predicted; %d ran the scenario, and %d of those runs bore out every claim.\n",
				sc.Predicted, len(bv.Rows), sc.Ran, sc.Held)
		}
	}
	return []byte(b.String())
}
