// Package stream holds every Redis command a lab sandbox sends, so the
// protocol of the asynchronous lab — the outbox, consumer groups, leases,
// backoff, dead letters, the effect ledgers and each run's audit — can be
// read in one place, the way asynq keeps all of its Redis in internal/rdb.
//
// The delivery count Redis keeps for each pending entry is the lab's retry
// budget: the consumers set it themselves (XCLAIM ... RETRYCOUNT) so that it
// counts only deliveries that reached the service or crashed a consumer, never
// a message handed back untried or a probe of a paused group.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
)

const (
	// IdempotencyTTL is how long a signup Idempotency-Key is remembered.
	IdempotencyTTL = 24 * time.Hour
	// runTTL is how long a run's own keys outlive their last write.
	runTTL = time.Hour
	// deadCap bounds the dead-letter stream (approximately, oldest first).
	deadCap = 200_000
	// lagPage is how many entries one lag-count call may read.
	lagPage = 500
)

// ErrEmailTaken reports a signup for an address that already has a user.
var ErrEmailTaken = errors.New("email address already registered")

// ErrNotFound is returned for a dead letter that does not exist (any more).
var ErrNotFound = errors.New("not found")

// IsNoGroup reports a stream or consumer group that does not exist, as after
// a Redis restart without persistence.
func IsNoGroup(err error) bool { return redis.HasErrorPrefix(err, "NOGROUP") }

// Store speaks Redis for one sandbox.
type Store struct {
	c   redis.UniversalClient
	sb  string
	out *outbox // batches concurrent CreateUser scripts into one round trip
}

// New returns the store of sandbox sb on c.
func New(c redis.UniversalClient, sb string) *Store { return &Store{c: c, sb: sb, out: &outbox{}} }

// ---- users and the outbox ---------------------------------------------------

// createScript is the transactional outbox. The user record, its address and
// idempotency key, the run's note of it and — when a payload is given — the
// user.signedup entry are written by one script, which Redis runs whole and
// alone: no reader ever sees a user without its event or an event without its
// user. (It works because store and broker are one Redis; across two systems
// an outbox table needs a relay that publishes each row at least once.)
//
// One call carries the signups of one outbox batch (outbox.go), each with
// 7 keys and 11 arguments, one after the other:
//
//	KEYS  1 users  2 addresses  3 idempotency key  4 run users  5 events  6 run published
//	      7 entries (event id -> stream entry id)
//	ARGV  1 user id  2 user record  3 "1" to use the idempotency key  4 its TTL (s)
//	      5 run ("" for none)  6 "<mode> <event id>"  7 run key TTL (s)
//	      8 event payload ("" to write the user only)  9 event id  10 event type
//	      11 the address, lower case
//
// It answers two strings per signup: "created" and the id, "existing" and
// the id of the user the idempotency key was seen with, "taken" and "" (the
// address belongs to someone else), or "error" and Redis's message, for
// that signup alone.
var createScript = redis.NewScript(`
local function create(k, a)
  if ARGV[a + 3] == '1' then
    local owner = redis.call('GET', KEYS[k + 3])
    if owner then return {'existing', owner} end
  end
  if redis.call('HSETNX', KEYS[k + 2], ARGV[a + 11], ARGV[a + 1]) == 0 then return {'taken', ''} end
  redis.call('HSET', KEYS[k + 1], ARGV[a + 1], ARGV[a + 2])
  if ARGV[a + 3] == '1' then redis.call('SET', KEYS[k + 3], ARGV[a + 1], 'EX', ARGV[a + 4]) end
  local run = ARGV[a + 5]
  if run ~= '' then
    redis.call('HSET', KEYS[k + 4], ARGV[a + 1], ARGV[a + 6])
    redis.call('EXPIRE', KEYS[k + 4], ARGV[a + 7])
  end
  if ARGV[a + 8] ~= '' then
    local entry = redis.call('XADD', KEYS[k + 5], '*', 'type', ARGV[a + 10], 'payload', ARGV[a + 8], 'run', run)
    redis.call('HSET', KEYS[k + 7], ARGV[a + 9], entry)
    if run ~= '' then
      redis.call('SADD', KEYS[k + 6], ARGV[a + 9])
      redis.call('EXPIRE', KEYS[k + 6], ARGV[a + 7])
    end
  end
  return {'created', ARGV[a + 1]}
end
local out = {}
for i = 0, #KEYS / 7 - 1 do
  -- signup i's keys and arguments follow KEYS[k] and ARGV[a]
  local ok, res = pcall(create, i * 7, i * 11)
  if not ok then
    if type(res) == 'table' then res = res.err end
    res = {'error', tostring(res)}
  end
  out[#out + 1] = res[1]
  out[#out + 1] = res[2]
end
return out`)

// createInput is one signup's keys and arguments for createScript.
func (s *Store) createInput(u User, idemKey string, ev *Event) ([]string, []any, error) {
	record, err := json.Marshal(u)
	if err != nil {
		return nil, nil, fmt.Errorf("encode user: %w", err)
	}
	var payload []byte
	if ev != nil {
		if payload, err = json.Marshal(ev); err != nil {
			return nil, nil, fmt.Errorf("encode event: %w", err)
		}
	}
	useIdem := "0"
	if idemKey != "" {
		useIdem = "1"
	}
	keys := []string{UsersKey(s.sb), EmailsKey(s.sb), IdemKey(s.sb, idemKey),
		RunUsersKey(s.sb, u.Run), EventsKey(s.sb), RunPublishedKey(s.sb, u.Run), EntriesKey(s.sb)}
	return keys, []any{u.ID, record, useIdem, int(IdempotencyTTL.Seconds()),
		u.Run, u.Mode + " " + u.EventID, int(runTTL.Seconds()), string(payload), u.EventID, TypeSignedUp,
		strings.ToLower(u.Email)}, nil
}

