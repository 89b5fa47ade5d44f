package labs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EventSignedUp is the type of the one fact the lab publishes.
const EventSignedUp = "user.signedup"

// SchemaVersion is the version of Event's layout; consumers reject others.
const SchemaVersion = 1

// User is the record the signup API stores.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Mode is how the user signed up; only async users must have an event.
	Mode    Mode   `json:"mode"`
	EventID string `json:"event_id"`
	// CreatedAt is when the record was written.
	CreatedAt time.Time `json:"created_at"`
}

// Event is the user.signedup fact: something that happened, named in the past
// tense, carrying what its consumers need so they never call back.
type Event struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	OccurredAt    time.Time `json:"occurred_at"`
	SchemaVersion int       `json:"schema_version"`
	UserID        string    `json:"user_id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	// RequestedAt is when the signup request arrived, for effect latency.
	RequestedAt time.Time `json:"requested_at"`
	// TraceParent is a W3C trace context linking the request to its effects.
	TraceParent string `json:"traceparent"`
}

func newSignedUp(u User, requestedAt time.Time, traceparent string) Event {
	return Event{
		ID: u.EventID, Type: EventSignedUp, OccurredAt: u.CreatedAt, SchemaVersion: SchemaVersion,
		UserID: u.ID, Email: u.Email, Name: u.Name, RequestedAt: requestedAt, TraceParent: traceparent,
	}
}

var errPoison = errors.New("unreadable event")

// decodeEvent reads a stream entry; any entry it cannot trust is poison.
func decodeEvent(values map[string]any) (Event, error) {
	raw, ok := values["payload"].(string)
	if !ok {
		return Event{}, fmt.Errorf("%w: no payload field", errPoison)
	}
	var ev Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return Event{}, fmt.Errorf("%w: %v", errPoison, err)
	}
	switch {
	case ev.Type != EventSignedUp:
		return Event{}, fmt.Errorf("%w: type %q", errPoison, ev.Type)
	case ev.SchemaVersion != SchemaVersion:
		return Event{}, fmt.Errorf("%w: schema version %d", errPoison, ev.SchemaVersion)
	case ev.ID == "" || ev.UserID == "":
		return Event{}, fmt.Errorf("%w: missing id or user_id", errPoison)
	}
	return ev, nil
}

// newID returns prefix followed by 16 random hex digits.
func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newTraceParent starts a W3C trace context (version 00, sampled).
func newTraceParent() string {
	t := make([]byte, 16)
	s := make([]byte, 8)
	rand.Read(t)
	rand.Read(s)
	return "00-" + hex.EncodeToString(t) + "-" + hex.EncodeToString(s) + "-01"
}

// traceID is the trace-id part of a traceparent, or "".
func traceID(traceparent string) string {
	if len(traceparent) < 35 {
		return ""
	}
	return traceparent[3:35]
}
