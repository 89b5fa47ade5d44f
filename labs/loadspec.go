package labs

import (
	"time"
)

// LoadSpec is one bounded load against the signup API.
type LoadSpec struct {
	// Signups is how many signups to send (1..100,000).
	Signups int `json:"signups"`
	// Concurrency caps the requests in flight (1..1,000). Without Rate the
	// load is a closed loop: Concurrency clients send back to back.
	Concurrency int `json:"concurrency"`
	// Rate, when set, sends that many signups per second (open loop)
	// whatever the answers take; latency counts from each planned start.
	Rate float64 `json:"rate"`
	// Duration ends the load early (0: when all signups are sent; at most
	// 10 minutes either way).
	Duration time.Duration `json:"duration"`
	// RecoverAfter brings downed or hanging services back after this long.
	RecoverAfter time.Duration `json:"recover_after"`
	// DrainTimeout is how long a run waits for the work to finish once the
	// load has ended and the services are back (default 2 minutes, at most
	// 10). A run stops waiting sooner when all that is left waits for a
	// service that is down and not scheduled to come back.
	DrainTimeout time.Duration `json:"drain_timeout"`
	// Poison adds that many unreadable messages to the stream before the
	// load, so poison handling can be watched (0..100).
	Poison int `json:"poison"`
}

// MaxPoison bounds the poison messages one run may add.
const MaxPoison = 100

// Validate returns a *FieldError for the first value out of range, and for
// an open-loop load whose planned length passes MaxDuration.
func (l LoadSpec) Validate() error {
	if err := checkInt("signups", l.Signups, 1, MaxSignups); err != nil {
		return err
	}
	if err := checkInt("concurrency", l.Concurrency, 1, MaxConcurrency); err != nil {
		return err
	}
	if !(l.Rate == 0 || l.Rate >= MinRate && l.Rate <= MaxRate) { // also rejects NaN
		return fieldErr("rate", "%v is not 0 (back to back) or between %v and %d per second", l.Rate, MinRate, MaxRate)
	}
	if err := checkDuration("duration", l.Duration, 0, MaxDuration); err != nil {
		return err
	}
	if l.Rate > 0 && l.Duration == 0 {
		planned := time.Duration(float64(l.Signups-1) / l.Rate * float64(time.Second))
		if planned > MaxDuration {
			return fieldErr("rate", "%d signups at %v per second take %v, longer than the %v a load may last: raise the rate, send fewer signups or set a duration",
				l.Signups, l.Rate, planned.Round(time.Second), MaxDuration)
		}
	}
	if err := checkDuration("recover_after", l.RecoverAfter, 0, MaxDuration); err != nil {
		return err
	}
	if err := checkDuration("drain_timeout", l.DrainTimeout, 0, MaxDuration); err != nil {
		return err
	}
	return checkInt("poison", l.Poison, 0, MaxPoison)
}

// RunProgress is a run in flight, its own counts only: what the load sent
// and got back, what the consumers did for its events so far, and what is
// still waiting.
type RunProgress struct {
	Started time.Time `json:"started"`
	Target  int       `json:"target"`
	Sent    int64     `json:"sent"`
	// Phase is "load" while signups are sent, then "drain".
	Phase     string `json:"phase"`
	Succeeded int64  `json:"succeeded"`
	Failed    int64  `json:"failed"`
	// Emails and Analytics count the run's users whose effect took place.
	Emails       int64 `json:"emails"`
	Analytics    int64 `json:"analytics"`
	Retries      int64 `json:"retries"`
	DeadLettered int64 `json:"dead_lettered"`
	// Waiting is each group's work not yet done (pending plus undelivered).
	Waiting PerGroup `json:"waiting"`
}
