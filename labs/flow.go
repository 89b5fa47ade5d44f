package labs

import (
	"sync"
	"time"
)

// Flow is one thing that really happened in the signup system, as the live
// picture draws it: a signup answered, a call to a service and how it ended,
// an event published, a message delivered, retried or dead-lettered, a group
// paused. The picture animates flows, never a timer.
type Flow struct {
	Seq int64 `json:"seq"`
	// At is when it happened, unix ms; for a call, when the answer came (it
	// started MS earlier).
	At   int64  `json:"at"`
	Kind string `json:"kind"`
	// Where is api, email, analytics or stream; Group is the consumer group
	// of a consumer-side flow.
	Where string `json:"where"`
	Group string `json:"group,omitempty"`
	OK    bool   `json:"ok"`
	// MS is how long a call or a signup took.
	MS float64 `json:"ms,omitempty"`
	// Detail says in a few words what happened ("refused", "retry in 1.2 s").
	Detail string `json:"detail,omitempty"`
	// ID ties the flows of one signup (or one message) together.
	ID string `json:"id,omitempty"`
}

// Flow kinds.
const (
	FlowSignup    = "signup"    // the API answered a signup (OK: 2xx)
	FlowStored    = "stored"    // the user record was written
	FlowCall      = "call"      // a call to a service ended (OK: it took effect)
	FlowPublished = "published" // the user.signedup event reached the stream
	FlowDelivered = "delivered" // a consumer took a message (Detail: new, retry, recovered)
	FlowRetry     = "retry"     // a failed message waits for another try
	FlowDead      = "dead"      // a message went to the dead-letter stream
	FlowCrash     = "crash"     // a consumer crashed holding a message
	FlowPaused    = "paused"    // a group paused: its service keeps failing
	FlowResumed   = "resumed"   // a paused group's probe succeeded
)

// Flow sampling: a picture can show a few dozen moving dots a second, so
// each source (the API, each group) keeps signups or messages at a steady
// rate, with short bursts, from a token bucket; state changes (paused,
// resumed) are always kept.
const (
	flowRing         = 512
	flowPerSecondAPI = 20
	flowPerSecondGrp = 15
	flowBurst        = 5
)

// flowLog keeps the last flows, sampled per signup and per message so that
// every flow of a shown signup is shown.
type flowLog struct {
	mu     sync.Mutex
	ring   [flowRing]Flow
	seq    int64
	tokens map[string]float64
	filled map[string]time.Time
	second int64
	seen   map[string]int // signups or messages offered this second
	rate   map[string]int // offered in the last whole second
}

// admit decides whether the signup or message about to happen at source is
// shown.
func (l *flowLog) admit(source string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if sec := now.Unix(); sec != l.second {
		l.rate = l.seen
		if sec != l.second+1 {
			l.rate = nil
		}
		l.second, l.seen = sec, map[string]int{}
	}
	l.seen[source]++
	if l.tokens == nil {
		l.tokens, l.filled = map[string]float64{}, map[string]time.Time{}
	}
	rate := float64(flowPerSecondGrp)
	if source == "api" {
		rate = flowPerSecondAPI
	}
	tokens := float64(flowBurst)
	if last, ok := l.filled[source]; ok {
		tokens = min(flowBurst, l.tokens[source]+now.Sub(last).Seconds()*rate)
	}
	l.filled[source] = now
	if tokens < 1 {
		l.tokens[source] = tokens
		return false
	}
	l.tokens[source] = tokens - 1
	return true
}

func (l *flowLog) add(f Flow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	f.Seq = l.seq
	if f.At == 0 {
		f.At = time.Now().UnixMilli()
	}
	l.ring[l.seq%flowRing] = f
}

// Flows returns up to limit flows after seq, oldest first, and the newest
// sequence number (pass it back to get the next ones).
func (s *Sandbox) Flows(after int64, limit int) ([]Flow, int64) {
	l := &s.flows
	l.mu.Lock()
	defer l.mu.Unlock()
	from := max(after+1, l.seq-flowRing+1, l.seq-int64(limit)+1, 1)
	out := make([]Flow, 0, max(l.seq-from+1, 0))
	for seq := from; seq <= l.seq; seq++ {
		out = append(out, l.ring[seq%flowRing])
	}
	return out, l.seq
}

// FlowRates is how many signups (api) and messages (per group) were offered
// to the picture in the last whole second, so the page can say how many
// each dot stands for.
func (s *Sandbox) FlowRates() map[string]int {
	l := &s.flows
	l.mu.Lock()
	defer l.mu.Unlock()
	var last map[string]int
	switch time.Now().Unix() {
	case l.second:
		last = l.rate
	case l.second + 1:
		last = l.seen
	}
	out := map[string]int{}
	for k, v := range last {
		out[k] = v
	}
	return out
}
