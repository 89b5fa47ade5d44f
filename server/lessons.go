package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/lessons"
)

//go:generate go run ../lessons/internal/gencss -o static/chroma.css

// maxQuizForm bounds a knowledge-check submission: a few short fields.
const maxQuizForm = 16 << 10

// progressReadTimeout bounds how long a page waits for the learner's
// progress; past it the page renders without progress rather than hang on
// a struggling Redis.
const progressReadTimeout = 500 * time.Millisecond

// maxSearchQuery bounds the search box.
const maxSearchQuery = 200

// lessonRoutes serves the chapters, their knowledge checks, the learner's
// progress, search, the glossary and the printable course. Without a catalog
// (Config.Lessons nil) it shows what is coming.
func (s *Server) lessonRoutes(r gin.IRouter) {
	if s.cfg.Lessons == nil {
		r.GET("/lessons", func(c *gin.Context) {
			s.render(c, http.StatusOK, "soon", view{Title: "Lessons", Section: "lessons", Data: s.site.entry("/lessons")})
		})
		return
	}
	r.GET("/lessons", s.lessonIndex)
	r.GET("/lessons/search", s.lessonSearch)
	r.GET("/lessons/print", s.lessonPrint)
	r.GET("/lessons/progress/export", s.progressExport)
	r.POST("/lessons/progress/import", s.progressImport)
	r.POST("/lessons/progress/reset", s.progressReset)
	r.GET("/lessons/:slug", s.lessonPage)
	r.POST("/lessons/:slug/quiz", s.lessonQuiz)
	r.POST("/lessons/:slug/complete", s.lessonComplete)
	r.GET("/glossary", s.glossaryPage)
}

func (s *Server) progressStore() *lessons.Store {
	return lessons.NewStore(s.cfg.Redis, s.cfg.Lessons)
}

// progress reads the learner's progress. Redis trouble must not take the
// lessons down: the page renders without progress and says so.
func (s *Server) progress(c *gin.Context) (lessons.Progress, bool) {
	if s.cfg.Redis == nil {
		return lessons.Progress{}, false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), progressReadTimeout)
	defer cancel()
	p, err := s.progressStore().Get(ctx, LearnerID(c))
	if err != nil {
		s.log.Warn("read lesson progress", "err", err)
		return lessons.Progress{}, false
	}
	return p, true
}

type indexRow struct {
	Chapter  *lessons.Chapter
	Progress lessons.ChapterProgress
	Started  bool
}

type indexPage struct {
	Rows      []indexRow
	Completed int
	Total     int
	Next      *lessons.Chapter // first chapter not completed
	Saved     bool             // progress could be read
	Notice    string
	Intro     entryPoint // the home page's words for this section
}

func (s *Server) lessonIndex(c *gin.Context) {
	p, ok := s.progress(c)
	page := indexPage{Total: len(s.cfg.Lessons.Chapters), Saved: ok, Intro: s.site.entry("/lessons")}
	for _, ch := range s.cfg.Lessons.Chapters {
		cp, started := p[ch.Slug]
		if !started {
			cp.Total = len(ch.Quiz.Questions)
		}
		page.Rows = append(page.Rows, indexRow{Chapter: ch, Progress: cp, Started: started})
		if cp.Completed {
			page.Completed++
		} else if page.Next == nil {
			page.Next = ch
		}
	}
	switch c.Query("done") {
	case "imported":
		page.Notice = "Progress imported."
	case "reset":
		page.Notice = "Progress reset: every chapter is unread again."
	}
	s.render(c, http.StatusOK, "lessons", view{Title: "Lessons", Section: "lessons", Data: page})
}

// lessonView is what lesson.html receives.
type lessonView struct {
	Chapter *lessons.Chapter
	Quiz    template.HTML // the cached form, or the graded check
	// Bar is the workshop participant's bar, nil outside a workshop.
	Bar *barView
	// unanswered says Quiz is the learner's unanswered form, which few
	// orders share, rather than a graded check.
	unanswered bool
	Progress   lessons.ChapterProgress
	Saved      bool
	Count      int
	Note       string // e.g. progress could not be saved

	// Before, QuizHTML, After and TOC are what the template prints: markers
	// that renderLesson replaces with pieces (see lessons_render.go).
	Before, QuizHTML, After, TOC template.HTML
}

func (s *Server) chapter(c *gin.Context) (*lessons.Chapter, bool) {
	ch, ok := s.cfg.Lessons.Chapter(c.Param("slug"))
	if !ok {
		s.notFound(c)
	}
	return ch, ok
}

