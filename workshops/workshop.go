package workshops

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ItemKind is what an agenda item opens.
type ItemKind string

// The kinds of agenda item.
const (
	KindChapter  ItemKind = "chapter"  // a lesson chapter, by slug
	KindScenario ItemKind = "scenario" // a lab scenario, by id
	KindDecide   ItemKind = "decide"   // the decide exercise
)

// Item is one step of an agenda.
type Item struct {
	Kind  ItemKind `json:"kind"`
	Ref   string   `json:"ref,omitempty"` // chapter slug or scenario id
	Title string   `json:"title"`
}

// Workshop is one room.
type Workshop struct {
	Code      string    `json:"code"`
	Title     string    `json:"title"`
	Agenda    []Item    `json:"agenda"`
	Current   int       `json:"current"` // agenda index the facilitator moved everyone to; -1 before any
	Locked    bool      `json:"locked"`  // no new participants
	Paused    bool      `json:"paused"`  // labs paused by the facilitator
	Closed    bool      `json:"closed"`  // over: nobody joins, the report stays
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RoomRun is the scenario the facilitator last ran for the whole room
	// ("" for none), started at RoomRunAt.
	RoomRun   string    `json:"room_run,omitempty"`
	RoomRunAt time.Time `json:"room_run_at,omitzero"`
}

// CurrentItem returns the item the facilitator moved everyone to.
func (w Workshop) CurrentItem() (Item, bool) {
	if w.Current < 0 || w.Current >= len(w.Agenda) {
		return Item{}, false
	}
	return w.Agenda[w.Current], true
}

// Participant is one learner in a workshop.
type Participant struct {
	Learner  string    `json:"learner"`
	Name     string    `json:"name"`
	JoinedAt time.Time `json:"joined_at"`
	// At is the agenda index of the item the participant last opened; -1
	// before any.
	At     int       `json:"at"`
	SeenAt time.Time `json:"seen_at"`
	// HandAt is when the participant raised their hand; zero when it is
	// down. OnMyWay says the facilitator answered it.
	HandAt  time.Time `json:"hand_at,omitzero"`
	OnMyWay bool      `json:"on_my_way,omitempty"`
}

// HandUp reports whether the participant's hand is raised.
func (p Participant) HandUp() bool { return !p.HandAt.IsZero() }

// Errors a caller turns into a message for people.
var (
	ErrNotFound  = errors.New("no workshop has this code")
	ErrClosed    = errors.New("this workshop is closed")
	ErrLocked    = errors.New("the facilitator has locked joining")
	ErrFull      = errors.New("this workshop is full")
	ErrTooMany   = errors.New("this server runs as many workshops as it allows")
	ErrForbidden = errors.New("the facilitator link is not valid for this workshop")
	ErrNotJoined = errors.New("not a participant of this workshop")
	ErrBusy      = errors.New("too many joins to this workshop just now")
)

// FieldError is bad input, naming the field as a person sees it.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Limits on what people type.
const (
	MaxTitle  = 80 // characters of a workshop title
	MaxName   = 40 // characters of a display name
	MaxAgenda = 30 // agenda items
)

// CleanText normalises what a person typed for display: control and
// format characters and invalid bytes dropped, then NFC (so a mark that the
// dropping brought next to its letter is composed with it), runs of space
// collapsed, trimmed. It never returns more than max characters, and
// cleaning its result again changes nothing (FuzzCleanText).
func CleanText(s string, max int) string {
	var kept strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) && !unicode.IsSpace(r) {
			continue
		}
		kept.WriteRune(r)
	}
	var b strings.Builder
	space := false
	n := 0
	for _, r := range norm.NFC.String(kept.String()) {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanName checks a display name.
func cleanName(name string) (string, error) {
	if utf8.RuneCountInString(name) > 4*MaxName {
		return "", &FieldError{"name", fmt.Sprintf("at most %d characters", MaxName)}
	}
	n := CleanText(name, MaxName+1)
	switch {
	case n == "":
		return "", &FieldError{"name", "type the name the facilitator will see"}
	case utf8.RuneCountInString(n) > MaxName:
		return "", &FieldError{"name", fmt.Sprintf("at most %d characters", MaxName)}
	}
	return n, nil
}

// Plan is what a facilitator asks for when creating a workshop.
type Plan struct {
	Title  string
	Agenda []Item
}

// Check normalises the plan and reports the first bad field.
func (p *Plan) Check() error {
	if utf8.RuneCountInString(p.Title) > 4*MaxTitle {
		return &FieldError{"title", fmt.Sprintf("at most %d characters", MaxTitle)}
	}
	p.Title = CleanText(p.Title, MaxTitle+1)
	switch {
	case p.Title == "":
		return &FieldError{"title", "give the workshop a title participants will recognise"}
	case utf8.RuneCountInString(p.Title) > MaxTitle:
		return &FieldError{"title", fmt.Sprintf("at most %d characters", MaxTitle)}
	case len(p.Agenda) == 0:
		return &FieldError{"agenda", "choose at least one chapter, scenario or the decide exercise"}
	case len(p.Agenda) > MaxAgenda:
		return &FieldError{"agenda", fmt.Sprintf("at most %d items", MaxAgenda)}
	}
	for i, it := range p.Agenda {
		switch it.Kind {
		case KindChapter, KindScenario:
			if it.Ref == "" {
				return &FieldError{"agenda", fmt.Sprintf("item %d names no %s", i+1, it.Kind)}
			}
		case KindDecide:
		default:
			return &FieldError{"agenda", fmt.Sprintf("item %d: %q is not a chapter, scenario or decide", i+1, it.Kind)}
		}
		p.Agenda[i].Title = CleanText(it.Title, MaxTitle)
	}
	return nil
}
