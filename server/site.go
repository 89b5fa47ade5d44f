package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"go.yaml.in/yaml/v3"
)

// site is the words of the site's own pages, read from content/site and
// rendered once at start-up.
type site struct {
	Home homePage
}

type homePage struct {
	Title     string       `yaml:"title"`
	Lede      markdown     `yaml:"lede"`
	Analogies []analogy    `yaml:"analogies"`
	Paths     []entryPoint `yaml:"paths"`
	Closing   markdown     `yaml:"closing"`
}

type analogy struct {
	Name    string   `yaml:"name"`
	Title   string   `yaml:"title"`
	Kind    string   `yaml:"kind"`
	Story   markdown `yaml:"story"`
	Mapping []struct {
		Figure string `yaml:"figure"`
		Term   string `yaml:"term"`
	} `yaml:"mapping"`
}

type entryPoint struct {
	Href  string   `yaml:"href"`
	Verb  string   `yaml:"verb"`
	Title string   `yaml:"title"`
	Text  markdown `yaml:"text"`
}

// markdown is a YAML string rendered to HTML as it is read; templates print
// its HTML field. Raw HTML in the source is not passed through.
type markdown struct{ HTML template.HTML }

var md = goldmark.New(goldmark.WithExtensions(extension.Typographer))

func (m *markdown) UnmarshalYAML(n *yaml.Node) error {
	var src string
	if err := n.Decode(&src); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return fmt.Errorf("line %d: render markdown: %w", n.Line, err)
	}
	m.HTML = template.HTML(buf.String()) // goldmark drops raw HTML unless told otherwise
	return nil
}

func loadSite(fsys fs.FS) (*site, error) {
	const name = "site/home.yaml"
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read content/%s: %w", name, err)
	}
	var s site
	if err := yaml.Unmarshal(b, &s.Home); err != nil {
		return nil, fmt.Errorf("content/%s: %w", name, err)
	}
	return &s, nil
}

// entry returns the home page's entry point for href, for pages that
// introduce a section.
func (s *site) entry(href string) entryPoint {
	for _, p := range s.Home.Paths {
		if p.Href == href {
			return p
		}
	}
	return entryPoint{Href: href}
}
