package decide

import (
	"fmt"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Question is one question of the questionnaire as content/decide words it
// (see schema.go for what Scope, Kind and When mean).
type Question struct {
	Field        string   `yaml:"field"`
	Scope        string   `yaml:"scope"` // "" (decision), journey, interaction, observability, fallback
	Kind         string   `yaml:"kind"`
	When         string   `yaml:"when"` // "", sync or async
	Required     bool     `yaml:"required"`
	Label        string   `yaml:"label"`
	Help         string   `yaml:"help"`
	Options      []string `yaml:"options"`
	OptionLabels []string `yaml:"option_labels"`
}

// Step is one of the five steps of the framework.
type Step struct {
	ID        string     `yaml:"id"`
	Title     string     `yaml:"title"`
	Short     string     `yaml:"short"`
	Intro     string     `yaml:"intro"`
	Questions []Question `yaml:"questions"`
}

// Question returns the question for field in scope, or a zero Question.
func (s Step) Question(scope, field string) Question {
	for _, q := range s.Questions {
		if q.Scope == scope && q.Field == field {
			return q
		}
	}
	return Question{}
}

// Advice is what a warning says and what to do about it.
type Advice struct {
	Message string `yaml:"message"`
	Advice  string `yaml:"advice"`
}

type option struct {
	Name string   `yaml:"name"`
	Good []string `yaml:"good"`
	Bad  []string `yaml:"bad"`
}

type recordText struct {
	Options      map[string]option `yaml:"options"`
	Drivers      []string          `yaml:"drivers"`
	Because      map[string]string `yaml:"because"`
	Consequences map[string]string `yaml:"consequences"`
	Confirmation map[string]string `yaml:"confirmation"`
	Labels       map[string]string `yaml:"labels"`
	Index        map[string]string `yaml:"index"`
}

// Text is every word of the questionnaire and the record.
type Text struct {
	Steps    []Step            `yaml:"steps"`
	Reasons  map[string]string `yaml:"reasons"`
	Warnings map[string]Advice `yaml:"warnings"`
	// Prompts are the words around the questions: buttons, confirmations.
	Prompts map[string]string `yaml:"prompts"`
	record  recordText
}

// Load reads the questionnaire and the record's words from fsys, the
// content tree (content.FS in the binary: cmd passes it in). It checks them
// against the schema; an error names the file and what is wrong.
func Load(fsys fs.FS) (*Text, error) {
	var t Text
	if err := readYAML(fsys, "decide/questionnaire.yaml", &t); err != nil {
		return nil, err
	}
	if err := readYAML(fsys, "decide/record.yaml", &t.record); err != nil {
		return nil, err
	}
	if len(t.Steps) != 5 {
		return nil, fmt.Errorf("decide/questionnaire.yaml: want 5 steps, got %d", len(t.Steps))
	}
	if err := t.checkSchema(); err != nil {
		return nil, fmt.Errorf("decide/questionnaire.yaml: %w", err)
	}
	return &t, nil
}

func readYAML(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// label returns a record label, or the key itself when content lacks it.
func (t *Text) label(key string) string {
	if v, ok := t.record.Labels[key]; ok {
		return v
	}
	return key
}

// fill replaces {name} placeholders in s.
func fill(s string, kv ...string) string {
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
