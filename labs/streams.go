package labs

// This file holds every Redis command the lab sends, so the stream protocol
// can be read in one place (the way asynq keeps its Redis in internal/rdb).
// Every key of a sandbox shares the hash tag {id}, so a sandbox lives on one
// slot of a Redis Cluster and many sandboxes can share one server.
//
//	cr:{id}:events             stream of user.signedup facts (consumer groups email, analytics)
//	cr:{id}:dead               dead-letter stream: group, reason, original payload
//	cr:{id}:users              hash user id -> user record (JSON)
//	cr:{id}:email:<address>    user id owning an address (uniqueness)
//	cr:{id}:idem:<key>         user id created under a signup Idempotency-Key
//	cr:{id}:done:<group>       set of event ids a group has finished (its idempotency record)
//	cr:{id}:deadids:<group>    hash event id -> dead-letter entry id
//	cr:{id}:ledger:<service>   hash idempotency key -> user id: effects applied once per key
//	cr:{id}:repeats:<service>  hash user id -> effects applied without a key
//
// The two ledgers together are what a service really did, so duplicates are
// observed rather than assumed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// idempotencyTTL is how long a signup Idempotency-Key is remembered.
	idempotencyTTL = 24 * time.Hour
	// lagCountCap bounds the work of one lag count; loads never exceed it.
	lagCountCap = MaxSignups
)

// errEmailTaken reports a signup for an address that already has a user.
var errEmailTaken = errors.New("email address already registered")

// store speaks Redis for one sandbox.
type store struct {
	c  *redis.Client
	id string
}

func (s *store) key(parts ...string) string {
	return "cr:{" + s.id + "}:" + strings.Join(parts, ":")
}

func (s *store) events() string { return s.key("events") }
func (s *store) dead() string   { return s.key("dead") }

// ---- users and the outbox --------------------------------------------------

// createUser stores u unless its address or idempotency key is already known,
// and when ev is not nil appends the event to the stream in the same
// MULTI/EXEC: the user and the fact that it signed up exist together or not
// at all (a transactional outbox inside one store). It returns the stored
// user and whether this call created it.
func (s *store) createUser(ctx context.Context, u User, idemKey string, ev *Event) (User, bool, error) {
	emailKey := s.key("email", strings.ToLower(u.Email))
	var idem string
	watch := []string{emailKey}
	if idemKey != "" {
		idem = s.key("idem", idemKey)
		watch = append(watch, idem)
	}
	record, err := json.Marshal(u)
	if err != nil {
		return User{}, false, fmt.Errorf("encode user: %w", err)
	}
	var payload []byte
	if ev != nil {
		if payload, err = json.Marshal(ev); err != nil {
			return User{}, false, fmt.Errorf("encode event: %w", err)
		}
	}
	var existing string
	var taken bool
	txf := func(tx *redis.Tx) error {
		existing, taken = "", false
		var idemCmd *redis.StringCmd
		var emailCmd *redis.IntCmd
		_, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
			if idem != "" {
				idemCmd = p.Get(ctx, idem)
			}
			emailCmd = p.Exists(ctx, emailKey)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if idemCmd != nil && idemCmd.Err() == nil {
			existing = idemCmd.Val()
			return nil
		}
		if emailCmd.Val() > 0 {
			taken = true
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, emailKey, u.ID, 0)
			p.HSet(ctx, s.key("users"), u.ID, record)
			if idem != "" {
				p.Set(ctx, idem, u.ID, idempotencyTTL)
			}
			if ev != nil {
				p.XAdd(ctx, &redis.XAddArgs{Stream: s.events(), Values: []string{"type", ev.Type, "payload", string(payload)}})
			}
			return nil
		})
		return err
	}
	for attempt := 0; ; attempt++ {
		err = s.c.Watch(ctx, txf, watch...)
		if !errors.Is(err, redis.TxFailedErr) || attempt == 5 {
			break
		}
	}
	if err != nil {
		return User{}, false, fmt.Errorf("store user: %w", err)
	}
	if taken {
		return User{}, false, errEmailTaken
	}
	if existing != "" {
		old, err := s.user(ctx, existing)
		return old, false, err
	}
	return u, true, nil
}

func (s *store) user(ctx context.Context, id string) (User, error) {
	raw, err := s.c.HGet(ctx, s.key("users"), id).Bytes()
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, nil
}

// publish appends an event on its own, the second write of a naive dual write.
func (s *store) publish(ctx context.Context, ev Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return s.c.XAdd(ctx, &redis.XAddArgs{Stream: s.events(), Values: []string{"type", ev.Type, "payload", string(payload)}}).Err()
}