// createKeys and createArgs are the keys and arguments of one signup in
// createScript.
const (
	createKeys = 7
	createArgs = 11
)

// CreateUser stores u unless its address or idempotency key is already
// known and, when ev is not nil, appends the event in the same script.
// Concurrent calls share round trips (see outbox); each is still one script. It
// returns the stored user and whether this call created it; ErrEmailTaken
// when the address belongs to another user.
func (s *Store) CreateUser(ctx context.Context, u User, idemKey string, ev *Event) (User, bool, error) {
	keys, args, err := s.createInput(u, idemKey, ev)
	if err != nil {
		return User{}, false, err
	}
	res, err := s.out.run(ctx, s.c, keys, args)
	if err != nil {
		return User{}, false, fmt.Errorf("store user: %w", err)
	}
	switch res[0] {
	case "taken":
		return User{}, false, ErrEmailTaken
	case "existing":
		old, err := s.User(ctx, res[1])
		return old, false, err
	}
	return u, true, nil
}

// User loads one user record.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	raw, err := s.c.HGet(ctx, UsersKey(s.sb), id).Bytes()
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, nil
}

// publishScript appends one event and notes where it went, the way the
// outbox does for its event.
//
//	KEYS  1 events  2 entries  3 run published
//	ARGV  1 type  2 payload  3 run ("" for none)  4 event id  5 run key TTL (s)
var publishScript = redis.NewScript(`
local entry = redis.call('XADD', KEYS[1], '*', 'type', ARGV[1], 'payload', ARGV[2], 'run', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[4], entry)
if ARGV[3] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return entry`)

// Publish appends an event on its own: the second write of a naive dual
// write, which can fail after the user was stored.
func (s *Store) Publish(ctx context.Context, ev Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return publishScript.Run(ctx, s.c, []string{EventsKey(s.sb), EntriesKey(s.sb), RunPublishedKey(s.sb, ev.Run)},
		ev.Type, payload, ev.Run, ev.ID, int(runTTL.Seconds())).Err()
}

// MarkFailed notes that run's user was stored although its signup answered
// with an error: an orphaned user.
func (s *Store) MarkFailed(ctx context.Context, run, userID string) error {
	if run == "" {
		return nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, RunFailedKey(s.sb, run), userID)
		p.Expire(ctx, RunFailedKey(s.sb, run), runTTL)
		return nil
	})
	return err
}

// AddPoison appends an entry whose payload is not an event, for the lab's
// poison-message runs, and notes it as run's.
func (s *Store) AddPoison(ctx context.Context, run string) (string, error) {
	id, err := s.c.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(s.sb), Values: []string{
		"type", TypeSignedUp, "payload", "{not json: a poison message", "run", run}}).Result()
	if err != nil || run == "" {
		return id, err
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, RunPoisonKey(s.sb, run), id)
		p.Expire(ctx, RunPoisonKey(s.sb, run), runTTL)
		return nil
	})
	return id, err
}

// ---- consumer groups ----------------------------------------------------------

// EnsureGroups creates the stream and the groups, reading from the start so a
// group recreated after data loss still sees every entry left.
func (s *Store) EnsureGroups(ctx context.Context, groups ...string) error {
	for _, g := range groups {
		err := s.c.XGroupCreateMkStream(ctx, EventsKey(s.sb), g, "0").Err()
		if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
			return fmt.Errorf("create group %s: %w", g, err)
		}
	}
	return nil
}

// Kind says how an entry came to a consumer, and so what its delivery count
// means.
type Kind string

const (
	// KindNew was never delivered to the group before.
	KindNew Kind = "new"
	// KindDue waited out its backoff after a failed attempt.
	KindDue Kind = "due"
	// KindCrashed was taken from a consumer that died while calling the
	// service with it: that delivery counts.
	KindCrashed Kind = "crashed"
	// KindAbandoned was taken from a consumer that stopped before trying it:
	// that delivery does not count.
	KindAbandoned Kind = "abandoned"
)

// Delivery is one entry in a consumer's hands.
type Delivery struct {
	ID     string
	Values map[string]any
	Kind   Kind
	// Deliveries counts the deliveries that spent the budget, this one
	// included (when Over, the ones before it).
	Deliveries int64
	// Over says the budget is spent: dead-letter the entry, do not try it.
	Over bool
	// Crashes is how often the entry was taken from a consumer that crashed
	// on it.
	Crashes int64
	// FirstFailure is when an attempt at it first failed (zero if none did).
	FirstFailure time.Time
}

// Read hands a consumer up to count new entries, waiting up to block (not
// at all when block is 0: Redis's BLOCK 0 would wait forever).
func (s *Store) Read(ctx context.Context, group, consumer string, count int, block time.Duration) ([]Delivery, error) {
	if block <= 0 {
		block = -1
	}
	res, err := s.c.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{EventsKey(s.sb), ">"}, Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) || err == nil && len(res) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(res[0].Messages))
	for _, m := range res[0].Messages {
		out = append(out, Delivery{ID: m.ID, Values: m.Values, Kind: KindNew, Deliveries: 1})
	}
	return out, nil
}

