package server

import (
	"fmt"
	"io/fs"

	"github.com/crossroads-learn/crossroads/labs"
	"github.com/crossroads-learn/crossroads/lessons"
)

// QuoteFigures lets lessons quote the recorded lab runs: each figure links
// to the page of the run that measured it and carries its command.
func QuoteFigures(recs labs.Recordings) lessons.Figures {
	return func(scenario, run, name string) (lessons.Figure, error) {
		f, err := recs.Figure(scenario, run, name)
		if err != nil {
			return lessons.Figure{}, err
		}
		return lessons.Figure{
			Text:    f.Text,
			Run:     f.Label,
			Href:    fmt.Sprintf("/labs/results/%s#run-%d", f.Scenario, f.Run+1),
			Command: f.Command,
			Note:    fmt.Sprintf("recorded %s on %s", f.Recorded.Format("2 January 2006"), f.Redis),
		}, nil
	}
}

// shippedRecordings are the recordings under content/labs/results.
func shippedRecordings(fsys fs.FS) (labs.Recordings, error) {
	recs, err := labs.LoadRecordings(fsys, "labs/results")
	if err != nil {
		return nil, fmt.Errorf("content/labs/results: %w", err)
	}
	return recs, nil
}
