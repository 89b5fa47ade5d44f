package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Quiz is a chapter's knowledge check. The correct answers never leave the
// server before the learner answers: the form carries only option values.
type Quiz struct {
	Questions []*Question

	// forms caches the whole unanswered form by id prefix and the options'
	// order in every question (see renderQuiz); nil for a quiz not loaded
	// from a chapter.
	forms *formCache
}

// Question is one question of a knowledge check.
type Question struct {
	ID     string
	Kind   string // "choice" or "classify"
	Prompt template.HTML
	// Options in written order. Classify questions have the options "sync"
	// and "async". A choice option's value is opaque (see Option.Value), so
	// the page source shows neither the written order nor the right answer.
	// Each learner sees choice options in an order of their own
	// (OptionsFor); the values never change with it, so grading, progress
	// and exports do not depend on it.
	Options []*Option

	seed string // chapter slug and question id: the shuffle's seed
	line int    // where the question starts in its file, for lints

	// unanswered caches the question's HTML while nobody has answered it,
	// by id prefix, number and option order (see renderQuestion); nil for
	// a question not loaded from a chapter.
	unanswered *sync.Map
}

// Option is one possible answer with its explanation.
type Option struct {
	// Value is what the form posts. For a choice option it is "o" and
	// 8 hex digits hashed from the chapter slug, the question id and the
	// option's plain text (optionValues): the same across restarts and
	// learners, unchanged when options are reordered in the file (but for
	// options whose texts read the same: see optionValues), the same shape
	// for right and wrong options, and unique within its question. Changing
	// an option's text changes its value. Classify options are "sync" and
	// "async".
	Value   string
	Text    template.HTML // empty for classify options: the page labels them
	Correct bool
	Why     template.HTML

	length int // characters of Text as read, without markup, for lints
}

