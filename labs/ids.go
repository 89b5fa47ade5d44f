package labs

import (
	"crypto/rand"
	"encoding/hex"
)

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
