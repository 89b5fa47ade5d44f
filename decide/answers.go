package decide

// Answers is everything a team tells the questionnaire. The YAML and JSON
// field names are the answers-file format that `crossroads decide --answers`
// and /decide/upload read (see ARCHITECTURE.md; decide/testdata/checkout.yaml
// is an example).
type Answers struct {
	Title         string        `json:"title" yaml:"title"`
	Status        string        `json:"status" yaml:"status"`
	Date          string        `json:"date,omitempty" yaml:"date,omitempty"` // YYYY-MM-DD; injected when empty
	Deciders      []string      `json:"deciders" yaml:"deciders"`
	Consulted     []string      `json:"consulted,omitempty" yaml:"consulted,omitempty"`
	Informed      []string      `json:"informed,omitempty" yaml:"informed,omitempty"`
	Context       string        `json:"context" yaml:"context"`
	Journeys      []Journey     `json:"journeys" yaml:"journeys"`
	Observability Observability `json:"observability" yaml:"observability"`
	Fallback      Fallback      `json:"fallback" yaml:"fallback"`
}

// Journey is one path a user takes, with the service interactions on it.
type Journey struct {
	Name         string        `json:"name" yaml:"name"`
	Interactions []Interaction `json:"interactions" yaml:"interactions"`
}

// Interaction is one service asking another for something.
type Interaction struct {
	Name          string `json:"name" yaml:"name"`
	From          string `json:"from" yaml:"from"`
	To            string `json:"to" yaml:"to"`
	NeedsResponse bool   `json:"needs_response" yaml:"needs_response"`
	Consistency   string `json:"consistency" yaml:"consistency"` // strong | eventual
	UserWaiting   bool   `json:"user_waiting" yaml:"user_waiting"`
	Consumers     int    `json:"consumers" yaml:"consumers"`
	PeakRPS       int    `json:"peak_rps" yaml:"peak_rps"`
	Choice        string `json:"choice,omitempty" yaml:"choice,omitempty"` // "" follows the recommendation; sync | async overrides it
	Event         string `json:"event" yaml:"event"`
	Idempotency   string `json:"idempotency" yaml:"idempotency"` // none | dedup-table | natural | upsert
	DeadLetter    bool   `json:"dead_letter" yaml:"dead_letter"`
	TimeoutMS     int    `json:"timeout_ms,omitempty" yaml:"timeout_ms,omitempty"`
	Breaker       bool   `json:"circuit_breaker,omitempty" yaml:"circuit_breaker,omitempty"`
}

// Observability is what the team measures today (step 3).
type Observability struct {
	Tracing          bool `json:"tracing" yaml:"tracing"`
	PublishRate      bool `json:"publish_rate,omitempty" yaml:"publish_rate,omitempty"`
	ConsumeRate      bool `json:"consume_rate,omitempty" yaml:"consume_rate,omitempty"`
	ConsumerLag      bool `json:"consumer_lag" yaml:"consumer_lag"`
	DeadLetterAlerts bool `json:"dead_letter_alerts" yaml:"dead_letter_alerts"`
}

// Fallback is the retry and dead-letter strategy for asynchronous handlers
// (step 5).
type Fallback struct {
	Retry                 string `json:"retry,omitempty" yaml:"retry,omitempty"` // none | fixed | exponential
	MaxAttempts           int    `json:"max_attempts,omitempty" yaml:"max_attempts,omitempty"`
	DeadLetterDestination string `json:"dead_letter_destination,omitempty" yaml:"dead_letter_destination,omitempty"`
	Runbook               string `json:"runbook,omitempty" yaml:"runbook,omitempty"`
	OnExhausted           string `json:"on_exhausted,omitempty" yaml:"on_exhausted,omitempty"` // dead-letter | park
}

// Allowed values of the enumerated fields.
var (
	Statuses      = []string{"proposed", "accepted", "rejected", "deprecated", "superseded"}
	Consistencies = []string{"strong", "eventual"}
	Idempotencies = []string{"none", "dedup-table", "natural", "upsert"}
	Choices       = []string{"sync", "async"}
	Retries       = []string{"none", "fixed", "exponential"}
	Exhausted     = []string{"dead-letter", "park"}
)

// Limits keep one answers file small enough that no surface can be made to do
// unbounded work with it.
const (
	MaxInputBytes      = 256 << 10
	MaxJourneys        = 20
	MaxInteractions    = 30 // per journey
	MaxPeople          = 30
	maxShort           = 120
	maxTitle           = 200
	maxLong            = 10000
	maxConsumers       = 1000
	maxPeakRPS         = 1_000_000_000
	maxTimeoutMS       = 3_600_000
	maxAttemptsAllowed = 1000
)

// Normalized returns a copy with defaults filled in: status proposed, date
// today (passed in, so rendering stays deterministic), empty idempotency none.
func (a Answers) Normalized(today string) Answers {
	b := a.Clone()
	if b.Status == "" {
		b.Status = "proposed"
	}
	if b.Date == "" {
		b.Date = today
	}
	for j := range b.Journeys {
		for i := range b.Journeys[j].Interactions {
			if b.Journeys[j].Interactions[i].Idempotency == "" {
				b.Journeys[j].Interactions[i].Idempotency = "none"
			}
		}
	}
	return b
}

// Clone returns a deep copy, so callers can edit answers without aliasing.
func (a Answers) Clone() Answers {
	b := a
	b.Deciders = append([]string(nil), a.Deciders...)
	b.Consulted = append([]string(nil), a.Consulted...)
	b.Informed = append([]string(nil), a.Informed...)
	b.Journeys = make([]Journey, len(a.Journeys))
	for j, jr := range a.Journeys {
		b.Journeys[j] = Journey{Name: jr.Name, Interactions: append([]Interaction(nil), jr.Interactions...)}
	}
	return b
}

// Seed is the worked checkout example: a checkout that must reserve stock before
// it answers. New wizards start from a copy so learners see a filled example.
func Seed() Answers {
	return Answers{
		Title:    "Checkout communication",
		Status:   "proposed",
		Deciders: []string{"alice", "bob"},
		Context:  "Checkout must not sell the last item twice, and the receipt and analytics must not slow it down.",
		Journeys: []Journey{{
			Name: "Checkout",
			Interactions: []Interaction{
				{Name: "Reserve inventory", From: "checkout", To: "inventory", NeedsResponse: true, Consistency: "strong", UserWaiting: true, Consumers: 1, PeakRPS: 200, Idempotency: "none"},
				{Name: "Send receipt", From: "checkout", To: "email", Consistency: "eventual", Consumers: 2, PeakRPS: 200, Event: "order.placed", Idempotency: "dedup-table", DeadLetter: true},
			},
		}},
		Observability: Observability{Tracing: true},
	}
}
