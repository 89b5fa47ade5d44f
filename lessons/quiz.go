package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Quiz is a chapter's knowledge check. The correct answers never leave the
// server before the learner answers: the form carries only option values.
type Quiz struct {
	Questions []*Question
}

// Question is one question of a knowledge check.
type Question struct {
	ID     string
	Kind   string // "choice" or "classify"
	Prompt template.HTML
	// Options in display order. Choice options have values "0", "1", ...;
	// classify questions have the options "sync" and "async".
	Options []*Option
}

// Option is one possible answer with its explanation.
type Option struct {
	Value   string
	Text    template.HTML // empty for classify options: the page labels them
	Correct bool
	Why     template.HTML
}

// Correct returns the question's correct option.
func (q *Question) Correct() *Option {
	for _, o := range q.Options {
		if o.Correct {
			return o
		}
	}
	return nil
}

type questionYAML struct {
	ID      string            `yaml:"id"`
	Kind    string            `yaml:"kind"`
	Prompt  string            `yaml:"prompt"`
	Options []optionYAML      `yaml:"options"`
	Answer  string            `yaml:"answer"`
	Why     map[string]string `yaml:"why"`
}

type optionYAML struct {
	Text    string `yaml:"text"`
	Correct bool   `yaml:"correct"`
	Why     string `yaml:"why"`
}

// MinQuestions is the smallest knowledge check a chapter may have.
const MinQuestions = 3

var questionIDRE = slugRE

// parseQuiz reads and checks a quiz block whose fence is on line.
func (p *pass) parseQuiz(body []byte, line int) (*Quiz, bool) {
	var items []questionYAML
	if err := strictUnmarshal(body, &items); err != nil {
		p.errs = append(p.errs, yamlError(p.ch.File, line, fmt.Errorf("quiz block: %w", err)))
		return nil, false
	}
	var nodes []yaml.Node
	_ = yaml.Unmarshal(body, &nodes)
	q := &Quiz{}
	nerr := len(p.errs)
	kinds := map[string]bool{}
	for i, y := range items {
		ql := line
		if i < len(nodes) {
			ql = line + nodes[i].Line
		}
		bad := func(format string, args ...any) {
			p.errs = append(p.errs, fmt.Errorf("%s:%d: question %q: "+format, append([]any{p.ch.File, ql, y.ID}, args...)...))
		}
		if !questionIDRE.MatchString(y.ID) {
			bad("id must be lower-case words and digits joined by hyphens")
			continue
		}
		if slices.ContainsFunc(q.Questions, func(o *Question) bool { return o.ID == y.ID }) {
			bad("id is used twice in this chapter")
			continue
		}
		if strings.TrimSpace(y.Prompt) == "" {
			bad("prompt is missing")
			continue
		}
		prompt, _ := p.fragment(y.Prompt, ql, true)
		qq := &Question{ID: y.ID, Kind: y.Kind, Prompt: prompt}
		kinds[y.Kind] = true
		switch y.Kind {
		case "choice":
			if y.Answer != "" || y.Why != nil {
				bad("choice questions give answer and why per option, not at the question")
				continue
			}
			if len(y.Options) < 2 {
				bad("needs at least two options")
				continue
			}
			correct := 0
			for j, o := range y.Options {
				if strings.TrimSpace(o.Text) == "" || strings.TrimSpace(o.Why) == "" {
					bad("option %d needs text and why", j+1)
					continue
				}
				if o.Correct {
					correct++
				}
				t, _ := p.fragment(o.Text, ql, true)
				w, _ := p.fragment(o.Why, ql, true)
				qq.Options = append(qq.Options, &Option{Value: strconv.Itoa(j), Text: t, Correct: o.Correct, Why: w})
			}
			if correct != 1 {
				bad("has %d correct options; exactly one must be correct", correct)
				continue
			}
			shuffle(qq.Options, p.ch.Slug+"/"+y.ID)
		case "classify":
			if len(y.Options) > 0 {
				bad("classify questions have no options; give answer: sync|async and why: {sync, async}")
				continue
			}
			if y.Answer != "sync" && y.Answer != "async" {
				bad("answer must be sync or async, not %q", y.Answer)
				continue
			}
			if len(y.Why) != 2 || strings.TrimSpace(y.Why["sync"]) == "" || strings.TrimSpace(y.Why["async"]) == "" {
				bad("why must explain both sync and async (and nothing else)")
				continue
			}
			for _, v := range []string{"sync", "async"} {
				w, _ := p.fragment(y.Why[v], ql, true)
				qq.Options = append(qq.Options, &Option{Value: v, Correct: v == y.Answer, Why: w})
			}
		default:
			bad("kind must be choice or classify, not %q", y.Kind)
			continue
		}
		q.Questions = append(q.Questions, qq)
	}
	if len(p.errs) > nerr {
		return nil, false
	}
	if len(q.Questions) < MinQuestions {
		p.errorf(line, "the knowledge check has %d questions; at least %d are needed", len(q.Questions), MinQuestions)
		return nil, false
	}
	if !kinds["choice"] || !kinds["classify"] {
		p.errorf(line, "the knowledge check must use both kinds of question (choice and classify)")
		return nil, false
	}
	return q, true
}

