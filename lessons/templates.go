package lessons

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var templateFS embed.FS

// blockTemplates render the custom blocks and the knowledge check. They are
// part of the engine: the server only places the result in its page layout.
var blockTemplates = template.Must(template.New("blocks").Funcs(template.FuncMap{
	"inc": func(i int) int { return i + 1 },
}).ParseFS(templateFS, "templates/*.html"))
