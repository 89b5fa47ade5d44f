package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzip"
)

// cachedPage is a page whose bytes are the same for every request (the home
// page: it depends on nothing but the server's own config), rendered and
// compressed once at start-up. Serving it runs no template and compresses
// nothing: `cd bench && go run . web` showed template execution and gzip of
// the same bytes were most of the home page's cost per request.
type cachedPage struct {
	plain, gz []byte
}

func (s *Server) cachePage(name string, v view) (*cachedPage, error) {
	t, ok := s.pages.sets[name]
	if !ok {
		return nil, fmt.Errorf("cache page %s: no such template", name)
	}
	v.RedisLabel, v.Version = s.cfg.RedisLabel, s.cfg.Version
	var plain bytes.Buffer
	if err := t.ExecuteTemplate(&plain, "layout.html", v); err != nil {
		return nil, fmt.Errorf("cache page %s: %w", name, err)
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression) // once, so the best
	if err != nil {
		return nil, fmt.Errorf("cache page %s: %w", name, err)
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		return nil, fmt.Errorf("cache page %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("cache page %s: %w", name, err)
	}
	return &cachedPage{plain: plain.Bytes(), gz: gz.Bytes()}, nil
}

// serve writes the page, compressed when the client takes gzip. The
// Content-Encoding it sets tells the gzip wrapper (Handler) to pass the
// bytes through untouched.
func (p *cachedPage) serve(c *gin.Context) {
	h := c.Writer.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", "text/html; charset=utf-8")
	body := p.plain
	if acceptsGzip(c.Request) {
		h.Set("Content-Encoding", "gzip")
		body = p.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.Status(http.StatusOK)
	c.Writer.Write(body)
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (or any coding, "*") with a quality above zero.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q=")
			if !ok {
				return true
			}
			if f, err := strconv.ParseFloat(q, 64); err == nil && f > 0 {
				return true
			}
		}
	}
	return false
}
