package workshops

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// What people type becomes text fit to show anywhere: valid UTF-8, no
// control or invisible format characters, no runs of space, no space at
// either end, never longer than asked, and cleaning it again changes
// nothing.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"  Ada  Lovelace ", "e\u0301", "x\u202ey", "\xff\xfe", "=cmd|'/C calc'!A0", "a\tb\nc", "\u200b", strings.Repeat("é", 50)} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 200 {
			return
		}
		got := CleanText(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q) = %q: not UTF-8", s, got)
		}
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("CleanText(%q, %d) has %d characters", s, max, n)
		}
		if got != strings.TrimSpace(got) || strings.Contains(got, "  ") {
			t.Fatalf("CleanText(%q) = %q: stray spaces", s, got)
		}
		for _, r := range got {
			if r != ' ' && (unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r)) {
				t.Fatalf("CleanText(%q) = %q: keeps %U", s, got, r)
			}
		}
		if again := CleanText(got, max); again != got {
			t.Fatalf("CleanText is not stable: %q → %q → %q", s, got, again)
		}
	})
}

// A join code is read the same however it is typed, and nothing else reads
// as one.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"ACD-E34", "acd e34", "ACDE3O", "", "ÄCDE34", "acde344"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := NormalizeCode(s)
		if !ok {
			if code != "" {
				t.Fatalf("NormalizeCode(%q) refused but returned %q", s, code)
			}
			return
		}
		if len(code) != CodeLen || strings.Trim(code, codeAlphabet) != "" {
			t.Fatalf("NormalizeCode(%q) = %q: not a code", s, code)
		}
		if again, ok := NormalizeCode(code); !ok || again != code {
			t.Fatalf("NormalizeCode is not stable on %q", code)
		}
	})
}
