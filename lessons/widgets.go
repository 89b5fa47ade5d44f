package lessons

import (
	"fmt"
	"html/template"
	"io/fs"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Widget is the text of one analogy animation: what the still picture
// shows, and which figure stands for which technical term.
type Widget struct {
	Name        string
	Title       string
	Description template.HTML // the still, described version
	Legend      []LegendEntry
}

// LegendEntry maps a figure of the story to its technical term.
type LegendEntry struct {
	Figure string `yaml:"figure"`
	Term   string `yaml:"term"`
}

// WidgetNames are the analogy widgets the front end can animate.
var WidgetNames = []string{"restaurant", "postal"}

type widgetYAML struct {
	Title       string        `yaml:"title"`
	Description string        `yaml:"description"`
	Legend      []LegendEntry `yaml:"legend"`
}

func loadWidgets(fsys fs.FS, name, shown string) (map[string]*Widget, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", shown, err)
	}
	var items map[string]widgetYAML
	if err := strictUnmarshal(b, &items); err != nil {
		return nil, yamlError(shown, 0, err)
	}
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, yamlError(shown, 0, err)
	}
	out := map[string]*Widget{}
	for key, y := range items {
		n := raw[key]
		if !slices.Contains(WidgetNames, key) {
			return nil, fmt.Errorf("%s:%d: unknown widget %q (known: restaurant, postal)", shown, n.Line, key)
		}
		if y.Title == "" || y.Description == "" || len(y.Legend) == 0 {
			return nil, fmt.Errorf("%s:%d: widget %q needs a title, a description and a legend", shown, n.Line, key)
		}
		for _, e := range y.Legend {
			if e.Figure == "" || e.Term == "" {
				return nil, fmt.Errorf("%s:%d: widget %q: every legend entry needs a figure and a term", shown, n.Line, key)
			}
		}
		desc, err := blockMarkdown(y.Description)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", shown, n.Line, err)
		}
		out[key] = &Widget{Name: key, Title: y.Title, Description: desc, Legend: y.Legend}
	}
	for _, w := range WidgetNames {
		if out[w] == nil {
			return nil, fmt.Errorf("%s: widget %q is missing", shown, w)
		}
	}
	return out, nil
}
