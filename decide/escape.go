package decide

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Everything a user typed passes through one of these before it reaches a
// record, so a title like <script> or ](javascript:alert(1)) stays text.

// mdSpecial are the characters that could start markup anywhere in a line:
// emphasis, code, links, images, raw HTML, entities, table cells, headings.
const mdSpecial = "\\`*_[]<>&|#!~"

// EscapeInline makes s safe as inline Markdown text: line breaks become
// spaces, markup characters are backslash-escaped (CommonMark treats every
// backslash-escaped ASCII punctuation character as a literal), and a leading
// character that would start a block (list, quote, heading) is escaped too.
func EscapeInline(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			// dropped: invisible and never intended in a record
		case r < 128 && strings.ContainsRune(mdSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return escapeLineStart(b.String())
}

var orderedStart = regexp.MustCompile(`^(\d{1,9})([.)])`)

// escapeLineStart escapes what only means something at the start of a line.
func escapeLineStart(s string) string {
	t := strings.TrimLeft(s, " ")
	lead := s[:len(s)-len(t)]
	if len(lead) > 3 { // four spaces would start an indented code block
		lead = ""
	}
	if t == "" {
		return lead
	}
	switch t[0] {
	case '-', '+', '=', '>':
		return lead + "\\" + t
	}
	if m := orderedStart.FindStringSubmatch(t); m != nil {
		return lead + m[1] + "\\" + t[len(m[1]):]
	}
	return lead + t
}

// EscapeBlock makes multi-line text safe as Markdown paragraphs: each line
// is escaped like inline text and blank lines keep separating paragraphs.
func EscapeBlock(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := make([]string, 0, len(lines))
	blank := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, EscapeInline(l))
	}
	return strings.Join(out, "\n")
}

var plainYAML = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ,._@()/-]*$`)

// yamlValue writes s as a YAML scalar for front matter: plain when it cannot
// be misread, otherwise double-quoted with JSON escapes (valid YAML).
func yamlValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if plainYAML.MatchString(s) && !strings.HasSuffix(s, " ") && !strings.Contains(s, " #") && !strings.Contains(s, ": ") {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// mermaidLabel makes s safe inside a quoted Mermaid label: letters, digits
// and a few harmless marks stay, everything else becomes a #code; entity so
// it cannot end the label, the code block or smuggle in HTML.
func mermaidLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '.' || r == ',' || r == '-' || r == '/' || r == ':' || r == '_':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteString("#" + strconv.Itoa(int(r)) + ";")
		}
	}
	return b.String()
}