// ---- consumer groups ---------------------------------------------------------

// ensureGroups creates the stream and the groups, reading from the start so a
// group recreated after data loss still sees every entry left.
func (s *store) ensureGroups(ctx context.Context, groups ...string) error {
	for _, g := range groups {
		err := s.c.XGroupCreateMkStream(ctx, s.events(), g, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create group %s: %w", g, err)
		}
	}
	return nil
}

// read delivers up to count new entries to a consumer, waiting up to block.
func (s *store) read(ctx context.Context, group, consumer string, count int, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.c.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{s.events(), ">"}, Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

// claimed is what one XAUTOCLAIM round handed to a consumer.
type claimed struct {
	msgs       []redis.XMessage
	deliveries map[string]int64 // times each message has now been delivered
	deleted    []string         // pending entries that no longer exist (trimmed)
	next       string
}

// reclaim takes over up to count entries that have been pending longer than
// minIdle (their consumer failed, crashed or stopped) and reads how often each
// has been delivered, in two round trips for the whole batch.
func (s *store) reclaim(ctx context.Context, group, consumer string, minIdle time.Duration, start string, count int) (claimed, error) {
	raw, err := s.c.Do(ctx, "XAUTOCLAIM", s.events(), group, consumer, minIdle.Milliseconds(), start, "COUNT", count).Slice()
	if err != nil {
		return claimed{}, err
	}
	var out claimed
	if len(raw) > 0 {
		out.next, _ = raw[0].(string)
	}
	if len(raw) > 1 {
		out.msgs = parseEntries(raw[1])
	}
	if len(raw) > 2 {
		if ids, ok := raw[2].([]any); ok {
			for _, id := range ids {
				if str, ok := id.(string); ok {
					out.deleted = append(out.deleted, str)
				}
			}
		}
	}
	if len(out.msgs) == 0 {
		return out, nil
	}
	pend, err := s.c.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: s.events(), Group: group, Start: out.msgs[0].ID, End: out.msgs[len(out.msgs)-1].ID,
		Count: int64(len(out.msgs)) + 1000, Consumer: consumer, // its other pending entries may share the range
	}).Result()
	if err != nil {
		return out, fmt.Errorf("read delivery counts: %w", err)
	}
	out.deliveries = make(map[string]int64, len(pend))
	for _, p := range pend {
		out.deliveries[p.ID] = p.RetryCount
	}
	return out, nil
}

// parseEntries reads the entry list of an XAUTOCLAIM reply. An entry whose
// fields are nil was deleted; it comes back with no values.
func parseEntries(v any) []redis.XMessage {
	list, _ := v.([]any)
	msgs := make([]redis.XMessage, 0, len(list))
	for _, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) < 2 {
			continue
		}
		id, _ := pair[0].(string)
		values := map[string]any{}
		switch fields := pair[1].(type) {
		case []any:
			for i := 0; i+1 < len(fields); i += 2 {
				k, _ := fields[i].(string)
				values[k] = fields[i+1]
			}
		case map[any]any:
			for k, v := range fields {
				ks, _ := k.(string)
				values[ks] = v
			}
		}
		msgs = append(msgs, redis.XMessage{ID: id, Values: values})
	}
	return msgs
}

// doneAlready reports, for each event id, whether the group finished it before
// (one pipelined round trip for the batch).
func (s *store) doneAlready(ctx context.Context, group string, eventIDs []string) ([]bool, error) {
	cmds, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range eventIDs {
			p.SIsMember(ctx, s.key("done", group), id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(cmds))
	for i, c := range cmds {
		out[i] = c.(*redis.BoolCmd).Val()
	}
	return out, nil
}

// ack records the events as finished and acknowledges their entries, for the
// whole batch in one MULTI/EXEC: the idempotency record and the ack agree.
func (s *store) ack(ctx context.Context, group string, entryIDs, eventIDs []string) error {
	if len(entryIDs) == 0 {
		return nil
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(eventIDs) > 0 {
			members := make([]any, len(eventIDs))
			for i, id := range eventIDs {
				members[i] = id
			}
			p.SAdd(ctx, s.key("done", group), members...)
		}
		p.XAck(ctx, s.events(), group, entryIDs...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %d entries for %s: %w", len(entryIDs), group, err)
	}
	return nil
}

// deadLetter moves an entry to the dead-letter stream with its reason and acks
// it, atomically, so it is never both pending and dead.
func (s *store) deadLetter(ctx context.Context, group string, msg redis.XMessage, eventID, reason string, deliveries int64) error {
	payload, _ := msg.Values["payload"].(string)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.dead(), Values: []string{
			"group", group, "entry", msg.ID, "event_id", eventID, "reason", reason,
			"payload", payload, "at", strconv.FormatInt(time.Now().UnixMilli(), 10),
			"deliveries", strconv.FormatInt(deliveries, 10),
		}})
		if eventID != "" {
			p.HSet(ctx, s.key("deadids", group), eventID, msg.ID)
		}
		p.XAck(ctx, s.events(), group, msg.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s for %s: %w", msg.ID, group, err)
	}
	return nil
}

