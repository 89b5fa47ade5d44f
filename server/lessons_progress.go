package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/lessons"
)

// progressExport downloads the learner's progress as a JSON file.
func (s *Server) progressExport(c *gin.Context) {
	if s.cfg.Redis == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "Progress is not stored on this server.")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	e, err := s.progressStore().Export(ctx, LearnerID(c), time.Now())
	if err != nil {
		s.log.Warn("export progress", "err", err)
		s.errorPage(c, http.StatusServiceUnavailable, "Your progress could not be read just now. Please try again.")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="crossroads-progress.json"`)
	c.Header("Cache-Control", "no-store")
	c.IndentedJSON(http.StatusOK, e)
}

// progressImport replaces the learner's progress with an uploaded export.
// It accepts a multipart form with a "file" field (the page's form) or a
// raw JSON body.
func (s *Server) progressImport(c *gin.Context) {
	if s.cfg.Redis == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "Progress is not stored on this server.")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, lessons.MaxImportBytes+8<<10)
	var r io.Reader
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "multipart/form-data":
		fh, err := c.FormFile("file")
		if isTooLarge(err) {
			s.tooLarge(c)
			return
		}
		if err != nil {
			s.errorPage(c, http.StatusBadRequest, "file: choose a progress file (crossroads-progress.json) to import.")
			return
		}
		f, err := fh.Open()
		if err != nil {
			s.errorPage(c, http.StatusBadRequest, "file: the uploaded file could not be read.")
			return
		}
		defer f.Close()
		r = f
	case "application/json":
		r = c.Request.Body
	default:
		s.errorPage(c, http.StatusUnsupportedMediaType, "Send the progress file as a form upload (field \"file\") or as application/json.")
		return
	}
	store := s.progressStore()
	e, err := store.ParseImport(r)
	if errors.Is(err, lessons.ErrBadImport) {
		s.errorPage(c, http.StatusBadRequest, "This progress file was not imported: "+strings.TrimPrefix(err.Error(), lessons.ErrBadImport.Error()+": ")+".")
		return
	}
	if err != nil {
		s.errorPage(c, http.StatusBadRequest, "The progress file could not be read.")
		return
	}
	if field, msg := boundImport(e); field != "" {
		s.errorPage(c, http.StatusBadRequest, "This progress file was not imported: "+field+": "+msg+".")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := store.Import(ctx, LearnerID(c), e); err != nil {
		s.log.Warn("import progress", "err", err)
		s.errorPage(c, http.StatusServiceUnavailable, "Your progress could not be saved just now. Please try again.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/lessons?done=imported")
}

// progressReset forgets the learner's progress.
func (s *Server) progressReset(c *gin.Context) {
	if s.cfg.Redis == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "Progress is not stored on this server.")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.progressStore().Reset(ctx, LearnerID(c)); err != nil {
		s.log.Warn("reset progress", "err", err)
		s.errorPage(c, http.StatusServiceUnavailable, "Your progress could not be reset just now. Please try again.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/lessons?done=reset")
}

// Bounds on the numbers of an imported progress file, beyond what
// lessons.ParseImport checks: nobody answers a check a hundred thousand
// times, and a count near 2^63 would make the next saved attempt overflow
// Redis's counter.
const (
	maxImportedAttempts = 100_000
	maxImportedTotal    = 1_000
)

// boundImport checks every number of e against a sane range; it returns the
// field and what is wrong, or "" when all are in range.
func boundImport(e *lessons.Export) (field, msg string) {
	for _, slug := range slices.Sorted(maps.Keys(e.Chapters)) {
		cp := e.Chapters[slug]
		f := "chapters." + slug
		switch {
		case cp.Attempts > maxImportedAttempts:
			return f + ".attempts", fmt.Sprintf("%d is more than %d", cp.Attempts, maxImportedAttempts)
		case cp.Total < 0 || cp.Total > maxImportedTotal:
			return f + ".total", fmt.Sprintf("%d is outside 0..%d", cp.Total, maxImportedTotal)
		}
	}
	return "", ""
}
