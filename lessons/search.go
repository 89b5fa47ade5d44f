package lessons

import (
	"html/template"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// index is an in-memory full-text index over chapter sections and glossary
// terms. The corpus is a few hundred short documents, so a scan over
// precomputed token counts answers in microseconds and needs no library.
type index struct {
	docs []doc
}

type doc struct {
	kind    string // "lesson" or "glossary"
	title   string // chapter title or the term
	section string // heading text, for lesson sections
	url     string
	text    string
	tokens  map[string]int // body tokens
	heads   map[string]int // title and heading tokens, weighted higher
}

// SearchResult is one hit.
type SearchResult struct {
	Kind    string
	Title   string
	Section string
	URL     string
	Snippet string
	// Marked is Snippet as HTML with the matching words in <mark>.
	Marked template.HTML
	score  int
}

// MaxQueryTerms bounds the work one query can cause.
const MaxQueryTerms = 8

func buildIndex(c *Catalog) *index {
	ix := &index{}
	for _, ch := range c.Chapters {
		for _, s := range ch.sections {
			url := "/lessons/" + ch.Slug
			heading := s.heading.Text
			if s.heading.ID != "" {
				url += "#" + s.heading.ID
			} else {
				heading = ""
			}
			if strings.TrimSpace(s.text) == "" && heading == "" {
				continue
			}
			head := ch.Title + " " + heading
			if heading == "" {
				head += " " + ch.Summary
			}
			ix.docs = append(ix.docs, doc{
				kind: "lesson", title: ch.Title, section: heading, url: url,
				text: strings.TrimSpace(s.text), tokens: countTokens(s.text), heads: countTokens(head),
			})
		}
	}
	for _, t := range c.Glossary {
		ix.docs = append(ix.docs, doc{
			kind: "glossary", title: t.Term, url: "/glossary#" + t.ID,
			text: t.Plain, tokens: countTokens(t.Plain), heads: countTokens(t.Term),
		})
	}
	return ix
}

func tokenize(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func countTokens(s string) map[string]int {
	m := map[string]int{}
	for _, t := range tokenize(s) {
		m[t]++
	}
	return m
}

// Search returns up to limit hits for the query, best first. Every query
// word must occur in a hit, as a word or the start of one ("retr" finds
// "retry"). Sections whose heading or title match rank higher.
func (c *Catalog) Search(query string, limit int) []SearchResult {
	terms := tokenize(query)
	if len(terms) > MaxQueryTerms {
		terms = terms[:MaxQueryTerms]
	}
	if len(terms) == 0 || limit <= 0 {
		return nil
	}
	var out []SearchResult
	for i := range c.index.docs {
		d := &c.index.docs[i]
		score := 0
		for _, t := range terms {
			s := matches(d.tokens, t) + 5*matches(d.heads, t)
			if s == 0 {
				score = 0
				break
			}
			score += s
		}
		if score == 0 {
			continue
		}
		snip := snippet(d.text, terms)
		out = append(out, SearchResult{
			Kind: d.kind, Title: d.title, Section: d.section, URL: d.url,
			Snippet: snip, Marked: mark(snip, terms), score: score,
		})
	}
	slices.SortStableFunc(out, func(a, b SearchResult) int { return b.score - a.score })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// matches counts occurrences of t in tokens; words of three letters or more
// also match as prefixes.
func matches(tokens map[string]int, t string) int {
	n := tokens[t]
	if len(t) < 3 {
		return n
	}
	for tok, c := range tokens {
		if tok != t && strings.HasPrefix(tok, t) {
			n += c
		}
	}
	return n
}

// mark escapes text and wraps every word that a query term matches (the
// same rule as matches) in <mark>.
func mark(text string, terms []string) template.HTML {
	var b strings.Builder
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for len(text) > 0 {
		r, n := utf8.DecodeRuneInString(text)
		if !isWord(r) {
			b.WriteString(template.HTMLEscapeString(text[:n]))
			text = text[n:]
			continue
		}
		end := strings.IndexFunc(text, func(r rune) bool { return !isWord(r) })
		if end < 0 {
			end = len(text)
		}
		word := text[:end]
		lw := strings.ToLower(word)
		hit := false
		for _, t := range terms {
			if lw == t || len(t) >= 3 && strings.HasPrefix(lw, t) {
				hit = true
				break
			}
		}
		if hit {
			b.WriteString("<mark>" + template.HTMLEscapeString(word) + "</mark>")
		} else {
			b.WriteString(template.HTMLEscapeString(word))
		}
		text = text[end:]
	}
	return template.HTML(b.String()) //nolint:gosec // every piece escaped above
}

// snippet is about 160 characters of text around the first query word.
func snippet(text string, terms []string) string {
	const width = 80
	lower := strings.ToLower(text)
	at := -1
	for _, t := range terms {
		if i := strings.Index(lower, t); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		at = 0
	}
	start, end := max(0, at-width), min(len(text), at+width)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start--
	}
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end++
	}
	s := text[start:end]
	if start > 0 {
		s = "…" + s
	}
	if end < len(text) {
		s += "…"
	}
	return s
}