// claimScript hands a consumer the pending entries that are its group's to
// take: first retries whose backoff is over, then entries whose consumer
// stopped renewing its lease (it crashed, or its process died). Each is
// claimed with the delivery count it deserves: +1 for a retry, +1 for a
// crash on it (its "started" mark is still there), unchanged for an entry
// its consumer never got to. One that would pass the budget keeps its count
// and comes back marked over, to be dead-lettered instead of tried.
//
//	KEYS  1 events  2 due  3 started  4 crashes  5 failing
//	ARGV  1 group  2 consumer  3 now (ms; "+inf" makes every waiting retry due)
//	      4 lease (ms)  5 how many to take  6 max deliveries (0: no limit)
//	      7 where the scan for abandoned entries goes on  8 how many to scan
//	      9 what to look at: "due" only retries that came due; "all" those and
//	        abandoned entries; "own" only this consumer's own entries (no due
//	        retries), whatever their idle time: a consumer restarted under
//	        its old name recovers them at once
//
// It answers {cursor, {{kind, id, deliveries, crashes, first failure, fields, over}...},
// next due} where cursor is "" once the scan reached the end and next due is
// when the earliest waiting retry is due (ms, "0" when none waits).
var claimScript = redis.NewScript(`
local want, max = tonumber(ARGV[5]), tonumber(ARGV[6])
local out, n, taken = {}, 0, {}
local function take(id, kind, count, over)
  taken[id] = true
  local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'RETRYCOUNT', count)
  if #got == 0 or not got[1] then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    return
  end
  local crashes = tonumber(redis.call('HGET', KEYS[4], id) or '0')
  local first = tonumber(redis.call('HGET', KEYS[5], id) or '0')
  table.insert(out, {kind, id, count, crashes, first, got[1][2], over})
  n = n + 1
end
local function budget(id, kind, count, before)
  if max > 0 and count > max then take(id, kind, before, 1) else take(id, kind, count, 0) end
end
if ARGV[9] ~= 'own' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, want)) do
    redis.call('ZREM', KEYS[2], id)
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
    if p then budget(id, 'due', p[4] + 1, p[4]) end
  end
end
local cursor = ''
if n < want and ARGV[9] ~= 'due' then
  local scan = tonumber(ARGV[8])
  local list
  if ARGV[9] == 'own' then
    list = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[7], '+', scan, ARGV[2])
  else
    list = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], ARGV[7], '+', scan)
  end
  for i, p in ipairs(list) do
    if n >= want then cursor = p[1] break end
    if not taken[p[1]] and not redis.call('ZSCORE', KEYS[2], p[1]) then
      if redis.call('HDEL', KEYS[3], p[1]) == 1 then
        redis.call('HINCRBY', KEYS[4], p[1], 1)
        budget(p[1], 'crashed', p[4] + 1, p[4])
      else
        budget(p[1], 'abandoned', p[4], p[4])
      end
    end
    if i == scan then
      local ms, seq = string.match(p[1], '(%d+)-(%d+)')
      cursor = ms .. '-' .. string.format('%d', tonumber(seq) + 1)
    end
  end
end
local nextdue = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or '0'
return {cursor, out, nextdue}`)

// ClaimArgs ask for entries to take over.
type ClaimArgs struct {
	Group, Consumer string
	// Lease is how long an entry may go without renewal before it counts
	// as abandoned.
	Lease time.Duration
	Count int
	// MaxDeliveries is the budget (0: no limit by count).
	MaxDeliveries int
	// Cursor is where the last scan for abandoned entries stopped ("" or
	// "-" from the start).
	Cursor string
	// Probe treats every waiting retry as due: a paused group probing the
	// service takes the oldest one whatever its backoff says.
	Probe bool
	// Own takes back the consumer's own entries, lease or not: it was
	// restarted under its old name after a crash, so they are abandoned.
	Own bool
	// Abandoned also scans the pending list for entries whose lease ran out
	// (a page per call, from Cursor). Scans cost in proportion to the
	// retries waiting, so callers look now and then, not at every due
	// retry.
	Abandoned bool
}

// Claimed is what one claim handed over.
type Claimed struct {
	Deliveries []Delivery
	// Cursor is where the next scan for abandoned entries goes on ("" to
	// start over).
	Cursor string
	// NextDue is when the earliest retry still waiting is due (zero: none).
	NextDue time.Time
}

// Claim takes over entries as claimScript describes.
func (s *Store) Claim(ctx context.Context, a ClaimArgs) (Claimed, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if a.Probe {
		now = "+inf"
	}
	cursor := a.Cursor
	if cursor == "" {
		cursor = "-"
	}
	scan := max(a.Count*4, 50)
	mode := "due"
	switch {
	case a.Own:
		mode = "own"
	case a.Abandoned:
		mode = "all"
	}
	raw, err := claimScript.Run(ctx, s.c,
		[]string{EventsKey(s.sb), DueKey(s.sb, a.Group), StartedKey(s.sb, a.Group), CrashesKey(s.sb, a.Group), FailingKey(s.sb, a.Group)},
		a.Group, a.Consumer, now, a.Lease.Milliseconds(), a.Count, a.MaxDeliveries, cursor, scan, mode).Slice()
	if err != nil {
		return Claimed{Cursor: a.Cursor}, fmt.Errorf("claim for %s: %w", a.Group, err)
	}
	var c Claimed
	c.Cursor, _ = raw[0].(string)
	if ms, _ := strconv.ParseInt(fmt.Sprint(raw[2]), 10, 64); ms > 0 {
		c.NextDue = time.UnixMilli(ms)
	}
	list, _ := raw[1].([]any)
	c.Deliveries = make([]Delivery, 0, len(list))
	for _, item := range list {
		f, _ := item.([]any)
		if len(f) < 7 {
			continue
		}
		d := Delivery{Values: fieldMap(f[5])}
		kind, _ := f[0].(string)
		d.Kind = Kind(kind)
		d.ID, _ = f[1].(string)
		d.Deliveries, _ = f[2].(int64)
		d.Crashes, _ = f[3].(int64)
		if ms, _ := f[4].(int64); ms > 0 {
			d.FirstFailure = time.UnixMilli(ms)
		}
		over, _ := f[6].(int64)
		d.Over = over == 1
		c.Deliveries = append(c.Deliveries, d)
	}
	return c, nil
}

// DoneAlready reports, for each event id, whether the group finished it
// before (one round trip for a batch).
func (s *Store) DoneAlready(ctx context.Context, group string, eventIDs []string) ([]bool, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	return s.c.SMIsMember(ctx, DoneKey(s.sb, group), anys(eventIDs)...).Result()
}

