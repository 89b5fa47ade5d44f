package lessons

import (
	"errors"
	"fmt"
)

// MaxLongestRight is the largest share of choice questions, across the
// whole course, whose right option may be the longest one. Authors tend to
// make the right answer the most careful, qualified and therefore longest
// sentence; past this share "pick the longest" beats reading the chapter.
// With three options, chance alone makes it about a third.
const MaxLongestRight = 0.40

// minLongestSample is the fewest choice questions the share is judged on:
// below it, a percentage says nothing.
const minLongestSample = 5

// longestRight reports whether q's right option is longer than every other
// option, counting the characters a learner reads (markup removed, spaces
// collapsed). A tie is not "the longest": length gives nothing away then.
func longestRight(q *Question) (right, longestWrong int, ok bool) {
	for _, o := range q.Options {
		if o.Correct {
			right = o.length
		} else if o.length > longestWrong {
			longestWrong = o.length
		}
	}
	return right, longestWrong, right > longestWrong
}

// checkLongestRight is the course-wide lint that Load runs after every
// chapter has parsed: it fails when the right option is the longest in more
// than MaxLongestRight of all choice questions, and names each such
// question at its line so authors know which options to rework.
func checkLongestRight(chapters []*Chapter) []error {
	type hit struct {
		ch            *Chapter
		q             *Question
		right, longer int
	}
	var hits []hit
	total := 0
	for _, ch := range chapters {
		if ch.Quiz == nil {
			continue
		}
		for _, q := range ch.Quiz.Questions {
			if q.Kind != "choice" {
				continue
			}
			total++
			if r, w, ok := longestRight(q); ok {
				hits = append(hits, hit{ch, q, r, w})
			}
		}
	}
	if total < minLongestSample || float64(len(hits)) <= MaxLongestRight*float64(total) {
		return nil
	}
	errs := []error{fmt.Errorf("knowledge checks: the right option is the longest in %d of %d choice questions (%.0f %%); at most %.0f %% may be, "+
		"or choosing the longest answer beats reading the chapter; make the wrong options as long and plausible as the right one in some of these",
		len(hits), total, 100*float64(len(hits))/float64(total), 100*MaxLongestRight)}
	for _, h := range hits {
		errs = append(errs, fmt.Errorf("%s:%d: question %q: the right option is the longest (%d characters; the longest wrong one has %d)",
			h.ch.File, h.q.line, h.q.ID, h.right, h.longer))
	}
	return []error{errors.Join(errs...)}
}
