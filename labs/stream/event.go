package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// TypeSignedUp is the type of the one fact the lab publishes.
const TypeSignedUp = "user.signedup"

// SchemaVersion is the version of Event's layout; consumers reject others.
const SchemaVersion = 1

// User is the record the signup API stores.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Mode is how the user signed up (sync or async); only async users must
	// have an event on the stream.
	Mode    string `json:"mode"`
	EventID string `json:"event_id"`
	// Run is the lab run whose load created the user, "" for one-off signups.
	Run       string    `json:"run,omitempty"`
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
	// Run is the lab run the signup belonged to, so each run's figures count
	// its own events only.
	Run string `json:"run,omitempty"`
}

// SignedUp is the fact that u signed up.
func SignedUp(u User, requestedAt time.Time, traceparent string) Event {
	return Event{
		ID: u.EventID, Type: TypeSignedUp, OccurredAt: u.CreatedAt, SchemaVersion: SchemaVersion,
		UserID: u.ID, Email: u.Email, Name: u.Name, RequestedAt: requestedAt, TraceParent: traceparent, Run: u.Run,
	}
}

// ErrPoison marks an entry no consumer can handle, however often it tries:
// it goes to the dead-letter stream at first sight.
var ErrPoison = errors.New("not a readable user.signedup event")

// Decode reads a stream entry's fields; any entry it cannot trust is poison.
func Decode(values map[string]any) (Event, error) {
	raw, ok := values["payload"].(string)
	if !ok {
		return Event{}, fmt.Errorf("%w: it has no payload", ErrPoison)
	}
	var ev Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return Event{}, fmt.Errorf("%w: the payload is not JSON (%v)", ErrPoison, err)
	}
	switch {
	case ev.Type != TypeSignedUp:
		return Event{}, fmt.Errorf("%w: its type is %q", ErrPoison, ev.Type)
	case ev.SchemaVersion != SchemaVersion:
		return Event{}, fmt.Errorf("%w: schema version %d, this consumer reads %d", ErrPoison, ev.SchemaVersion, SchemaVersion)
	case ev.ID == "" || ev.UserID == "":
		return Event{}, fmt.Errorf("%w: it has no event id or user id", ErrPoison)
	}
	return ev, nil
}
