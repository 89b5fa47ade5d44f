package labs

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
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

// traceID is the trace-id part of a W3C traceparent
// (version-traceid-parentid-flags in lower-case hex), or "" when the header
// is malformed or its trace id is all zeros: such a header is ignored and
// the signup starts a trace of its own.
func traceID(traceparent string) string {
	if len(traceparent) < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-' ||
		(len(traceparent) > 55 && traceparent[55] != '-') {
		return ""
	}
	for _, part := range []string{traceparent[0:2], traceparent[3:35], traceparent[36:52], traceparent[53:55]} {
		if strings.Trim(part, "0123456789abcdef") != "" {
			return ""
		}
	}
	if id := traceparent[3:35]; strings.Trim(id, "0") != "" {
		return id
	}
	return ""
}