// fieldMap reads an entry's field list as Lua hands it back.
func fieldMap(v any) map[string]any {
	values := map[string]any{}
	switch fields := v.(type) {
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
	return values
}

// renewScript resets the idle time of the entries a consumer still owns,
// keeping their delivery count, so that slow work is never mistaken for
// abandoned work. It answers the ids the consumer no longer owns.
//
//	KEYS 1 events   ARGV 1 group  2 consumer  3... entry ids
var renewScript = redis.NewScript(`
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if p and p[2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'RETRYCOUNT', p[4], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost`)

// Renew renews a consumer's lease on the entries in its hands and returns
// the ones another consumer has taken meanwhile.
func (s *Store) Renew(ctx context.Context, group, consumer string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, group, consumer)
	for _, id := range ids {
		args = append(args, id)
	}
	lost, err := renewScript.Run(ctx, s.c, []string{EventsKey(s.sb)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("renew leases for %s: %w", group, err)
	}
	return lost, nil
}

// Finished is an entry whose work is done, to be acknowledged; EventID is ""
// for entries that carry no event of the group's.
type Finished struct{ ID, EventID string }

// Begin marks an entry as being tried — from now on a crash of its consumer
// spends a delivery — and, in the same MULTI/EXEC, acknowledges prev, the
// entry the consumer finished just before (nil for none): each message is
// settled before the service is called with the next, in one round trip.
func (s *Store) Begin(ctx context.Context, group, consumer, id string, prev *Finished) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if prev != nil {
			s.ack(ctx, p, group, *prev)
		}
		p.HSet(ctx, StartedKey(s.sb, group), id, consumer)
		return nil
	})
	if err != nil {
		return fmt.Errorf("begin %s for %s: %w", id, group, err)
	}
	return nil
}

// forget removes an entry's retry bookkeeping once it is finished.
func (s *Store) forget(ctx context.Context, p redis.Pipeliner, group, id string) {
	p.ZRem(ctx, DueKey(s.sb, group), id)
	p.HDel(ctx, FailingKey(s.sb, group), id)
	p.HDel(ctx, StartedKey(s.sb, group), id)
	p.HDel(ctx, CrashesKey(s.sb, group), id)
}

func (s *Store) ack(ctx context.Context, p redis.Pipeliner, group string, f Finished) {
	if f.EventID != "" {
		p.SAdd(ctx, DoneKey(s.sb, group), f.EventID)
	}
	p.XAck(ctx, EventsKey(s.sb), group, f.ID)
	s.forget(ctx, p, group, f.ID)
}

// Ack records the event as finished by the group and acknowledges its
// entry in one MULTI/EXEC: the idempotency record and the ack agree.
func (s *Store) Ack(ctx context.Context, group string, f Finished) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		s.ack(ctx, p, group, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %s for %s: %w", f.ID, group, err)
	}
	return nil
}

// AckAll records a batch of finished events and acknowledges their entries
// in one MULTI/EXEC of six commands however long the batch is: one SADD of
// every event id, one XACK of every entry and one removal of each kind of
// retry bookkeeping. Like Ack, the idempotency records and the acks land
// together or not at all. Fewer round trips and commands are what a handler
// that settles a batch at once (or a catch-up after a backlog) gains.
func (s *Store) AckAll(ctx context.Context, group string, fs []Finished) error {
	if len(fs) == 0 {
		return nil
	}
	ids := make([]string, len(fs))
	idsAny := make([]any, len(fs))
	var events []any
	for i, f := range fs {
		ids[i], idsAny[i] = f.ID, f.ID
		if f.EventID != "" {
			events = append(events, f.EventID)
		}
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(events) > 0 {
			p.SAdd(ctx, DoneKey(s.sb, group), events...)
		}
		p.XAck(ctx, EventsKey(s.sb), group, ids...)
		p.ZRem(ctx, DueKey(s.sb, group), idsAny...)
		p.HDel(ctx, FailingKey(s.sb, group), ids...)
		p.HDel(ctx, StartedKey(s.sb, group), ids...)
		p.HDel(ctx, CrashesKey(s.sb, group), ids...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %d entries for %s: %w", len(fs), group, err)
	}
	return nil
}

// Retry leaves an entry pending until due, when any consumer of the group
// may take it again. failedAt notes a failed attempt (the first one starts
// the retry age); zero means the entry goes back untried and its delivery is
// given back: its count drops by one, which the next claim adds again.
func (s *Store) Retry(ctx context.Context, group, consumer string, d Delivery, due, failedAt time.Time) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, DueKey(s.sb, group), redis.Z{Score: float64(due.UnixMilli()), Member: d.ID})
		p.HDel(ctx, StartedKey(s.sb, group), d.ID)
		if !failedAt.IsZero() {
			p.HSetNX(ctx, FailingKey(s.sb, group), d.ID, failedAt.UnixMilli())
		} else {
			p.Do(ctx, "XCLAIM", EventsKey(s.sb), group, consumer, 0, d.ID, "RETRYCOUNT", max(d.Deliveries-1, 0), "JUSTID")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("schedule retry of %s for %s: %w", d.ID, group, err)
	}
	return nil
}

// Resume makes every waiting retry of a group due now: the service answered
// a probe, so backoffs computed while it was down no longer mean anything.
func (s *Store) Resume(ctx context.Context, group string) error {
	due := DueKey(s.sb, group)
	return s.c.ZUnionStore(ctx, due, &redis.ZStore{Keys: []string{due}, Weights: []float64{0}}).Err()
}

// Why dead letters were dead-lettered, for grouping them.
const (
	CodePoison   = "poison"   // unreadable: no retry can help
	CodeRejected = "rejected" // the service refused the request itself (a 4xx)
	CodeGaveUp   = "gave_up"  // failed max_deliveries times
	CodeTooOld   = "too_old"  // still failing after max_retry_age
	CodeCrashed  = "crashed"  // took down max_deliveries consumers
)

