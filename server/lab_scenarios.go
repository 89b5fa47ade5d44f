package server

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/crossroads-learn/crossroads/labs"
)

type scenarioPage struct {
	Base       string
	Sc         *scenarioView
	State      labs.ScenarioState
	Status     labs.RunStatus
	Running    bool // this scenario's guided runs are in progress
	Chosen     *optionView
	Right      bool
	Columns    []string
	Rows       []figureRow
	Reached    bool
	Hints      []template.HTML
	ShowMe     bool
	Prev, Next *scenarioView
	Notice     labNotice
	// Claims are the scenario's claims checked on the learner's own runs,
	// once all of them have finished.
	Claims []labs.ClaimCheck
	// Recorded says the scenario has recorded runs to compare with.
	Recorded bool
	Count    int // scenarios in all
}

func (s *Server) scenarioOf(c *gin.Context) (*scenarioView, bool) {
	sc := s.lab.byID[c.Param("sc")]
	if sc == nil {
		s.labFail(c, http.StatusNotFound, "scenario", "There is no scenario called "+strconv.Quote(c.Param("sc"))+".")
		return nil, false
	}
	return sc, true
}

func (s *Server) labScenario(c *gin.Context) {
	sc, ok := s.scenarioOf(c)
	if !ok {
		return
	}
	s.renderScenario(c, http.StatusOK, labOf(c), sc, labNotice{})
}

func (s *Server) renderScenario(c *gin.Context, status int, l *labs.Lab, sc *scenarioView, note labNotice) {
	st := l.Scenario(sc.ID)
	run := l.Status()
	p := scenarioPage{Base: labURL(l, ""), Sc: sc, State: st, Status: run, Notice: note,
		Running: run.Running && run.Scenario == sc.ID, Reached: sc.GoalReached(l.History(), l.Replays())}
	if st.Prediction >= 0 && st.Prediction < len(sc.Options) {
		p.Chosen = &sc.Options[st.Prediction]
		p.Right = sc.Options[st.Prediction].Correct
	}
	for i := range st.Results {
		label := "Run " + strconv.Itoa(i+1)
		if i < len(sc.Runs) {
			label = sc.Runs[i].Label
		}
		p.Columns = append(p.Columns, label)
	}
	for _, f := range sc.Show {
		row := figureRow{Label: figureLabel(f)}
		for _, r := range st.Results {
			row.Values = append(row.Values, shortFigure(r, f))
		}
		p.Rows = append(p.Rows, row)
	}
	for i := 0; i < st.Hints && i < len(sc.Hints); i++ {
		p.Hints = append(p.Hints, sc.Hints[i])
	}
	p.ShowMe = st.Hints >= len(sc.Hints)
	if len(st.Results) == len(sc.Runs) {
		p.Claims = sc.CheckClaims(st.Results)
	}
	p.Recorded = s.lab.recs[sc.ID] != nil
	p.Count = len(s.lab.scenarios)
	for i, o := range s.lab.scenarios {
		if o == sc {
			if i > 0 {
				p.Prev = s.lab.scenarios[i-1]
			}
			if i+1 < len(s.lab.scenarios) {
				p.Next = s.lab.scenarios[i+1]
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	s.render(c, status, "lab-scenario", view{Title: sc.Title, Section: "labs", Data: p})
}

// figureLabel names a result figure for people.
func figureLabel(name string) string {
	for _, f := range compareFigures {
		if f.name == name {
			return f.label
		}
	}
	return name
}

func scenarioURL(l *labs.Lab, sc *scenarioView, rest string) string {
	return labURL(l, "/scenarios/"+sc.ID+rest)
}

// labPredict records the learner's prediction, which must come first.
func (s *Server) labPredict(c *gin.Context) {
	sc, ok := s.scenarioOf(c)
	if !ok {
		return
	}
	l := labOf(c)
	v := c.PostForm("prediction")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= len(sc.Options) {
		msg := "Prediction: choose one of the answers"
		if v != "" {
			msg = "Prediction: " + strconv.Quote(v) + " is not one of the answers"
		}
		if wantsJSON(c) {
			c.JSON(http.StatusBadRequest, gin.H{"error": msg, "field": "prediction"})
			return
		}
		s.renderScenario(c, http.StatusBadRequest, l, sc, labNotice{Error: msg, Field: "prediction"})
		return
	}
	l.Predict(sc.ID, n)
	s.recordPrediction(c, sc.ID, n)
	s.done(c, scenarioURL(l, sc, "#run"), gin.H{"prediction": n})
}

// labScenarioRun runs the scenario's guided runs in the background; it needs
// a prediction first.
func (s *Server) labScenarioRun(c *gin.Context) {
	if s.refusePaused(c) {
		return
	}
	sc, ok := s.scenarioOf(c)
	if !ok {
		return
	}
	l := labOf(c)
	if l.Scenario(sc.ID).Prediction < 0 {
		msg := "Prediction: make your prediction before running the scenario"
		if wantsJSON(c) {
			c.JSON(http.StatusConflict, gin.H{"error": msg, "field": "prediction"})
			return
		}
		s.renderScenario(c, http.StatusConflict, l, sc, labNotice{Error: msg, Field: "prediction"})
		return
	}
	plan, err := sc.Plan(s.lab.mgr.Base())
	if err == nil {
		for i := range plan {
			plan[i].Load.DrainTimeout = labs.GuidedDrainTimeout
		}
		err = l.Start(sc.ID, plan)
	}
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, scenarioURL(l, sc, "#run"), gin.H{"status": l.Status()})
}

// labHint reveals the next hint.
func (s *Server) labHint(c *gin.Context) {
	sc, ok := s.scenarioOf(c)
	if !ok {
		return
	}
	l := labOf(c)
	n := l.RevealHint(sc.ID, len(sc.Hints))
	s.done(c, scenarioURL(l, sc, "#hints"), gin.H{"hints": n})
}

// labShowMe sets the controls to the scenario's first run, for a learner
// who has read every hint.
func (s *Server) labShowMe(c *gin.Context) {
	sc, ok := s.scenarioOf(c)
	if !ok {
		return
	}
	l := labOf(c)
	plan, err := sc.Plan(s.lab.mgr.Base())
	if err == nil {
		err = l.Apply(*plan[0].Settings)
	}
	if err != nil {
		s.fieldFail(c, err)
		return
	}
	s.done(c, labURL(l, "?note=shown"), gin.H{"settings": l.Settings()})
}
