package lessons

import (
	"fmt"
	"html/template"
	"io/fs"

	"go.yaml.in/yaml/v3"
)

// Term is one glossary entry.
type Term struct {
	ID   string
	Term string
	// Definition is the definition as HTML, for the glossary page.
	Definition template.HTML
	// Plain is the definition as text, for tooltips and search.
	Plain string
	// UsedIn lists the chapters that mark this term, in chapter order.
	UsedIn []*Chapter
}

type termYAML struct {
	ID         string `yaml:"id"`
	Term       string `yaml:"term"`
	Definition string `yaml:"definition"`
}

func loadGlossary(fsys fs.FS, name, shown string) ([]*Term, map[string]*Term, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", shown, err)
	}
	var items []termYAML
	if err := strictUnmarshal(b, &items); err != nil {
		return nil, nil, yamlError(shown, 0, err)
	}
	var nodes []yaml.Node
	if err := yaml.Unmarshal(b, &nodes); err != nil {
		return nil, nil, yamlError(shown, 0, err)
	}
	var terms []*Term
	byID := map[string]*Term{}
	for i, y := range items {
		n := nodes[i]
		switch {
		case !slugRE.MatchString(y.ID):
			return nil, nil, fmt.Errorf("%s:%d: id %q must be lower-case words joined by hyphens", shown, n.Line, y.ID)
		case y.Term == "":
			return nil, nil, fmt.Errorf("%s:%d: term %q has no term text", shown, n.Line, y.ID)
		case y.Definition == "":
			return nil, nil, fmt.Errorf("%s:%d: term %q has no definition", shown, n.Line, y.ID)
		}
		if _, dup := byID[y.ID]; dup {
			return nil, nil, fmt.Errorf("%s:%d: term id %q is defined twice", shown, n.Line, y.ID)
		}
		html, plain, err := inlineMarkdown(y.Definition)
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: definition of %q: %w", shown, n.Line, y.ID, err)
		}
		t := &Term{ID: y.ID, Term: y.Term, Definition: html, Plain: plain}
		terms = append(terms, t)
		byID[t.ID] = t
	}
	return terms, byID, nil
}
