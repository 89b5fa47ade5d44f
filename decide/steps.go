package decide

import (
	"regexp"
	"slices"
	"strings"
)

var indexSuffix = regexp.MustCompile(`\[\d+\]$`)

// StepOf says on which of the five steps (1-5) the answer at path is asked,
// so a surface can show a validation error next to its question. Fields that
// belong to the record as a whole (status, date) and unknown paths give 0.
func (t *Text) StepOf(path string) int {
	leaf := path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		leaf = path[i+1:]
	}
	leaf = indexSuffix.ReplaceAllString(leaf, "")
	scope := ""
	switch {
	case strings.HasPrefix(path, "observability."):
		scope = "observability"
	case strings.HasPrefix(path, "fallback."):
		scope = "fallback"
	case strings.Contains(path, ".interactions["):
		scope = "interaction"
	case strings.HasPrefix(path, "journeys["):
		scope = "journey"
	}
	if leaf == "journeys" || leaf == "interactions" {
		return 1
	}
	for n, s := range t.Steps {
		for _, q := range s.Questions {
			if q.Field == leaf && q.Scope == scope {
				return n + 1
			}
		}
	}
	return 0
}

// NextStatuses lists the statuses a record in status from may move to with
// SetStatus (superseding is separate: it needs the successor).
func NextStatuses(from string) []string {
	if from == "" {
		from = "proposed"
	}
	return slices.Clone(transitions[from])
}