// OptionsFor returns the options in the order learner sees them. Choice
// options are shuffled with a seed made of the learner id, the chapter slug
// and the question id: the order is the same on every visit of that learner
// (nothing is stored) and differs between learners, so the right answer is
// not wherever authors habitually write it (usually first). An empty learner
// gets the course's default order, used by the cached and printable pages.
// Classify questions keep their fixed sync, async order.
func (q *Question) OptionsFor(learner string) []*Option {
	if q.Kind != "choice" {
		return q.Options
	}
	opts := slices.Clone(q.Options)
	seed := q.seed
	if learner != "" {
		seed = learner + "/" + seed
	}
	shuffle(opts, seed)
	return opts
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
	q := &Quiz{forms: &formCache{}}
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
		qq := &Question{ID: y.ID, Kind: y.Kind, Prompt: prompt, seed: p.ch.Slug + "/" + y.ID, line: ql, unanswered: new(sync.Map)}
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
			var texts []string
			for j, o := range y.Options {
				if strings.TrimSpace(o.Text) == "" || strings.TrimSpace(o.Why) == "" {
					bad("option %d needs text and why", j+1)
					continue
				}
				if o.Correct {
					correct++
				}
				t, plain := p.fragment(o.Text, ql, true)
				w, _ := p.fragment(o.Why, ql, true)
				qq.Options = append(qq.Options, &Option{Text: t, Correct: o.Correct, Why: w,
					length: readLength(plain)})
				texts = append(texts, readText(plain))
			}
			if correct != 1 {
				bad("has %d correct options; exactly one must be correct", correct)
				continue
			}
			for j, v := range optionValues(qq.seed, texts) {
				qq.Options[j].Value = v
			}
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

// readLength counts the characters a learner reads in an option's plain
// text: typographic quotes are entities there, and spaces run together.
func readLength(plain string) int {
	return utf8.RuneCountInString(readText(plain))
}

// readText is an option's plain text as the learner reads it: entities
// decoded, spaces run together.
func readText(plain string) string {
	return strings.Join(strings.Fields(html.UnescapeString(plain)), " ")
}

// optionValues gives the choice options of the question with seed (chapter
// slug and question id), whose plain texts are texts in written order, their
// form values: "o" and 8 hex digits of a hash of the seed and the text. The
// value says nothing about where the option is written or whether it is
// right, and stays put when options are reordered. Two options whose texts
// read the same (or, rarely, whose hashes collide) would share a value; the
// later one then has its written index folded into the hash, and, should that
// collide too, a counter.
func optionValues(seed string, texts []string) []string {
	hash := func(parts ...string) string {
		h := fnv.New32a()
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		return fmt.Sprintf("o%08x", h.Sum32())
	}
	seen := map[string]bool{}
	vs := make([]string, len(texts))
	for j, t := range texts {
		v := hash(seed, t)
		for n := 0; seen[v]; n++ {
			v = hash(seed, t, strconv.Itoa(j), strconv.Itoa(n))
		}
		seen[v] = true
		vs[j] = v
	}
	return vs
}

// shuffle puts options in an order fixed by seed (see OptionsFor).
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

// RevealField names the questions whose answers the learner asks to see:
// the value of a question's "Show the answers" button is its id.
//
// Showing the answers of a question counts it as not answered right in that
// attempt, whatever was chosen, and the attempt is recorded like any other
// (the best score is kept, the last score is this one). The learner can then
// answer it and check again: the knowledge check is for learning, and the
// explanations of a question appear anyway once it is answered right.
const RevealField = "reveal"

// Result is a graded knowledge check.
type Result struct {
	Score, Total int
	Questions    []QuestionResult
}

// Perfect reports whether every answer was right.
func (r *Result) Perfect() bool { return r.Score == r.Total }

// Revealed is how many questions had their answers shown in this attempt.
func (r *Result) Revealed() int {
	n := 0
	for _, q := range r.Questions {
		if q.Revealed {
			n++
		}
	}
	return n
}

// QuestionResult is the verdict on one question.
type QuestionResult struct {
	Question *Question
	Chosen   string // option value; empty when unanswered
	// Revealed: the learner asked to see the answers, so the question
	// counts as not answered right in this attempt.
	Revealed bool
	Correct  bool
}

// Grade marks a submitted form by option value, never by position. Fields
// other than AnswerField* and RevealField are ignored; an unknown question, a
// repeated answer or a value that is not one of the question's options is
// ErrBadAnswer. Unanswered and revealed questions count as not right.
func (q *Quiz) Grade(form map[string][]string) (*Result, error) {
	find := func(id string) *Question {
		i := slices.IndexFunc(q.Questions, func(x *Question) bool { return x.ID == id })
		if i < 0 {
			return nil
		}
		return q.Questions[i]
	}
	chosen := map[string]string{}
	for k, vs := range form {
		id, ok := strings.CutPrefix(k, AnswerField)
		if !ok {
			continue
		}
		qq := find(id)
		if qq == nil {
			return nil, fmt.Errorf("%w: field %q names no question of this chapter", ErrBadAnswer, truncate(k, 60))
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: field %q has %d values; one is expected", ErrBadAnswer, k, len(vs))
		}
		if !slices.ContainsFunc(qq.Options, func(o *Option) bool { return o.Value == vs[0] }) {
			return nil, fmt.Errorf("%w: field %q: %q is not one of the options", ErrBadAnswer, k, truncate(vs[0], 40))
		}
		chosen[id] = vs[0]
	}
	revealed := map[string]bool{}
	for _, id := range form[RevealField] {
		if find(id) == nil {
			return nil, fmt.Errorf("%w: field %q: %q names no question of this chapter", ErrBadAnswer, RevealField, truncate(id, 40))
		}
		revealed[id] = true
	}
	r := &Result{Total: len(q.Questions)}
	for _, qq := range q.Questions {
		c := chosen[qq.ID]
		ok := c != "" && qq.Correct().Value == c && !revealed[qq.ID]
		if ok {
			r.Score++
		}
		r.Questions = append(r.Questions, QuestionResult{Question: qq, Chosen: c, Revealed: revealed[qq.ID], Correct: ok})
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // never cut a character in two
	}
	return s[:n] + "…"
}

// quizView is what the quiz template receives.
type quizView struct {
	Slug      string
	Prefix    string
	Questions []questionView
	Result    *Result
	// Heading is the id of the chapter's own heading for the check; empty
	// when the check brings its own.
	Heading string
}

// Question states after grading.
const (
	stateRight    = "right"
	stateWrong    = "wrong" // a wrong answer, or none
	stateRevealed = "revealed"
)

type questionView struct {
	*Question
	Number  int
	Chosen  string
	State   string
	Options []optionView
	// HTML is the question rendered by the "question" template.
	HTML template.HTML
}

// ShowAll: every option's explanation is shown, the right one marked.
func (q questionView) ShowAll() bool { return q.State == stateRight || q.State == stateRevealed }

type optionView struct {
	*Option
	Chosen bool
	// ShowWhy: after a right answer or when revealed, every option explains
	// itself; after a wrong answer only the chosen one does, and nothing
	// marks the right one.
	ShowWhy bool
}

// RenderQuiz renders a chapter's knowledge check in the course's default
// option order (for the cached and printable pages); with a result, it shows
// the verdicts. prefix is added to element ids.
func RenderQuiz(ch *Chapter, prefix string, r *Result) (template.HTML, error) {
	return renderQuiz(ch, prefix, "", r)
}

// RenderQuizFor renders a chapter's knowledge check as learner sees it: the
// choice options in that learner's order (OptionsFor). Without a result it
// is the unanswered form that posts to /lessons/<slug>/quiz. With one, a
// question answered right, or whose answers were revealed, explains every
// option and marks the right one; a wrongly answered question explains only
// why the chosen option is wrong and offers to show the answers.
func RenderQuizFor(ch *Chapter, learner string, r *Result) (template.HTML, error) {
	return renderQuiz(ch, "", learner, r)
}

// renderQuestion renders one question of v. Each learner sees the options
// in an order of their own, but a question has only a handful of orders (six
// for three options), so the HTML of a question nobody has answered yet is
// cached per order: a lesson page then runs no question template at all.
func renderQuestion(v *quizView, qv questionView) (template.HTML, error) {
	var key string
	cache := qv.unanswered
	if v.Result == nil && cache != nil {
		var k strings.Builder
		k.WriteString(v.Slug + "\x00" + v.Prefix + "\x00" + strconv.Itoa(qv.Number))
		for _, o := range qv.Options {
			k.WriteString("\x00" + o.Value)
		}
		key = k.String()
		if html, ok := cache.Load(key); ok {
			return html.(template.HTML), nil
		}
	}
	var buf bytes.Buffer
	if err := blockTemplates.ExecuteTemplate(&buf, "question", struct {
		V *quizView
		Q questionView
	}{v, qv}); err != nil {
		return "", fmt.Errorf("render question %s: %w", qv.ID, err)
	}
	html := template.HTML(buf.String()) //nolint:gosec // html/template output
	if key != "" {
		cache.Store(key, html)
	}
	return html, nil
}

func renderQuiz(ch *Chapter, prefix, learner string, r *Result) (template.HTML, error) {
	v := quizView{Slug: ch.Slug, Prefix: prefix, Result: r}
	if ch.quizHeading != "" {
		v.Heading = prefix + ch.quizHeading
	}
	qvs := make([]questionView, len(ch.Quiz.Questions))
	for i, q := range ch.Quiz.Questions {
		qv := questionView{Question: q, Number: i + 1}
		if r != nil {
			var res QuestionResult
			if j := slices.IndexFunc(r.Questions, func(x QuestionResult) bool { return x.Question.ID == q.ID }); j >= 0 {
				res = r.Questions[j]
			}
			qv.Chosen = res.Chosen
			switch {
			case res.Revealed:
				qv.State = stateRevealed
			case res.Correct:
				qv.State = stateRight
			default:
				qv.State = stateWrong
			}
		}
		for _, o := range q.OptionsFor(learner) {
			chosen := qv.Chosen != "" && qv.Chosen == o.Value
			qv.Options = append(qv.Options, optionView{Option: o, Chosen: chosen, ShowWhy: qv.ShowAll() || chosen && qv.State == stateWrong})
		}
		qvs[i] = qv
	}
	// The unanswered form depends only on the options' orders: a learner's
	// lesson page runs no quiz template once the form in their order is
	// kept.
	var key string
	if forms := ch.Quiz.forms; r == nil && forms != nil {
		var k strings.Builder
		k.WriteString(prefix)
		for _, qv := range qvs {
			for _, o := range qv.Options {
				k.WriteString("\x00" + o.Value)
			}
			k.WriteString("\x01")
		}
		key = k.String()
		if html, ok := forms.get(key); ok {
			return html, nil
		}
	}
	for _, qv := range qvs {
		html, err := renderQuestion(&v, qv)
		if err != nil {
			return "", err
		}
		qv.HTML = html
		v.Questions = append(v.Questions, qv)
	}
	var buf bytes.Buffer
	if err := blockTemplates.ExecuteTemplate(&buf, "quiz", v); err != nil {
		return "", fmt.Errorf("render quiz: %w", err)
	}
	html := template.HTML(buf.String()) //nolint:gosec // html/template output
	if key != "" {
		ch.Quiz.forms.put(key, html)
	}
	return html, nil
}
