package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed templates
var templateFS embed.FS

// pages holds one parsed template set per page: the shared layout and
// partials plus that page's own blocks, so pages can each define "main"
// without clashing.
type pages struct {
	sets map[string]*template.Template
}

// loadPages parses the templates. decisionsNav is the label of the
// decision log's link in the site's navigation, empty when there is no log.
func loadPages(a *assets, decisionsNav string) (*pages, error) {
	funcs := template.FuncMap{
		"asset":        a.url,
		"decisionsNav": func() string { return decisionsNav },
		// codeShown writes a join code as people read it aloud: ACD-E34.
		"codeShown": func(code string) string {
			if len(code) != 6 {
				return code
			}
			return code[:3] + "-" + code[3:]
		},
	}
	for name, f := range pictureFuncs {
		funcs[name] = f
	}
	// Partials are blocks more than one page uses (the lab's picture, its
	// dead-letter list); every page set has them.
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout and partials: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("list pages: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, f := range files {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", f, err)
		}
		p.sets[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// view is what every page template receives: the page's own data plus what
// the layout needs.
type view struct {
	Title      string
	Section    string // "home", "lessons", "labs", "decide" or "decisions": marks the current nav item
	RedisLabel string
	Version    string
	Data       any
	// Bar is the workshop participant's bar, nil outside a workshop.
	Bar *barView
}

// render writes page name with data. Rendering into a buffer first means a
// template error becomes a clean 500 page, not half a page.
func (s *Server) render(c *gin.Context, status int, name string, v view) {
	t, ok := s.pages.sets[name]
	if !ok {
		s.log.Error("unknown page template", "page", name)
		c.String(http.StatusInternalServerError, "Internal error: unknown page.")
		return
	}
	v.RedisLabel = s.cfg.RedisLabel
	v.Version = s.cfg.Version
	v.Bar = barOf(c)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "Internal error while rendering this page.")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage renders a friendly page for a status code with one sentence of
// explanation.
func (s *Server) errorPage(c *gin.Context, status int, message string) {
	s.render(c, status, "error", view{
		Title: http.StatusText(status),
		Data: struct {
			Status  int
			Message string
		}{status, message},
	})
}
