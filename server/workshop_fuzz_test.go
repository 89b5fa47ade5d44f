package server

import (
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crossroads-learn/crossroads/workshops"
)

// Whatever a participant types as code and name, the join answers 303, or a
// 4xx naming the field; a name that gets in is shown escaped and written to
// the CSV report as text, never as a formula.
func FuzzWorkshopJoin(f *testing.F) {
	e := newWorkshopEnvFor(f, workshops.Options{JoinsPerMinute: 1 << 30})
	code, fac := e.create(f, agendaForm)
	p := browser(f)
	fetch(f, p, e.base+"/")
	for _, seed := range [][2]string{
		{code, "Ada"}, {strings.ToLower(code), "<script>alert(1)</script>"}, {code, "=HYPERLINK(\"x\")"},
		{code, "+1-555"}, {code, "@SUM(A1)"}, {"", "Ada"}, {"ZZZZZZ", "Ada"}, {code, "\u202e\u200b"},
		{code, strings.Repeat("ü", 41)}, {code[:3] + "-" + code[3:], " tab\there "},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, c, name string) {
		res, body := postForm(t, p, e.base+"/join", url.Values{"code": {c}, "name": {name}}.Encode())
		switch {
		case res.StatusCode == http.StatusSeeOther:
		case res.StatusCode >= 400 && res.StatusCode < 500:
			if !strings.Contains(body, "code:") && !strings.Contains(body, "name:") {
				t.Fatalf("join %q %q: %d without naming the field:\n%s", c, name, res.StatusCode, body)
			}
			return
		default:
			t.Fatalf("join %q %q: %d\n%s", c, name, res.StatusCode, body)
		}
		want := workshops.CleanText(name, workshops.MaxName)
		_, page := fetch(t, p, e.base+"/workshops/"+code)
		if !strings.Contains(html.UnescapeString(page), `id="ws-me">`+want+`</strong>`) {
			t.Fatalf("joined as %q but the page does not show %q", name, want)
		}
		if strings.ContainsAny(want, "<>") && strings.Contains(page, want) {
			t.Fatalf("the name %q reaches the page unescaped", want)
		}
		_, report := fetch(t, fac, e.base+"/workshops/"+code+"/report.csv")
		rows, err := csv.NewReader(strings.NewReader(report)).ReadAll()
		if err != nil {
			t.Fatalf("report is not CSV: %v\n%s", err, report)
		}
		for _, row := range rows[1:] {
			if n := row[0]; n != "" && strings.ContainsRune("=+-@\t\r", rune(n[0])) {
				t.Fatalf("name %q reaches the CSV as a formula: %q", name, n)
			}
		}
	})
}
