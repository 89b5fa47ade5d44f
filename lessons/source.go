package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html/template"
	"io/fs"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
)

// extractFunc returns the source text of the function or method called name
// in file, with its doc comment, exactly as it is in the file. Lessons quote
// the lab this way so the code on the page is always the code that runs.
func extractFunc(fsys fs.FS, file, name string) (string, error) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", file, err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name {
			continue
		}
		start := fn.Pos()
		if fn.Doc != nil {
			start = fn.Doc.Pos()
		}
		from, to := fset.Position(start).Offset, fset.Position(fn.End()).Offset
		return string(src[from:to]), nil
	}
	return "", fmt.Errorf("%s has no function or method %q", file, name)
}

var errNoLexer = errors.New("no Go lexer")

// highlightGo renders Go code as chroma HTML with CSS classes.
func highlightGo(code string) (template.HTML, error) {
	lexer := lexers.Get("go")
	if lexer == nil {
		return "", errNoLexer
	}
	it, err := chroma.Coalesce(lexer).Tokenise(nil, code)
	if err != nil {
		return "", fmt.Errorf("highlight: %w", err)
	}
	var buf bytes.Buffer
	if err := chromahtml.New(chromahtml.WithClasses(true)).Format(&buf, styles.Get("github"), it); err != nil {
		return "", fmt.Errorf("highlight: %w", err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // chroma escapes the code
}
