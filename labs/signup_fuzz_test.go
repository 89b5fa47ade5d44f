package labs

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crossroads-learn/crossroads/labs/load"
)

// signupFields are the inputs a refused signup may name: the client is told
// which one to fix, so every refusal maps to a 400 with one of them.
var signupFields = map[string]bool{"body": true, "email": true, "name": true, "Idempotency-Key": true, load.RunHeader: true}

var traceParentRE = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}`)

// FuzzSignupBody posts arbitrary bodies and headers to the signup API's
// decoder (readSignup, which ServeHTTP answers 400 from) and checks that
//   - every refusal is a *FieldError naming one of the inputs, so the API
//     answers 400 with "field" set, and its message stays bounded by the input;
//   - every accepted signup holds what validation promised: a trimmed address
//     that net/mail reads back unchanged, a name of 1 to 100 characters, a
//     printable Idempotency-Key, a run id of the allowed alphabet and a
//     well-formed traceparent (a malformed one is replaced, as W3C asks);
//   - the 400 reply is valid JSON carrying the same field.
//
// Run it longer with
//
//	go test ./labs -run '^$' -fuzz '^FuzzSignupBody$' -fuzztime 60s -parallel 1
func FuzzSignupBody(f *testing.F) {
	f.Add(`{"email":"ada@example.com","name":"Ada"}`, "", "", "")
	f.Add(`{"email":" ada@example.com ","name":" Ada Lovelace "}`, "key-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "run_1")
	f.Add(`{"email":"Ada <ada@example.com>","name":"Ada"}`, "", "", "")
	f.Add(`{"email":"ada@localhost","name":"Ada"}`, "", "", "")
	f.Add(`{"email":"ada@example.com","name":""}`, "", "", "")
	f.Add(`{"email":"ada@example.com","name":"`+strings.Repeat("é", 101)+`"}`, "", "", "")
	f.Add(`{"email":1,"name":["x"]}`, "", "", "")
	f.Add(`{"email":"ada@example.com","name":"Ada"} trailing`, "a b", "", "")
	f.Add(`{"email":"ada@example.com","name":"Ada"}`, "", "00-<script>alert(1)</script>xxxxxxxxxxxxxxxxxxxx-01", "../x")
	f.Add(`{"email":"ada@example.com","name":"Ada"}`, "", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "")
	f.Add(`{"email":"ada@example.com","name":"Ada"}`, "", "00-<script>alert(1)</script>xxxxxxxxxxxxxxxxxxxx-01", "")
	f.Add(`{"email":"\"<script>\"@example.com","name":"<script>alert(1)</script>"}`, "", "", "")
	f.Add(`null`, "", "", "")
	f.Add(`[]`, "", "", "")
	f.Add(``, "", "", "")
	f.Add(`{"email":"`+strings.Repeat("a", 5000)+`@example.com","name":"x"}`, "", "", "")
	f.Fuzz(func(t *testing.T, body, key, traceparent, run string) {
		r := httptest.NewRequest(http.MethodPost, "/signups", strings.NewReader(body))
		// Only values a real client can send: net/http refuses header
		// values with control characters before a handler sees them.
		setHeader := func(name, v string) {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				r.Header.Set(name, v)
			}
		}
		setHeader("Idempotency-Key", key)
		setHeader("traceparent", traceparent)
		setHeader(load.RunHeader, run)
		w := httptest.NewRecorder()
		req, err := readSignup(w, r)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("refusal %v (%T) is not a *FieldError", err, err)
			}
			if !signupFields[fe.Field] {
				t.Fatalf("refusal names %q, not one of the signup's inputs: %v", fe.Field, err)
			}
			// The message quotes at most the body and the headers, escaped.
			if limit := 4*(len(body)+len(key)+len(run)) + 300; len(err.Error()) > limit {
				t.Fatalf("message of %d bytes for %d bytes of input", len(err.Error()), len(body))
			}
			rec := httptest.NewRecorder()
			writeJSON(rec, http.StatusBadRequest, SignupReply{Mode: ModeAsync, Error: err.Error(), Field: fe.Field})
			var back SignupReply
			if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil {
				t.Fatalf("400 reply is not JSON: %v: %q", err, rec.Body.String())
			}
			if back.Field != fe.Field || rec.Code != http.StatusBadRequest {
				t.Fatalf("400 reply lost its field: %+v", back)
			}
			return
		}
		if req.Email != strings.TrimSpace(req.Email) || validateEmail(req.Email) != nil || len(req.Email) > 254 {
			t.Fatalf("accepted email %q", req.Email)
		}
		if !bytes.Contains([]byte(body), []byte(`"`)) {
			t.Fatalf("accepted a body without any JSON string: %q", body)
		}
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > 100 || req.Name != strings.TrimSpace(req.Name) {
			t.Fatalf("accepted name %q", req.Name)
		}
		if len(req.IdempotencyKey) > 200 || strings.ContainsFunc(req.IdempotencyKey, func(c rune) bool { return c <= ' ' || c > '~' }) {
			t.Fatalf("accepted Idempotency-Key %q", req.IdempotencyKey)
		}
		if req.Run != "" && !idPattern.MatchString(req.Run) {
			t.Fatalf("accepted run %q", req.Run)
		}
		if !traceParentRE.MatchString(req.TraceParent) {
			t.Fatalf("accepted traceparent %q: its trace id is not 32 hex digits", req.TraceParent)
		}
		if id := traceID(req.TraceParent); len(id) != 32 || strings.Trim(id, "0") == "" {
			t.Fatalf("trace id %q of %q", id, req.TraceParent)
		}
	})
}