func (s *Server) lessonPage(c *gin.Context) {
	ch, ok := s.chapter(c)
	if !ok {
		return
	}
	// Each learner sees the choice options in an order of their own, the
	// same on every visit (lessons.Question.OptionsFor).
	quiz, err := lessons.RenderQuizFor(ch, LearnerID(c), nil)
	if err != nil {
		s.log.Error("render quiz", "slug", ch.Slug, "err", err)
		quiz = ch.QuizForm // the default order is still a working form
	}
	p, saved := s.progress(c)
	s.renderLesson(c, http.StatusOK, lessonView{
		Chapter: ch, Quiz: quiz, unanswered: true, Progress: p[ch.Slug], Saved: saved, Count: len(s.cfg.Lessons.Chapters),
	})
}

// lessonQuiz grades a knowledge check by option value. A plain form POST
// gets the whole chapter back with the verdict; lessons.js asks for just the
// check (X-Requested-With: fetch) and swaps it in place. A wrong answer is
// explained without giving the right one away; a question's "Show the
// answers" button posts the form with reveal=<question id>, which explains
// every option and counts that question as not right in this attempt (see
// lessons.RevealField). The attempt is recorded either way.
func (s *Server) lessonQuiz(c *gin.Context) {
	ch, ok := s.chapter(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxQuizForm)
	if err := c.Request.ParseForm(); err != nil {
		s.quizError(c, "The answers could not be read: the form is malformed or too large.")
		return
	}
	res, err := ch.Quiz.Grade(c.Request.PostForm)
	if errors.Is(err, lessons.ErrBadAnswer) {
		s.quizError(c, "These answers do not belong to this knowledge check ("+strings.TrimPrefix(err.Error(), lessons.ErrBadAnswer.Error()+": ")+"). Reload the page and answer again.")
		return
	}
	if err != nil {
		s.log.Error("grade quiz", "slug", ch.Slug, "err", err)
		s.errorPage(c, http.StatusInternalServerError, "The answers could not be graded. Please try again.")
		return
	}
	note := ""
	if s.cfg.Redis != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		err = s.progressStore().RecordQuiz(ctx, LearnerID(c), ch.Slug, res)
		cancel()
	}
	if s.cfg.Redis == nil || err != nil {
		if err != nil {
			s.log.Warn("record quiz", "slug", ch.Slug, "err", err)
		}
		note = "Your answers were graded, but your progress could not be saved just now."
	}
	graded, err := lessons.RenderQuizFor(ch, LearnerID(c), res)
	if err != nil {
		s.log.Error("render graded quiz", "slug", ch.Slug, "err", err)
		s.errorPage(c, http.StatusInternalServerError, "The graded answers could not be shown. Please try again.")
		return
	}
	if c.GetHeader("X-Requested-With") == "fetch" {
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(graded))
		return
	}
	p, saved := s.progress(c)
	s.renderLesson(c, http.StatusOK, lessonView{
		Chapter: ch, Quiz: graded, Progress: p[ch.Slug], Saved: saved, Count: len(s.cfg.Lessons.Chapters), Note: note,
	})
}

func (s *Server) quizError(c *gin.Context, msg string) {
	if c.GetHeader("X-Requested-With") == "fetch" {
		c.String(http.StatusBadRequest, msg)
		return
	}
	s.errorPage(c, http.StatusBadRequest, msg)
}

// lessonComplete marks a chapter as read without its knowledge check.
func (s *Server) lessonComplete(c *gin.Context) {
	ch, ok := s.chapter(c)
	if !ok {
		return
	}
	if s.cfg.Redis == nil {
		s.errorPage(c, http.StatusServiceUnavailable, "Progress cannot be saved on this server.")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.progressStore().MarkComplete(ctx, LearnerID(c), ch.Slug); err != nil {
		s.log.Warn("mark chapter complete", "slug", ch.Slug, "err", err)
		s.errorPage(c, http.StatusServiceUnavailable, "Your progress could not be saved just now. Please try again.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/lessons/"+ch.Slug+"#chapter-end")
}

type searchPage struct {
	Query   string
	Results []lessons.SearchResult
	TooLong bool
}

func (s *Server) lessonSearch(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	page := searchPage{Query: q}
	if len(q) > maxSearchQuery {
		page.TooLong = true
		page.Query = q[:maxSearchQuery]
		s.render(c, http.StatusBadRequest, "lessons-search", view{Title: "Search the lessons", Section: "lessons", Data: page})
		return
	}
	if q != "" {
		page.Results = s.cfg.Lessons.Search(q, 30)
	}
	title := "Search the lessons"
	if q != "" {
		title = fmt.Sprintf("%s · search", q)
	}
	s.render(c, http.StatusOK, "lessons-search", view{Title: title, Section: "lessons", Data: page})
}

func (s *Server) lessonPrint(c *gin.Context) {
	s.render(c, http.StatusOK, "lessons-print", view{Title: "All lessons (printable)", Section: "lessons", Data: s.cfg.Lessons})
}

func (s *Server) glossaryPage(c *gin.Context) {
	s.render(c, http.StatusOK, "glossary", view{Title: "Glossary", Section: "lessons", Data: s.cfg.Lessons.Glossary})
}