// deadLetters lists the newest dead letters first.
func (s *store) deadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	msgs, err := s.c.XRevRangeN(ctx, s.dead(), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadLetterFrom(m))
	}
	return out, nil
}

// replay puts a dead letter back on the stream for its group only and removes
// it from the dead-letter stream in one MULTI/EXEC; WATCH makes two replays of
// the same letter produce one entry.
func (s *store) replay(ctx context.Context, deadID string) (DeadLetter, error) {
	var dl DeadLetter
	err := s.c.Watch(ctx, func(tx *redis.Tx) error {
		msgs, err := tx.XRangeN(ctx, s.dead(), deadID, deadID, 1).Result()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return ErrNotFound
		}
		dl = deadLetterFrom(msgs[0])
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: s.events(), Values: []string{
				"type", EventSignedUp, "payload", dl.Payload, "only", dl.Group}})
			p.XDel(ctx, s.dead(), deadID)
			if dl.EventID != "" {
				p.HDel(ctx, s.key("deadids", dl.Group), dl.EventID)
			}
			return nil
		})
		return err
	}, s.dead())
	if errors.Is(err, redis.TxFailedErr) {
		return DeadLetter{}, ErrNotFound // another replay won the race
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return DeadLetter{}, err
		}
		return DeadLetter{}, fmt.Errorf("replay dead letter %s: %w", deadID, err)
	}
	return dl, nil
}

// forgetConsumer removes a crashed consumer from its group once it holds no
// pending entries (removing one that still did would orphan them).
func (s *store) forgetConsumer(ctx context.Context, group, consumer string) (bool, error) {
	pend, err := s.c.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: s.events(), Group: group, Start: "-", End: "+", Count: 1, Consumer: consumer,
	}).Result()
	if err != nil || len(pend) > 0 {
		return false, err
	}
	return true, s.c.XGroupDelConsumer(ctx, s.events(), group, consumer).Err()
}

// ---- measuring the stream ---------------------------------------------------

// countScript counts, on the server, up to ARGV[3] entries on one side of
// an id: after it (ARGV[1] = "after") or at and before it ("upto"). ARGV[2]
// is where to go on from. It returns the count and the last id seen, reading
// one page per call so it never holds the server (which runs one command at
// a time) for long, and costs no transfer.
var countScript = redis.NewScript(`
local r
if ARGV[1] == 'after' then
  r = redis.call('XRANGE', KEYS[1], ARGV[2], '+', 'COUNT', tonumber(ARGV[3]))
else
  r = redis.call('XREVRANGE', KEYS[1], ARGV[2], '-', 'COUNT', tonumber(ARGV[3]))
end
if #r == 0 then return {0, ''} end
return {#r, r[#r][1]}`)

// lagPage is how many entries one countScript call may read.
const lagPage = 500

// GroupStats describes one consumer group at one moment.
type GroupStats struct {
	Name string `json:"name"`
	// Consumers is how many consumers the group knows (across processes).
	Consumers int64 `json:"consumers"`
	// Pending entries were delivered but not yet acknowledged.
	Pending int64 `json:"pending"`
	// Lag is the number of entries not yet delivered to the group.
	Lag             int64  `json:"lag"`
	LastDeliveredID string `json:"last_delivered_id"`
	// OldestPendingID is the first entry still pending, or "".
	OldestPendingID string `json:"-"`
	// RedisLag is the lag XINFO GROUPS reports: right on Redis 7, the whole
	// stream length on the embedded server, so only tests compare it.
	RedisLag int64 `json:"-"`
}

// StreamState is the stream and its groups at one moment.
type StreamState struct {
	Length int64
	Dead   int64
	// LastID is the newest entry's id ("" when the stream is empty).
	LastID string
	Groups []GroupStats
}

// behind reports whether a group has entries it was never handed.
func (st StreamState) behind(g GroupStats) bool {
	return st.LastID != "" && compareIDs(g.LastDeliveredID, st.LastID) < 0
}

