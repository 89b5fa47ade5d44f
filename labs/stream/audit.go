package stream

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// Effects are what one service did for a set of users, read from its ledger.
type Effects struct {
	// Users is how many distinct users had the effect at least once.
	Users int64 `json:"users"`
	// Duplicates counts effects applied beyond the first per user.
	Duplicates int64 `json:"duplicates"`
	// ForFailed is how many users whose signup reported failure had the
	// effect anyway (a call that timed out still took effect).
	ForFailed int64 `json:"for_failed"`
}

// RunAudit is one run's outcome as Redis records it, whatever the sandbox
// held before: only the users the run created, their events and the poison
// entries it added are counted.
type RunAudit struct {
	Users int64
	// Orphaned users were stored although their signup reported failure.
	Orphaned int64
	// Lost users signed up asynchronously but their event never reached the
	// stream (a naive dual write whose second write failed): no consumer
	// will ever hear of them.
	Lost int64
	// InFlight events reached the stream but some group had neither
	// finished nor dead-lettered them when the audit ran.
	InFlight int64
	// DeadLettered counts the run's dead letters, one per group that gave
	// up on a message (poison included).
	DeadLettered int64
	// Poison is how many poison entries the run added.
	Poison  int64
	Effects map[string]Effects
}

// AuditRun counts run's outcome from the effect ledgers and each group's
// records. groups are the consumer groups, services the ledgers to read.
func (s *Store) AuditRun(ctx context.Context, run string, groups, services []string) (RunAudit, error) {
	r, err := s.readRun(ctx, run, groups, services)
	if err != nil {
		return RunAudit{}, err
	}
	a := RunAudit{Users: int64(len(r.ids)), Poison: int64(len(r.poison)), Effects: map[string]Effects{}}
	failed := set(r.failed)
	published := set(r.published)
	a.Orphaned = int64(len(r.failed))
	for _, svc := range services {
		var e Effects
		for i, id := range r.ids {
			n := r.repeats[svc][i]
			if r.keyed[svc][i] {
				n++
			}
			if n == 0 {
				continue
			}
			e.Users++
			e.Duplicates += n - 1
			if failed[id] {
				e.ForFailed++
			}
		}
		a.Effects[svc] = e
	}
	for i, id := range r.ids {
		mode, event, _ := strings.Cut(r.users[id], " ")
		if !published[event] {
			if mode == "async" {
				a.Lost++
			}
			continue
		}
		open := false
		for _, g := range groups {
			switch {
			case r.dead[g][i]:
				a.DeadLettered++
			case !r.done[g][i]:
				open = true
			}
		}
		if open {
			a.InFlight++
		}
	}
	for _, g := range groups {
		for _, dead := range r.deadPoison[g] {
			if dead {
				a.DeadLettered++
			}
		}
	}
	return a, nil
}

// Totals are what Redis records for the whole sandbox, across processes and
// runs.
type Totals struct {
	Users           int64 `json:"users"`
	EmailsSent      int64 `json:"emails_sent"`
	EmailDuplicates int64 `json:"email_duplicates"`
	AnalyticsEvents int64 `json:"analytics_events"`
	// Unfinished counts async users whose event some group has neither
	// finished nor dead-lettered (waiting, in flight, or never published).
	Unfinished int64 `json:"unfinished"`
}

// Totals audits the whole sandbox. email and analytics name the two
// services (and their groups).
func (s *Store) Totals(ctx context.Context, email, analytics string) (Totals, error) {
	groups := []string{email, analytics}
	r, err := s.readTotals(ctx, groups, groups)
	if err != nil {
		return Totals{}, err
	}
	perUser := func(svc string) map[string]int64 {
		n := map[string]int64{}
		for _, user := range r.keyed[svc] {
			n[user]++
		}
		for user, v := range r.repeats[svc] {
			c, _ := strconv.ParseInt(v, 10, 64)
			n[user] += c
		}
		return n
	}
	t := Totals{Users: int64(len(r.users))}
	for _, n := range perUser(email) {
		t.EmailsSent++
		t.EmailDuplicates += n - 1
	}
	t.AnalyticsEvents = int64(len(perUser(analytics)))
	finished := map[string]map[string]bool{}
	for _, g := range groups {
		finished[g] = set(append(append([]string(nil), r.done[g]...), r.dead[g]...))
	}
	for _, raw := range r.users {
		var u User
		if json.Unmarshal([]byte(raw), &u) != nil || u.Mode != "async" {
			continue
		}
		for _, g := range groups {
			if !finished[g][u.EventID] {
				t.Unfinished++
				break
			}
		}
	}
	return t, nil
}

func set(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, v := range items {
		m[v] = true
	}
	return m
}
