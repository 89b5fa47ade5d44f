package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

// The recorded runs are the evidence behind every figure a text quotes, so
// they are public pages, the same for every learner.

type resultsIndexPage struct {
	Rows []resultsIndexRow
}

type resultsIndexRow struct {
	Rec     *labs.Recording
	Order   int
	Holding int // claims that held
}

type resultsPage struct {
	Rec     *labs.Recording
	Sc      *scenarioView
	Holding int
	Runs    []recordedRunView
	Figures []figureRow
}

// recordedRunView is a recorded run and its number, counted from 1 as the
// page's anchors (#run-1) are.
type recordedRunView struct {
	N int
	labs.RecordedRun
}

// labResultsIndex lists every recorded scenario.
func (s *Server) labResultsIndex(c *gin.Context) {
	if !s.labsReady(c) {
		return
	}
	p := resultsIndexPage{}
	for _, sc := range s.lab.scenarios {
		rec := s.lab.recs[sc.ID]
		if rec == nil {
			continue
		}
		p.Rows = append(p.Rows, resultsIndexRow{Rec: rec, Order: sc.Order, Holding: holding(rec.Claims)})
	}
	s.render(c, http.StatusOK, "lab-results-index", view{Title: "Recorded runs", Section: "labs", Data: p})
}

// labResults shows one scenario's recorded runs: the claims checked on
// them, each run's command, and every figure side by side. With .json on
// the end it is the recording itself.
func (s *Server) labResults(c *gin.Context) {
	if !s.labsReady(c) {
		return
	}
	id, asJSON := strings.CutSuffix(c.Param("id"), ".json")
	rec := s.lab.recs[id]
	if rec == nil {
		s.errorPage(c, http.StatusNotFound, "There is no recorded run of a scenario called "+strconv.Quote(id)+".")
		return
	}
	if asJSON {
		c.IndentedJSON(http.StatusOK, rec)
		return
	}
	p := resultsPage{Rec: rec, Sc: s.lab.byID[id], Holding: holding(rec.Claims)}
	results := make([]labs.Result, len(rec.Runs))
	for i, r := range rec.Runs {
		results[i] = r.Result
		p.Runs = append(p.Runs, recordedRunView{N: i + 1, RecordedRun: r})
	}
	p.Figures = compareRows(results)
	s.render(c, http.StatusOK, "lab-results", view{Title: "Recorded: " + rec.Title, Section: "labs", Data: p})
}

func holding(cs []labs.ClaimCheck) int {
	n := 0
	for _, c := range cs {
		if c.Holds {
			n++
		}
	}
	return n
}