// streamState reads the stream length, newest id, dead-letter count and
// every group's pending summary in one pipelined round trip; it leaves Lag
// at zero (see countLag), which is exact for groups that are not behind.
func (s *store) streamState(ctx context.Context) (StreamState, error) {
	var xlen, dlen *redis.IntCmd
	var last *redis.XMessageSliceCmd
	var info *redis.XInfoGroupsCmd
	pend := map[string]*redis.XPendingCmd{}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		xlen = p.XLen(ctx, s.events())
		dlen = p.XLen(ctx, s.dead())
		last = p.XRevRangeN(ctx, s.events(), "+", "-", 1)
		info = p.XInfoGroups(ctx, s.events())
		for _, g := range Groups {
			pend[g] = p.XPending(ctx, s.events(), g)
		}
		return nil
	})
	if err != nil && !isNoSuchKey(err) && !strings.Contains(err.Error(), "NOGROUP") {
		return StreamState{}, fmt.Errorf("read stream state: %w", err)
	}
	st := StreamState{Length: xlen.Val(), Dead: dlen.Val()}
	if msgs := last.Val(); len(msgs) > 0 {
		st.LastID = msgs[0].ID
	}
	gs, _ := info.Result()
	for _, g := range gs {
		stats := GroupStats{Name: g.Name, Consumers: g.Consumers, Pending: g.Pending, LastDeliveredID: g.LastDeliveredID, RedisLag: g.Lag}
		if pc := pend[g.Name]; pc != nil && g.Pending > 0 {
			stats.OldestPendingID = pc.Val().Lower
		}
		st.Groups = append(st.Groups, stats)
	}
	return st, nil
}

// countLag fills in Lag, the entries after a group's last-delivered id, for
// the groups that are behind. Redis 7 reports lag itself but the embedded
// server does not, so it is counted, and right on both. Counting walks both
// sides of the id a page at a time and stops when either side ends: the lag
// is that side's count, or the stream length minus it, so the cost follows
// whichever side is shorter (a backlog behind a slow group is mostly "after",
// a group keeping up has little "after"). Callers still throttle it.
func (s *store) countLag(ctx context.Context, st *StreamState) error {
	for i, g := range st.Groups {
		if !st.behind(g) {
			continue
		}
		lag, err := s.countAfter(ctx, g.LastDeliveredID, st.Length)
		if err != nil {
			return fmt.Errorf("count lag of %s: %w", g.Name, err)
		}
		st.Groups[i].Lag = lag
	}
	return nil
}

func (s *store) countAfter(ctx context.Context, id string, length int64) (int64, error) {
	after, upto := "("+id, id // cursors: exclusive after, inclusive at-or-before
	var nAfter, nUpto int64
	for nAfter+nUpto <= lagCountCap {
		got, last, err := s.countPage(ctx, "after", after)
		if err != nil {
			return 0, err
		}
		nAfter += got
		if got < lagPage {
			return nAfter, nil
		}
		after = "(" + last
		if got, last, err = s.countPage(ctx, "upto", upto); err != nil {
			return 0, err
		}
		nUpto += got
		if got < lagPage {
			return max(length-nUpto, nAfter), nil
		}
		upto = "(" + last
	}
	return nAfter, nil
}

func (s *store) countPage(ctx context.Context, side, from string) (int64, string, error) {
	res, err := countScript.Run(ctx, s.c, []string{s.events()}, side, from, lagPage).Slice()
	if err != nil {
		return 0, "", err
	}
	n, _ := res[0].(int64)
	last, _ := res[1].(string)
	return n, last, nil
}

// streamStats is streamState with every group's lag counted.
func (s *store) streamStats(ctx context.Context) (StreamState, error) {
	st, err := s.streamState(ctx)
	if err != nil {
		return st, err
	}
	return st, s.countLag(ctx, &st)
}

func isNoSuchKey(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no such key") || strings.Contains(err.Error(), "key not found"))
}

// trim drops entries every group has finished with: MINID is the oldest entry
// still pending or not yet delivered in any group, so retention can never
// remove work a consumer still holds.
func (s *store) trim(ctx context.Context, groups []GroupStats) (int64, error) {
	if len(groups) == 0 {
		return 0, nil
	}
	var keep string
	for _, g := range groups {
		first := g.OldestPendingID
		if first == "" {
			first = nextID(g.LastDeliveredID)
		}
		if keep == "" || compareIDs(first, keep) < 0 {
			keep = first
		}
	}
	return s.c.XTrimMinID(ctx, s.events(), keep).Result()
}

// nextID is the smallest stream id greater than id.
func nextID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseUint(seq, 10, 64)
	if ms == "" {
		ms = "0"
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ai, _ := strconv.ParseUint(am, 10, 64)
	bi, _ := strconv.ParseUint(bm, 10, 64)
	if ai != bi {
		if ai < bi {
			return -1
		}
		return 1
	}
	aj, _ := strconv.ParseUint(as, 10, 64)
	bj, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case aj < bj:
		return -1
	case aj > bj:
		return 1
	}
	return 0
}