// Verdict is why a message is dead-lettered: a code to group by, the reason
// in plain words and the technical detail behind it.
type Verdict struct {
	Code, Reason, Detail string
}

// DeadLetter moves an entry to the dead-letter stream with its verdict and
// acks it, atomically, so it is never both pending and dead. eventID is ""
// for poison.
func (s *Store) DeadLetter(ctx context.Context, group, consumer string, d Delivery, eventID string, v Verdict) error {
	payload, _ := d.Values["payload"].(string)
	run, _ := d.Values["run"].(string)
	key := eventID
	if key == "" {
		key = "entry:" + d.ID
	}
	var first string
	if !d.FirstFailure.IsZero() {
		first = strconv.FormatInt(d.FirstFailure.UnixMilli(), 10)
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: DeadKey(s.sb), MaxLen: deadCap, Approx: true, Values: []string{
			"group", group, "entry", d.ID, "event_id", eventID, "run", run,
			"code", v.Code, "reason", v.Reason, "detail", v.Detail,
			"payload", payload, "at", strconv.FormatInt(time.Now().UnixMilli(), 10), "first_failure", first,
			"deliveries", strconv.FormatInt(d.Deliveries, 10), "crashes", strconv.FormatInt(d.Crashes, 10),
			"consumer", consumer,
		}})
		p.HSet(ctx, DeadIDsKey(s.sb, group), key, d.ID)
		p.HIncrBy(ctx, DeadCodesKey(s.sb), group+":"+v.Code, 1)
		p.XAck(ctx, EventsKey(s.sb), group, d.ID)
		s.forget(ctx, p, group, d.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s for %s: %w", d.ID, group, err)
	}
	return nil
}

// DeadLetter is a message a group gave up on.
type DeadLetter struct {
	ID      string `json:"id"`
	Group   string `json:"group"`
	EntryID string `json:"entry_id"`
	EventID string `json:"event_id"`
	// UserID is the signup's user, read from the payload ("" for poison).
	UserID string `json:"user_id,omitempty"`
	Run    string `json:"run,omitempty"`
	// Code groups dead letters by why (CodePoison...); Reason says it in
	// plain words, Detail is the technical error behind it.
	Code    string    `json:"code"`
	Reason  string    `json:"reason"`
	Detail  string    `json:"detail,omitempty"`
	Payload string    `json:"payload"`
	At      time.Time `json:"at"`
	// FirstFailure is when its first attempt failed (zero for poison).
	FirstFailure time.Time `json:"first_failure,omitzero"`
	// Deliveries is how many deliveries it spent (1 for a poison message,
	// parked at first sight); Crashes how many consumers it took down.
	Deliveries int64 `json:"deliveries"`
	Crashes    int64 `json:"crashes"`
	// Consumer is the consumer that gave up on it.
	Consumer string `json:"consumer"`
}

func deadLetterFrom(m redis.XMessage) DeadLetter {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	num := func(k string) int64 { n, _ := strconv.ParseInt(str(k), 10, 64); return n }
	dl := DeadLetter{ID: m.ID, Group: str("group"), EntryID: str("entry"), EventID: str("event_id"), Run: str("run"),
		Code: str("code"), Reason: str("reason"), Detail: str("detail"), Payload: str("payload"),
		Deliveries: max(num("deliveries"), 1), Crashes: num("crashes"), Consumer: str("consumer")}
	if ms := num("at"); ms > 0 {
		dl.At = time.UnixMilli(ms).UTC()
	}
	if ms := num("first_failure"); ms > 0 {
		dl.FirstFailure = time.UnixMilli(ms).UTC()
	}
	var ev struct {
		UserID string `json:"user_id"`
	}
	if json.Unmarshal([]byte(dl.Payload), &ev) == nil {
		dl.UserID = ev.UserID
	}
	return dl
}

// DeadQuery picks dead letters: newest first, older than Before (an entry
// id, "" for the newest), of one Code and Group when set.
type DeadQuery struct {
	Limit       int
	Before      string
	Code, Group string
}

// deadScan bounds how many dead letters one filtered page may read.
const deadScan = 5000

// DeadLetters lists the dead letters q picks and the id to pass as Before
// for the next page ("" when there is none).
func (s *Store) DeadLetters(ctx context.Context, q DeadQuery) ([]DeadLetter, string, error) {
	end := "+"
	if q.Before != "" {
		end = "(" + q.Before
	}
	var out []DeadLetter
	for scanned := 0; scanned < deadScan; {
		page := max(q.Limit, 100)
		msgs, err := s.c.XRevRangeN(ctx, DeadKey(s.sb), end, "-", int64(page)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list dead letters: %w", err)
		}
		for _, m := range msgs {
			dl := deadLetterFrom(m)
			if (q.Code == "" || dl.Code == q.Code) && (q.Group == "" || dl.Group == q.Group) {
				out = append(out, dl)
				if len(out) == q.Limit {
					return out, m.ID, nil
				}
			}
			end = "(" + m.ID
		}
		scanned += len(msgs)
		if len(msgs) < page {
			return out, "", nil
		}
	}
	return out, strings.TrimPrefix(end, "("), nil
}

// DeadCounts counts the dead letters by group and code ("email:gave_up").
func (s *Store) DeadCounts(ctx context.Context) (map[string]int64, error) {
	raw, err := s.c.HGetAll(ctx, DeadCodesKey(s.sb)).Result()
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	out := map[string]int64{}
	for k, v := range raw {
		if n, _ := strconv.ParseInt(v, 10, 64); n > 0 {
			out[k] = n
		}
	}
	return out, nil
}

