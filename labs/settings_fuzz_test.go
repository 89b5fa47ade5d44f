package labs

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// settingNames are every name SetValue knows, sorted so a fuzz input's
// first byte picks one deterministically.
var settingNames = func() []string {
	var out []string
	for n := range fields {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}()

// formatValue writes a value back as text SetValue reads, for the
// round trip.
func formatValue(s *Settings, l *LoadSpec, name string) string {
	f := fields[name]
	switch p := f.ptr(s, l).(type) {
	case *Mode:
		return string(*p)
	case *Publish:
		return string(*p)
	case *time.Duration:
		return p.String()
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		v := *p
		if f.kind == "notbool" {
			v = !v
		}
		return strconv.FormatBool(v)
	}
	return ""
}

// differ reports whether a and b differ, NaN equal to NaN.
func differ(a, b any) bool { return fmt.Sprintf("%#v", a) != fmt.Sprintf("%#v", b) }

// validateFields are the names Settings.Validate may blame: the settings'
// JSON names, dotted for a service's faults.
func validateField(name string) bool {
	if _, ok := fields[name]; ok {
		return true
	}
	svc, rest, ok := strings.Cut(name, ".")
	return ok && (svc == ServiceEmail || svc == ServiceAnalytics || svc == "chain") &&
		slices.Contains([]string{"latency", "jitter", "error_rate"}, rest)
}

// FuzzSetValue sets every lab control (the settings and load values the
// web form, `crossroads lab run` flags and scenarios use) from arbitrary text
// and checks that
//   - a refusal is a *FieldError naming exactly that control, with a short
//     message (it quotes the value, so bounded by its length);
//   - nothing but the named control changes, refused or not;
//   - an accepted value written back as text reads back to the same value
//     (a round trip through the text form);
//   - Settings.Validate and LoadSpec.Validate then either accept or blame a
//     field the web can map to a control, never panic.
//
// Run it longer with
//
//	go test ./labs -run '^$' -fuzz '^FuzzSetValue$' -fuzztime 60s -parallel 1
func FuzzSetValue(f *testing.F) {
	for i, n := range settingNames {
		var s Settings
		var l LoadSpec
		d := DefaultSettings()
		f.Add(uint8(i), formatValue(&d, &l, n))
		f.Add(uint8(i), formatValue(&s, &l, n))
	}
	for _, v := range []string{"", " 250ms ", "1.5", "-1", "NaN", "Inf", "1e309", "0x10", "9223372036854775807", "99999999999999999999",
		"2562047h47m16.854775807s", "2562048h", "on", "YES", "perhaps", "sync", "async", "outbox", "naive", "\x00", "1_000"} {
		for i := range settingNames {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, value string) {
		name := settingNames[int(pick)%len(settingNames)]
		s, l := DefaultSettings(), LoadSpec{Signups: 10, Concurrency: 2}
		before, beforeLoad := s, l
		err := SetValue(&s, &l, name, value)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != name {
				t.Fatalf("SetValue(%q, %q) = %v, not a *FieldError naming %q", name, value, err, name)
			}
			if len(err.Error()) > 4*len(value)+200 {
				t.Fatalf("message of %d bytes for a value of %d", len(err.Error()), len(value))
			}
			if differ(s, before) || differ(l, beforeLoad) {
				t.Fatalf("a refused %s changed the settings", name)
			}
			return
		}
		// Only the named control moved.
		other, otherLoad := before, beforeLoad
		if err := SetValue(&other, &otherLoad, name, formatValue(&s, &l, name)); err != nil {
			t.Fatalf("%s=%q was accepted but its text %q is refused: %v", name, value, formatValue(&s, &l, name), err)
		}
		if differ(other, s) || differ(otherLoad, l) {
			t.Fatalf("%s=%q: writing back %q gives %+v %+v, want %+v %+v", name, value, formatValue(&s, &l, name), other, otherLoad, s, l)
		}
		if IsLoadField(name) {
			if differ(s, before) {
				t.Fatalf("load value %s changed the settings", name)
			}
		} else if differ(l, beforeLoad) {
			t.Fatalf("setting %s changed the load", name)
		}
		if err := s.Validate(); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !validateField(fe.Field) {
				t.Fatalf("Validate after %s=%q: %v does not name a control", name, value, err)
			}
		}
		if err := l.Validate(); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !validateField(fe.Field) {
				t.Fatalf("LoadSpec.Validate after %s=%q: %v does not name a control", name, value, err)
			}
		}
	})
}