// ---- the downstream services' ledger ----------------------------------------

// applyEffect performs one effect (a welcome email sent, a signup tracked)
// with a single atomic command. With an idempotency key the effect is
// recorded under the key with HSETNX, so a repeated key does nothing; without
// one every call counts. It returns 1 for a first effect, n > 1 when the user
// has now had it n times, and -1 when the key was seen before.
func (s *store) applyEffect(ctx context.Context, service, userID, idemKey string) (int64, error) {
	if idemKey == "" {
		n, err := s.c.HIncrBy(ctx, s.key("repeats", service), userID, 1).Result()
		if err != nil {
			return 0, fmt.Errorf("%s ledger: %w", service, err)
		}
		return n, nil
	}
	ok, err := s.c.HSetNX(ctx, s.key("ledger", service), idemKey, userID).Result()
	if err != nil {
		return 0, fmt.Errorf("%s ledger: %w", service, err)
	}
	if !ok {
		return -1, nil
	}
	return 1, nil
}

// ---- audit -------------------------------------------------------------------

// Totals are what Redis records for the whole sandbox, across processes.
type Totals struct {
	Users           int64 `json:"users"`
	EmailsSent      int64 `json:"emails_sent"`
	EmailDuplicates int64 `json:"email_duplicates"`
	AnalyticsEvents int64 `json:"analytics_events"`
	// Lost counts users who signed up in async mode and whose event was,
	// for some group, neither processed nor dead-lettered.
	Lost int64 `json:"lost"`
}

// totals reads the ledgers and checks every user's event against each
// group's records. It reads whole hashes and sets, which is fine for the
// bounded sizes of a lab run.
func (s *store) totals(ctx context.Context, groups []string) (Totals, error) {
	var users *redis.MapStringStringCmd
	ledgers := map[string][2]*redis.MapStringStringCmd{}
	done := map[string]*redis.StringSliceCmd{}
	dead := map[string]*redis.StringSliceCmd{}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		users = p.HGetAll(ctx, s.key("users"))
		for _, svc := range []string{ServiceEmail, ServiceAnalytics} {
			ledgers[svc] = [2]*redis.MapStringStringCmd{p.HGetAll(ctx, s.key("ledger", svc)), p.HGetAll(ctx, s.key("repeats", svc))}
		}
		for _, g := range groups {
			done[g] = p.SMembers(ctx, s.key("done", g))
			dead[g] = p.HKeys(ctx, s.key("deadids", g))
		}
		return nil
	})
	if err != nil {
		return Totals{}, fmt.Errorf("audit sandbox: %w", err)
	}
	var t Totals
	t.Users = int64(len(users.Val()))
	effects := func(svc string) map[string]int64 {
		perUser := map[string]int64{}
		for _, user := range ledgers[svc][0].Val() {
			perUser[user]++
		}
		for user, v := range ledgers[svc][1].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			perUser[user] += n
		}
		return perUser
	}
	for _, n := range effects(ServiceEmail) {
		t.EmailsSent++
		t.EmailDuplicates += n - 1
	}
	t.AnalyticsEvents = int64(len(effects(ServiceAnalytics)))
	finished := map[string]map[string]bool{}
	for _, g := range groups {
		set := map[string]bool{}
		for _, id := range done[g].Val() {
			set[id] = true
		}
		for _, id := range dead[g].Val() {
			set[id] = true
		}
		finished[g] = set
	}
	for _, raw := range users.Val() {
		var u User
		if json.Unmarshal([]byte(raw), &u) != nil || u.Mode != ModeAsync {
			continue
		}
		for _, g := range groups {
			if !finished[g][u.EventID] {
				t.Lost++
				break
			}
		}
	}
	return t, nil
}

// deleteAll removes every key of the sandbox.
func (s *store) deleteAll(ctx context.Context) error {
	iter := s.c.Scan(ctx, 0, "cr:{"+s.id+"}:*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := s.c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan sandbox keys: %w", err)
	}
	if len(batch) > 0 {
		return s.c.Del(ctx, batch...).Err()
	}
	return nil
}

// addPoison appends an entry whose payload is not an event, for the lab's
// poison-message scenario.
func (s *store) addPoison(ctx context.Context) (string, error) {
	return s.c.XAdd(ctx, &redis.XAddArgs{Stream: s.events(), Values: []string{
		"type", EventSignedUp, "payload", "{not json: a poison message"}}).Result()
}