// replayScript puts a dead letter back on the stream for its group only
// ("only" tells the other group to ack it unread) and removes it from the
// dead-letter stream, in one step: a letter is replayed once, however many
// replays race, and letters other consumers park meanwhile do not get in the
// way (a WATCH on the dead-letter stream would fail on every new letter).
//
//	KEYS  1 dead  2 events  3 dead codes  4 the letter group's dead ids
//	ARGV  1 dead letter id  2 event type
//
// It answers the letter's fields, or nothing when it is not there (any more).
var replayScript = redis.NewScript(`
local got = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #got == 0 then return false end
local f = {}
local fields = got[1][2]
for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
redis.call('XADD', KEYS[2], '*', 'type', ARGV[2], 'payload', f.payload or '', 'only', f.group or '', 'run', f.run or '')
redis.call('XDEL', KEYS[1], ARGV[1])
local key = f.event_id
if key == nil or key == '' then key = 'entry:' .. (f.entry or '') end
redis.call('HDEL', KEYS[4], key)
redis.call('HINCRBY', KEYS[3], (f.group or '') .. ':' .. (f.code or ''), -1)
return fields`)

// Replay puts a dead letter back on the stream for its group only, once
// (see replayScript); ErrNotFound when it is not there (any more).
func (s *Store) Replay(ctx context.Context, deadID string) (DeadLetter, error) {
	// Letters never change, so reading its group first names every key the
	// script touches (as Redis Cluster asks); the script checks it is still
	// there.
	msgs, err := s.c.XRangeN(ctx, DeadKey(s.sb), deadID, deadID, 1).Result()
	if err != nil {
		return DeadLetter{}, fmt.Errorf("replay dead letter %s: %w", deadID, err)
	}
	if len(msgs) == 0 {
		return DeadLetter{}, ErrNotFound
	}
	group, _ := msgs[0].Values["group"].(string)
	raw, err := replayScript.Run(ctx, s.c, []string{DeadKey(s.sb), EventsKey(s.sb), DeadCodesKey(s.sb), DeadIDsKey(s.sb, group)},
		deadID, TypeSignedUp).Slice()
	switch {
	case errors.Is(err, redis.Nil):
		return DeadLetter{}, ErrNotFound
	case err != nil:
		return DeadLetter{}, fmt.Errorf("replay dead letter %s: %w", deadID, err)
	}
	return deadLetterFrom(redis.XMessage{ID: deadID, Values: fieldMap(raw)}), nil
}

// ForgetConsumer removes a crashed consumer from its group once it holds no
// pending entries (removing one that still did would orphan them).
func (s *Store) ForgetConsumer(ctx context.Context, group, consumer string) (bool, error) {
	pend, err := s.c.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: EventsKey(s.sb), Group: group, Start: "-", End: "+", Count: 1, Consumer: consumer,
	}).Result()
	if err != nil || len(pend) > 0 {
		return false, err
	}
	return true, s.c.XGroupDelConsumer(ctx, EventsKey(s.sb), group, consumer).Err()
}

// ---- measuring the stream -------------------------------------------------------

// GroupStats describes one consumer group at one moment.
type GroupStats struct {
	Name string `json:"name"`
	// Consumers is how many consumers the group knows (across processes).
	Consumers int64 `json:"consumers"`
	// Pending entries were delivered but not yet acknowledged; Waiting is
	// the part of them waiting out a backoff.
	Pending int64 `json:"pending"`
	Waiting int64 `json:"waiting"`
	// Lag is the number of entries not yet delivered to the group.
	Lag             int64  `json:"lag"`
	LastDeliveredID string `json:"last_delivered_id"`
	// OldestPendingID is the first entry still pending, or "".
	OldestPendingID string `json:"-"`
	// RedisLag is the lag XINFO GROUPS reports: right on Redis 7, the whole
	// stream length on the embedded server, so only tests compare it.
	RedisLag int64 `json:"-"`
	// lagKnown is set when Lag is Redis's own figure, which needs no count.
	lagKnown bool
}

// State is the stream and its groups at one moment.
type State struct {
	Length int64
	Dead   int64
	// LastID is the newest entry's id ("" when the stream is empty).
	LastID string
	Groups []GroupStats
}

// LagFromRedis reports whether g.Lag is the figure Redis reported, which
// CountLag leaves as it is.
func (g GroupStats) LagFromRedis() bool { return g.lagKnown }

// Open names the groups with entries pending or never delivered: the work
// the stream still holds.
func (st State) Open() []string {
	var open []string
	for _, g := range st.Groups {
		if g.Pending > 0 || st.Behind(g) {
			open = append(open, g.Name)
		}
	}
	return open
}

// Behind reports whether a group has entries it was never handed.
func (st State) Behind(g GroupStats) bool {
	return st.LastID != "" && CompareIDs(g.LastDeliveredID, st.LastID) < 0
}

// ReadState reads the stream length, newest id, dead-letter count and every
// group's pending summary and waiting retries in one pipelined round trip; it
// fills in Lag where Redis reports it and otherwise leaves it at zero (see
// CountLag), which is exact for groups that are not behind.
func (s *Store) ReadState(ctx context.Context, groups []string) (State, error) {
	var xlen, dlen *redis.IntCmd
	var last *redis.XMessageSliceCmd
	var info *redis.XInfoGroupsCmd
	pend := map[string]*redis.XPendingCmd{}
	waiting := map[string]*redis.IntCmd{}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		xlen = p.XLen(ctx, EventsKey(s.sb))
		dlen = p.XLen(ctx, DeadKey(s.sb))
		last = p.XRevRangeN(ctx, EventsKey(s.sb), "+", "-", 1)
		info = p.XInfoGroups(ctx, EventsKey(s.sb))
		for _, g := range groups {
			pend[g] = p.XPending(ctx, EventsKey(s.sb), g)
			waiting[g] = p.ZCard(ctx, DueKey(s.sb, g))
		}
		return nil
	})
	// A stream or group that does not exist yet (or any more) reads as empty.
	if err != nil && !IsNoGroup(err) && !redis.HasErrorPrefix(err, "ERR no such key") {
		return State{}, fmt.Errorf("read stream state: %w", err)
	}
	st := State{Length: xlen.Val(), Dead: dlen.Val()}
	if msgs := last.Val(); len(msgs) > 0 {
		st.LastID = msgs[0].ID
	}
	for _, g := range info.Val() {
		stats := GroupStats{Name: g.Name, Consumers: g.Consumers, Pending: g.Pending, LastDeliveredID: g.LastDeliveredID, RedisLag: g.Lag}
		// Redis 7 reports a group's lag, exactly, whenever it can tell it
		// together with the entries the group has read; the embedded server
		// reports no entries read (and the whole stream as lag), and Redis
		// says nothing after a deletion inside the range. Only then is it
		// counted (CountLag), which costs in proportion to the backlog.
		if g.EntriesRead > 0 && g.Lag >= 0 {
			stats.Lag, stats.lagKnown = g.Lag, true
		}
		if pc := pend[g.Name]; pc != nil && g.Pending > 0 {
			stats.OldestPendingID = pc.Val().Lower
		}
		if w := waiting[g.Name]; w != nil {
			stats.Waiting = w.Val()
		}
		st.Groups = append(st.Groups, stats)
	}
	return st, nil
}

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

