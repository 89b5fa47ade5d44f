package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group states of one signup's event, as its record shows them.
const (
	EventDone         = "done"          // the group finished it
	EventDead         = "dead"          // the group gave up on it
	EventRetrying     = "retrying"      // pending, waiting out a backoff
	EventInHand       = "in_hand"       // pending, a consumer holds it
	EventNotDelivered = "not_delivered" // on the stream, not yet handed to the group
	EventNone         = "none"          // no event (a sync signup, or a publish that failed)
)

// GroupRecord is what one group did with a signup's event.
type GroupRecord struct {
	Group string `json:"group"`
	State string `json:"state"`
	// Deliveries spent so far (pending or dead); Consumer holds it now.
	Deliveries int64  `json:"deliveries,omitempty"`
	Consumer   string `json:"consumer,omitempty"`
	// Due is when a waiting retry may be tried again.
	Due time.Time `json:"due,omitzero"`
	// Dead is the dead letter, when the group gave up.
	Dead *DeadLetter `json:"dead,omitempty"`
}

// SignupRecord is everything Redis knows about one signup: its user, where
// its event went, and what each group and service did with it. It is a
// signup's trace, rebuilt from the records.
type SignupRecord struct {
	User User `json:"user"`
	// EntryID is the event's entry on the stream ("" when none was published).
	EntryID string `json:"entry_id"`
	// Effects counts the effects each service applied for the user.
	Effects map[string]int64 `json:"effects"`
	Groups  []GroupRecord    `json:"groups"`
}

// Record reads what Redis knows of user id's signup.
func (s *Store) Record(ctx context.Context, userID string, groups, services []string) (SignupRecord, error) {
	u, err := s.User(ctx, userID)
	if errors.Is(err, redis.Nil) {
		return SignupRecord{}, ErrNotFound
	}
	if err != nil {
		return SignupRecord{}, err
	}
	r := SignupRecord{User: u, Effects: map[string]int64{}}
	entry, err := s.c.HGet(ctx, EntriesKey(s.sb), u.EventID).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return r, fmt.Errorf("read entry of %s: %w", u.EventID, err)
	}
	r.EntryID = entry
	keyed := map[string]*redis.StringCmd{}
	repeats := map[string]*redis.StringCmd{}
	done := map[string]*redis.BoolCmd{}
	dead := map[string]*redis.StringCmd{}
	due := map[string]*redis.FloatCmd{}
	pend := map[string]*redis.XPendingExtCmd{}
	var info *redis.XInfoGroupsCmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, svc := range services {
			keyed[svc] = p.HGet(ctx, LedgerKey(s.sb, svc), u.EventID)
			repeats[svc] = p.HGet(ctx, RepeatsKey(s.sb, svc), u.ID)
		}
		info = p.XInfoGroups(ctx, EventsKey(s.sb))
		for _, g := range groups {
			done[g] = p.SIsMember(ctx, DoneKey(s.sb, g), u.EventID)
			dead[g] = p.HGet(ctx, DeadIDsKey(s.sb, g), u.EventID)
			if entry != "" {
				due[g] = p.ZScore(ctx, DueKey(s.sb, g), entry)
				pend[g] = p.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: EventsKey(s.sb), Group: g, Start: entry, End: entry, Count: 1})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !IsNoGroup(err) {
		return r, fmt.Errorf("read record of %s: %w", userID, err)
	}
	for _, svc := range services {
		n, _ := strconv.ParseInt(repeats[svc].Val(), 10, 64)
		if keyed[svc].Val() != "" {
			n++
		}
		r.Effects[svc] = n
	}
	delivered := map[string]string{}
	for _, g := range info.Val() {
		delivered[g.Name] = g.LastDeliveredID
	}
	for _, g := range groups {
		gr := GroupRecord{Group: g, State: EventNone}
		switch {
		case done[g].Val():
			gr.State = EventDone
		case dead[g].Val() != "":
			gr.State = EventDead
			gr.Dead = s.findDead(ctx, g, dead[g].Val())
			if gr.Dead != nil {
				gr.Deliveries = gr.Dead.Deliveries
			}
		case entry == "":
		case len(pend[g].Val()) > 0:
			p := pend[g].Val()[0]
			gr.State, gr.Deliveries, gr.Consumer = EventInHand, p.RetryCount, p.Consumer
			if ms := due[g].Val(); due[g].Err() == nil {
				gr.State, gr.Due = EventRetrying, time.UnixMilli(int64(ms))
			}
		case CompareIDs(entry, delivered[g]) > 0:
			gr.State = EventNotDelivered
		}
		r.Groups = append(r.Groups, gr)
	}
	return r, nil
}

// findDead looks for the dead letter of entry among the newest ones.
func (s *Store) findDead(ctx context.Context, group, entry string) *DeadLetter {
	before := ""
	for range deadScan / 500 {
		page, next, err := s.DeadLetters(ctx, DeadQuery{Limit: 500, Before: before, Group: group})
		if err != nil {
			return nil
		}
		for i := range page {
			if page[i].EntryID == entry {
				return &page[i]
			}
		}
		if next == "" {
			return nil
		}
		before = next
	}
	return nil
}
