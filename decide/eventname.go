package decide

import (
	"strings"
	"unicode"
)

// EventKind is how an event name reads.
type EventKind int

const (
	// EventFact reads as something that already happened: OrderPlaced.
	EventFact EventKind = iota
	// EventCommand reads as an order to someone: PlaceOrder.
	EventCommand
	// EventUnclear is neither, such as a bare noun: OrderConfirmation.
	EventUnclear
)

// imperatives are verbs that start a command-style name, with their past
// participle for the suggested fact.
var imperatives = map[string]string{
	"add": "added", "apply": "applied", "approve": "approved", "assign": "assigned", "book": "booked",
	"calculate": "calculated", "cancel": "cancelled", "capture": "captured", "change": "changed", "charge": "charged",
	"check": "checked", "close": "closed", "compute": "computed", "confirm": "confirmed", "create": "created",
	"delete": "deleted", "deliver": "delivered", "do": "done", "email": "emailed", "emit": "emitted",
	"execute": "executed", "fetch": "fetched", "generate": "generated", "get": "received", "handle": "handled",
	"invoice": "invoiced", "issue": "issued", "log": "logged", "make": "made", "mark": "marked", "move": "moved",
	"notify": "notified", "open": "opened", "pay": "paid", "place": "placed", "post": "posted", "print": "printed",
	"process": "processed", "publish": "published", "push": "pushed", "record": "recorded", "refund": "refunded",
	"register": "registered", "reject": "rejected", "release": "released", "remove": "removed", "request": "requested",
	"reserve": "reserved", "reset": "reset", "run": "run", "save": "saved", "schedule": "scheduled", "send": "sent",
	"set": "set", "ship": "shipped", "sign": "signed", "start": "started", "stop": "stopped", "store": "stored",
	"submit": "submitted", "sync": "synced", "track": "tracked", "trigger": "triggered", "update": "updated",
	"upsert": "upserted", "validate": "validated", "verify": "verified", "write": "written",
}

// participles are past forms that do not end in -ed.
var participles = map[string]bool{
	"sent": true, "paid": true, "done": true, "made": true, "built": true, "sold": true, "bought": true,
	"held": true, "lost": true, "found": true, "written": true, "chosen": true, "given": true, "taken": true,
	"set": true, "reset": true, "run": true, "put": true, "won": true, "begun": true, "left": true, "shown": true,
	"known": true, "read": true, "split": true, "cut": true, "hit": true, "quit": true, "spent": true, "kept": true,
}

// splitWords breaks CamelCase, snake_case, kebab-case and dotted names into
// words, and reports the separator style so a suggestion can keep it.
func splitWords(name string) (words []string, sep string) {
	switch {
	case strings.Contains(name, "."):
		sep = "."
	case strings.Contains(name, "_"):
		sep = "_"
	case strings.Contains(name, "-"):
		sep = "-"
	}
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case r == '.' || r == '_' || r == '-' || r == ' ' || r == '/' || r == ':':
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]))):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words, sep
}

func isPast(w string) bool {
	w = strings.ToLower(w)
	// Phrasal verbs written as one word: signedup, loggedin, checkedout.
	for _, particle := range []string{"up", "in", "out", "on", "off"} {
		if base, ok := strings.CutSuffix(w, particle); ok && len(base) > 3 && strings.HasSuffix(base, "ed") {
			return true
		}
	}
	return (len(w) > 3 && strings.HasSuffix(w, "ed")) || participles[w]
}

// CheckEvent says whether name reads as a fact, a command or neither, and for
// a command suggests the fact: SendWelcomeEmail -> WelcomeEmailSent,
// update.inventory -> inventory.updated.
func CheckEvent(name string) (EventKind, string) {
	words, sep := splitWords(name)
	if len(words) == 0 {
		return EventUnclear, ""
	}
	if past, ok := imperatives[strings.ToLower(words[0])]; ok && len(words) > 1 {
		rest := words[1:]
		// A name like "order.placed" starts with a noun; only a leading verb
		// followed by no past form is a command.
		if !isPast(rest[len(rest)-1]) {
			return EventCommand, suggest(rest, past, sep, words[0])
		}
	}
	for _, w := range words[1:] {
		if isPast(w) {
			return EventFact, ""
		}
	}
	if len(words) == 1 && isPast(words[0]) {
		return EventFact, ""
	}
	return EventUnclear, ""
}

// suggest rebuilds the name as noun words followed by the past participle,
// in the style of the original.
func suggest(nouns []string, past, sep, verb string) string {
	parts := append(append([]string(nil), nouns...), past)
	if sep != "" {
		lower := verb == strings.ToLower(verb)
		for i, p := range parts {
			if lower {
				parts[i] = strings.ToLower(p)
			}
		}
		return strings.Join(parts, sep)
	}
	for i, p := range parts {
		r := []rune(p)
		r[0] = unicode.ToUpper(r[0])
		parts[i] = string(r)
	}
	return strings.Join(parts, "")
}