// CountLag fills in Lag, the entries after a group's last-delivered id, for
// the groups that are behind. Redis 7 reports lag itself but the embedded
// server does not, so it is counted, and right on both. Counting walks both
// sides of the id a page at a time and stops when either side ends: the lag
// is that side's count, or the stream length minus it, so the cost follows
// whichever side is shorter (a backlog behind a slow group is mostly "after",
// a group keeping up has little "after"). limit bounds the entries read per
// group; callers still throttle it.
func (s *Store) CountLag(ctx context.Context, st *State, limit int64) error {
	for i, g := range st.Groups {
		if !st.Behind(g) || g.lagKnown {
			continue
		}
		lag, err := s.countAfter(ctx, g.LastDeliveredID, st.Length, limit)
		if err != nil {
			return fmt.Errorf("count lag of %s: %w", g.Name, err)
		}
		st.Groups[i].Lag = lag
	}
	return nil
}

func (s *Store) countAfter(ctx context.Context, id string, length, limit int64) (int64, error) {
	after, upto := "("+id, id // cursors: exclusive after, inclusive at-or-before
	var nAfter, nUpto int64
	for nAfter+nUpto <= limit {
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

func (s *Store) countPage(ctx context.Context, side, from string) (int64, string, error) {
	res, err := countScript.Run(ctx, s.c, []string{EventsKey(s.sb)}, side, from, lagPage).Slice()
	if err != nil {
		return 0, "", err
	}
	n, _ := res[0].(int64)
	last, _ := res[1].(string)
	return n, last, nil
}

// Trim drops entries every group has finished with: MINID is the oldest entry
// still pending or not yet delivered in any group, so retention can never
// remove work a consumer still holds or waits to retry.
func (s *Store) Trim(ctx context.Context, groups []GroupStats) (int64, error) {
	if len(groups) == 0 {
		return 0, nil
	}
	var keep string
	for _, g := range groups {
		first := g.OldestPendingID
		if first == "" {
			first = NextID(g.LastDeliveredID)
		}
		if keep == "" || CompareIDs(first, keep) < 0 {
			keep = first
		}
	}
	return s.c.XTrimMinID(ctx, EventsKey(s.sb), keep).Result()
}

// NextID is the smallest stream id greater than id.
func NextID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseUint(seq, 10, 64)
	if ms == "" {
		ms = "0"
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// CompareIDs orders two stream ids.
func CompareIDs(a, b string) int {
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

// ---- the downstream services' ledger ----------------------------------------------

// ApplyEffect performs one effect (a welcome email sent, a signup tracked)
// with a single atomic command. With an idempotency key the effect is
// recorded under the key with HSETNX, so a repeated key does nothing; without
// one every call counts. It returns 1 for a first effect, n > 1 when the user
// has now had it n times, and -1 when the key was seen before.
func (s *Store) ApplyEffect(ctx context.Context, service, userID, idemKey string) (int64, error) {
	if idemKey == "" {
		n, err := s.c.HIncrBy(ctx, RepeatsKey(s.sb, service), userID, 1).Result()
		if err != nil {
			return 0, fmt.Errorf("%s ledger: %w", service, err)
		}
		return n, nil
	}
	ok, err := s.c.HSetNX(ctx, LedgerKey(s.sb, service), idemKey, userID).Result()
	if err != nil {
		return 0, fmt.Errorf("%s ledger: %w", service, err)
	}
	if !ok {
		return -1, nil
	}
	return 1, nil
}

// ---- audits --------------------------------------------------------------------------

// auditChunk is how many users one pipelined audit round trip checks.
const auditChunk = 1000

// runRecords is what Redis holds about one run, before it is counted.
type runRecords struct {
	users     map[string]string // user id -> "<mode> <event id>"
	failed    []string
	published []string
	poison    []string
	// per user, in the order of ids: effects by key and without, per service
	ids        []string
	keyed      map[string][]bool
	repeats    map[string][]int64
	done       map[string][]bool // per group, per user
	dead       map[string][]bool // per group, per user
	deadPoison map[string][]bool // per group, per poison entry
}

// readRun reads everything the audit of run needs: the run's users, which
// failed and which were published, and for each user the ledgers and each
// group's records, a chunk of users per round trip.
func (s *Store) readRun(ctx context.Context, run string, groups, services []string) (*runRecords, error) {
	var users *redis.MapStringStringCmd
	var failed, published, poison *redis.StringSliceCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		users = p.HGetAll(ctx, RunUsersKey(s.sb, run))
		failed = p.SMembers(ctx, RunFailedKey(s.sb, run))
		published = p.SMembers(ctx, RunPublishedKey(s.sb, run))
		poison = p.SMembers(ctx, RunPoisonKey(s.sb, run))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", run, err)
	}
	r := &runRecords{users: users.Val(), failed: failed.Val(), published: published.Val(), poison: poison.Val(),
		keyed: map[string][]bool{}, repeats: map[string][]int64{}, done: map[string][]bool{}, dead: map[string][]bool{}, deadPoison: map[string][]bool{}}
	for id := range r.users {
		r.ids = append(r.ids, id)
	}
	for start := 0; start < len(r.ids); start += auditChunk {
		ids := r.ids[start:min(start+auditChunk, len(r.ids))]
		events := make([]string, len(ids))
		for i, id := range ids {
			_, events[i], _ = strings.Cut(r.users[id], " ")
		}
		keyed := map[string]*redis.SliceCmd{}
		repeats := map[string]*redis.SliceCmd{}
		done := map[string]*redis.BoolSliceCmd{}
		dead := map[string]*redis.SliceCmd{}
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, svc := range services {
				keyed[svc] = p.HMGet(ctx, LedgerKey(s.sb, svc), events...)
				repeats[svc] = p.HMGet(ctx, RepeatsKey(s.sb, svc), ids...)
			}
			for _, g := range groups {
				done[g] = p.SMIsMember(ctx, DoneKey(s.sb, g), anys(events)...)
				dead[g] = p.HMGet(ctx, DeadIDsKey(s.sb, g), events...)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit run %s: %w", run, err)
		}
		for _, svc := range services {
			for _, v := range keyed[svc].Val() {
				r.keyed[svc] = append(r.keyed[svc], v != nil)
			}
			for _, v := range repeats[svc].Val() {
				str, _ := v.(string)
				n, _ := strconv.ParseInt(str, 10, 64)
				r.repeats[svc] = append(r.repeats[svc], n)
			}
		}
		for _, g := range groups {
			r.done[g] = append(r.done[g], done[g].Val()...)
			for _, v := range dead[g].Val() {
				r.dead[g] = append(r.dead[g], v != nil)
			}
		}
	}
	if len(r.poison) > 0 {
		fields := make([]string, len(r.poison))
		for i, id := range r.poison {
			fields[i] = "entry:" + id
		}
		cmds := map[string]*redis.SliceCmd{}
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, g := range groups {
				cmds[g] = p.HMGet(ctx, DeadIDsKey(s.sb, g), fields...)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit run %s poison: %w", run, err)
		}
		for _, g := range groups {
			for _, v := range cmds[g].Val() {
				r.deadPoison[g] = append(r.deadPoison[g], v != nil)
			}
		}
	}
	return r, nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// totalsRecords is what Redis holds about a whole sandbox.
type totalsRecords struct {
	users   map[string]string
	keyed   map[string]map[string]string // service -> key -> user
	repeats map[string]map[string]string // service -> user -> count
	done    map[string][]string
	dead    map[string][]string
}

// readTotals reads the ledgers and every group's records whole, which is fine
// for the bounded sizes of a lab sandbox.
func (s *Store) readTotals(ctx context.Context, groups, services []string) (*totalsRecords, error) {
	var users *redis.MapStringStringCmd
	keyed := map[string]*redis.MapStringStringCmd{}
	repeats := map[string]*redis.MapStringStringCmd{}
	done := map[string]*redis.StringSliceCmd{}
	dead := map[string]*redis.StringSliceCmd{}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		users = p.HGetAll(ctx, UsersKey(s.sb))
		for _, svc := range services {
			keyed[svc] = p.HGetAll(ctx, LedgerKey(s.sb, svc))
			repeats[svc] = p.HGetAll(ctx, RepeatsKey(s.sb, svc))
		}
		for _, g := range groups {
			done[g] = p.SMembers(ctx, DoneKey(s.sb, g))
			dead[g] = p.HKeys(ctx, DeadIDsKey(s.sb, g))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit sandbox: %w", err)
	}
	t := &totalsRecords{users: users.Val(), keyed: map[string]map[string]string{}, repeats: map[string]map[string]string{},
		done: map[string][]string{}, dead: map[string][]string{}}
	for _, svc := range services {
		t.keyed[svc], t.repeats[svc] = keyed[svc].Val(), repeats[svc].Val()
	}
	for _, g := range groups {
		t.done[g], t.dead[g] = done[g].Val(), dead[g].Val()
	}
	return t, nil
}

// Usage is what a sandbox stores, as its storage budget counts it.
type Usage struct {
	Users, Stream, Dead int64
}

// Usage counts the sandbox's users, stream entries and dead letters in one
// round trip.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var users, xlen, dlen *redis.IntCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		users = p.HLen(ctx, UsersKey(s.sb))
		xlen = p.XLen(ctx, EventsKey(s.sb))
		dlen = p.XLen(ctx, DeadKey(s.sb))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Usage{}, fmt.Errorf("measure sandbox storage: %w", err)
	}
	return Usage{Users: users.Val(), Stream: xlen.Val(), Dead: dlen.Val()}, nil
}

// Keep gives every long-lived key of the sandbox (see Long) ttl from now, in
// one MULTI/EXEC: the stream, its idempotency records and the effect ledgers
// always expire together, so no entry can outlive the records that keep its
// redelivery from doing its work twice. A key that does not exist is
// skipped; one written later gets its TTL at the next Keep.
func (s *Store) Keep(ctx context.Context, ttl time.Duration, groups, services []string) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range Long(s.sb, groups, services) {
			p.Expire(ctx, k, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keep sandbox keys: %w", err)
	}
	return nil
}

// DeleteAll removes every key of the sandbox.
func (s *Store) DeleteAll(ctx context.Context) error {
	if err := redisdb.DeleteKeys(ctx, s.c, Pattern(s.sb)); err != nil {
		return fmt.Errorf("delete sandbox keys: %w", err)
	}
	return nil
}
