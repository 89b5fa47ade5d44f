package decide

import (
	"strconv"
	"strings"
)

// A journey is drawn with services in columns by how many hops they are
// from the journey's entry, synchronous calls as solid arrows, events as
// dashed ones. Mermaid in the record says the same for tools that render
// it; this layout is for a surface that draws it itself (the web wizard's
// inline SVG), with no script.

const (
	diagramBoxW, diagramBoxH = 150, 40
	diagramColW, diagramRowH = 300, 80
	diagramPad               = 20
)

// DiagramNode is one service, a box at X, Y with its name at TextX, TxY.
type DiagramNode struct {
	Name       string
	X, Y       int
	TextX, TxY int
}

// DiagramEdge is one interaction: an arrow, sync or async, and its label.
type DiagramEdge struct {
	X1, Y1, X2, Y2 int
	LX, LY         int
	Pattern        string
	Label          string
}

// Diagram is one journey laid out; Desc says in words what it shows.
type Diagram struct {
	ID, Title, Desc string
	Width, Height   int
	Nodes           []DiagramNode
	Edges           []DiagramEdge
}

// Diagrams lays out every journey of a that has interactions, in the
// questionnaire's words.
func (t *Text) Diagrams(a Answers) []Diagram {
	prompts := t.Prompts
	res := t.Evaluate(a)
	var out []Diagram
	for j, jr := range a.Journeys {
		// Columns: breadth-first distance from the services nothing calls.
		index := map[string]int{}
		var names []string
		incoming := map[string]bool{}
		next := map[string][]string{}
		var outcomes []Outcome
		for _, o := range res.Outcomes {
			if o.JourneyIndex != j {
				continue
			}
			outcomes = append(outcomes, o)
			for _, n := range []string{strings.TrimSpace(o.From), strings.TrimSpace(o.To)} {
				if _, ok := index[n]; !ok {
					index[n] = len(names)
					names = append(names, n)
				}
			}
			incoming[strings.TrimSpace(o.To)] = true
			next[strings.TrimSpace(o.From)] = append(next[strings.TrimSpace(o.From)], strings.TrimSpace(o.To))
		}
		if len(names) == 0 {
			continue
		}
		col := map[string]int{}
		var queue []string
		for _, n := range names {
			if !incoming[n] {
				col[n] = 0
				queue = append(queue, n)
			}
		}
		if len(queue) == 0 {
			col[names[0]] = 0
			queue = append(queue, names[0])
		}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, m := range next[n] {
				if _, seen := col[m]; !seen {
					col[m] = col[n] + 1
					queue = append(queue, m)
				}
			}
		}
		rows := map[int]int{}
		pos := map[string]DiagramNode{}
		d := Diagram{ID: "journey-diagram-" + strconv.Itoa(j), Title: jr.Name}
		for _, n := range names {
			c, ok := col[n]
			if !ok { // unreachable from a root: park it in the first column
				c = 0
			}
			r := rows[c]
			rows[c]++
			label := n
			if r := []rune(label); len(r) > 18 { // keep the name inside its box
				label = string(r[:17]) + "…"
			}
			nd := DiagramNode{Name: label, X: diagramPad + c*diagramColW, Y: diagramPad + r*diagramRowH}
			nd.TextX, nd.TxY = nd.X+diagramBoxW/2, nd.Y+diagramBoxH/2+5
			pos[n] = nd
			d.Nodes = append(d.Nodes, nd)
			d.Width = max(d.Width, nd.X+diagramBoxW+diagramPad)
			d.Height = max(d.Height, nd.Y+diagramBoxH+diagramPad)
		}
		var desc []string
		for _, o := range outcomes {
			f, t := pos[strings.TrimSpace(o.From)], pos[strings.TrimSpace(o.To)]
			e := DiagramEdge{Pattern: o.Pattern, Label: o.Name}
			e.X1, e.Y1 = f.X+diagramBoxW, f.Y+diagramBoxH/2
			e.X2, e.Y2 = t.X, t.Y+diagramBoxH/2
			if t.X <= f.X { // same or earlier column: leave from the bottom
				e.X1, e.Y1 = f.X+diagramBoxW/2, f.Y+diagramBoxH
				e.X2, e.Y2 = t.X+diagramBoxW/2, t.Y
				if t.Y <= f.Y {
					e.Y2 = t.Y + diagramBoxH
				}
			}
			e.LX, e.LY = (e.X1+e.X2)/2, (e.Y1+e.Y2)/2-6
			sentence := prompts["diagram_sync"]
			if o.Pattern == Async {
				if strings.TrimSpace(o.Event) != "" {
					e.Label = o.Event
				}
				sentence = prompts["diagram_async"]
			}
			if r := []rune(e.Label); len(r) > 22 { // keep the label between the boxes
				e.Label = string(r[:21]) + "…"
			}
			d.Edges = append(d.Edges, e)
			event := o.Event
			if strings.TrimSpace(event) == "" {
				event = o.Name
			}
			desc = append(desc, strings.NewReplacer("{from}", o.From, "{to}", o.To, "{name}", o.Name, "{event}", event).Replace(sentence))
		}
		d.Desc = strings.Join(desc, ". ") + "."
		out = append(out, d)
	}
	return out
}