// shuffle puts choice options in an order fixed by seed, so the right
// answer is not wherever authors habitually write it (usually first) and
// the page looks the same on every visit. Values keep the written order, so
// grading and exports do not depend on the shuffle.
func shuffle(opts []*Option, seed string) {
	h := fnv.New64a()
	h.Write([]byte(seed))
	rand.New(rand.NewPCG(h.Sum64(), 0x63726f7373)).Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
}

// ErrBadAnswer marks a submission that the page could not have produced: an
// unknown question or an answer that is not one of the options. The server
// answers it with 400.
var ErrBadAnswer = errors.New("invalid quiz answer")

// AnswerField is the form field name prefix for a question's answer:
// "answer-<question id>".
const AnswerField = "answer-"

// Result is a graded knowledge check.
type Result struct {
	Score, Total int
	Questions    []QuestionResult
}

// Perfect reports whether every answer was right.
func (r *Result) Perfect() bool { return r.Score == r.Total }

// QuestionResult is the verdict on one question.
type QuestionResult struct {
	Question *Question
	Chosen   string // option value; empty when unanswered
	Correct  bool
}

// Grade marks a submitted form. Fields that do not start with AnswerField are
// ignored; an unknown question, a repeated field or a value that is not one of
// the question's options is ErrBadAnswer. Unanswered questions count as wrong.
func (q *Quiz) Grade(form map[string][]string) (*Result, error) {
	chosen := map[string]string{}
	for k, vs := range form {
		id, ok := strings.CutPrefix(k, AnswerField)
		if !ok {
			continue
		}
		i := slices.IndexFunc(q.Questions, func(x *Question) bool { return x.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("%w: field %q names no question of this chapter", ErrBadAnswer, truncate(k, 60))
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: field %q has %d values; one is expected", ErrBadAnswer, k, len(vs))
		}
		if !slices.ContainsFunc(q.Questions[i].Options, func(o *Option) bool { return o.Value == vs[0] }) {
			return nil, fmt.Errorf("%w: field %q: %q is not one of the options", ErrBadAnswer, k, truncate(vs[0], 40))
		}
		chosen[id] = vs[0]
	}
	r := &Result{Total: len(q.Questions)}
	for _, qq := range q.Questions {
		c := chosen[qq.ID]
		ok := c != "" && qq.Correct().Value == c
		if ok {
			r.Score++
		}
		r.Questions = append(r.Questions, QuestionResult{Question: qq, Chosen: c, Correct: ok})
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// quizView is what the quiz template receives.
type quizView struct {
	Slug   string
	Prefix string
	Quiz   *Quiz
	Result *Result
	// Heading is the id of the chapter's own heading for the check; empty
	// when the check brings its own.
	Heading string
}

// Chosen returns the learner's answer to question id, if graded.
func (v quizView) Chosen(id string) string {
	if v.Result == nil {
		return ""
	}
	for _, r := range v.Result.Questions {
		if r.Question.ID == id {
			return r.Chosen
		}
	}
	return ""
}

// RenderQuiz renders a chapter's knowledge check as a form that posts to
// /lessons/<slug>/quiz; with a result, it shows the verdict and the
// explanation of every option. prefix is added to element ids.
func RenderQuiz(ch *Chapter, prefix string, r *Result) (template.HTML, error) {
	var buf bytes.Buffer
	v := quizView{Slug: ch.Slug, Prefix: prefix, Quiz: ch.Quiz, Result: r}
	if ch.quizHeading != "" {
		v.Heading = prefix + ch.quizHeading
	}
	if err := blockTemplates.ExecuteTemplate(&buf, "quiz", v); err != nil {
		return "", fmt.Errorf("render quiz: %w", err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // html/template output
}
