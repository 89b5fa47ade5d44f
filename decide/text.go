package decide

import (
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/crossroads-learn/crossroads/content"
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

var loadText = sync.OnceValues(func() (*Text, error) {
	var t Text
	if err := readYAML("decide/questionnaire.yaml", &t); err != nil {
		return nil, err
	}
	if err := readYAML("decide/record.yaml", &t.record); err != nil {
		return nil, err
	}
	if len(t.Steps) != 5 {
		return nil, fmt.Errorf("decide/questionnaire.yaml: want 5 steps, got %d", len(t.Steps))
	}
	if err := t.checkSchema(); err != nil {
		return nil, fmt.Errorf("decide/questionnaire.yaml: %w", err)
	}
	return &t, nil
})

func readYAML(name string, v any) error {
	b, err := content.FS.ReadFile(name)
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

// Questionnaire returns the words of the questionnaire. The content is
// embedded, so an error means the binary was built from broken content; the
// tests catch that.
func Questionnaire() (*Text, error) { return loadText() }

// mustText is for the renderers: the embedded content is checked by tests, so
// a failure here is a build defect, not bad input.
func mustText() *Text {
	t, err := loadText()
	if err != nil {
		panic(fmt.Sprintf("decide: embedded content is broken: %v", err))
	}
	return t
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
