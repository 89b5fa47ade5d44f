// Package workshops is the room a facilitator runs: a workshop with a title
// and an agenda, a short join code for the room and a secret token for the
// facilitator, the participants who joined with a display name, where each
// is in the agenda, and the hands they raise.
//
// Everything lives in Redis under one hash tag per workshop, so any app
// instance can serve any participant and the facilitator's board, and a
// restart loses nothing. Changes are announced on a Redis channel per
// workshop: every instance that holds a board open hears them.
//
// The package knows nothing of the web: lessons, labs and the decide flow
// stay as they are for each participant (their own progress, sandbox and
// draft, keyed by their learner id); a workshop only groups learners and
// tells the facilitator where they are.
package workshops
