package server

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/crossroads-learn/crossroads/decide"
)

// The wizard's preview shows the record as it will read — rendered, with
// the journeys drawn — and keeps the Markdown one click away. The same
// fragment is on the step page and is what the live refresh sends back.

// recordMarkdown renders Markdown without passing any raw HTML through
// (goldmark's default) and drops dangerous link targets.
var recordMarkdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

type decidePreviewView struct {
	Prompts  map[string]string
	HTML     template.HTML
	Markdown string
	Diagrams []decide.Diagram
}

func newDecidePreview(txt *decide.Text, a decide.Answers) decidePreviewView {
	md, _ := txt.Render(a, decide.Options{Format: decide.FormatMADR})
	v := decidePreviewView{Prompts: txt.Prompts, Markdown: md, Diagrams: txt.Diagrams(a)}
	// The front matter (status, date, people) is for tools; the page
	// shows the record as a reader sees it.
	body := md
	if rest, ok := strings.CutPrefix(md, "---\n"); ok {
		if _, after, found := strings.Cut(rest, "\n---\n"); found {
			body = after
		}
	}
	var buf bytes.Buffer
	if err := recordMarkdown.Convert([]byte(body), &buf); err == nil {
		v.HTML = template.HTML(buf.String()) // goldmark escaped every raw HTML the answers held
	}
	return v
}

// renderPreview executes the preview fragment of the decide page set.
func (s *Server) renderPreview(v decidePreviewView) (string, error) {
	t, ok := s.pages.sets["decide"]
	if !ok {
		return "", fmt.Errorf("no decide page template")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "decide-preview", v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// decideBadges says, for each interaction of a whose answers decide it
// (its consistency is answered, or the team chose), whether it waits or is
// handed off, keyed by the badge's element id. An interaction still being
// described has no badge.
func decideBadges(txt *decide.Text, a decide.Answers) map[string]string {
	out := map[string]string{}
	for _, o := range txt.Evaluate(a).Outcomes {
		in := a.Journeys[o.JourneyIndex].Interactions[o.Index]
		p := ""
		if in.Consistency != "" || in.Choice != "" {
			p = o.Pattern
		}
		out[badgeID(o.JourneyIndex, o.Index)] = p
	}
	return out
}

func badgeID(j, i int) string { return fmt.Sprintf("badge-%d-%d", j, i) }
