package workshops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every Redis command of the package is in this file. A workshop's keys
// share the hash tag {ws:CODE}, so they live on one node of a cluster and a
// script may touch them together:
//
//	cr:{ws:CODE}:workshop  hash   title, agenda (JSON), current, locked, paused, closed,
//	                              created and expires (unix ms), token (SHA-256 of the facilitator's)
//	cr:{ws:CODE}:claim     string the code is taken (SET NX)
//	cr:{ws:CODE}:people    hash   learner → display name
//	cr:{ws:CODE}:joined    hash   learner → when they first joined (unix ms)
//	cr:{ws:CODE}:at        hash   learner → agenda index they last opened
//	cr:{ws:CODE}:seen      hash   learner → when (unix ms)
//	cr:{ws:CODE}:hands     zset   learner → when the hand went up (unix ms)
//	cr:{ws:CODE}:onmyway   set    learners the facilitator is coming to
//	cr:{ws:CODE}:predict:<scenario>  hash  learner → the option they predicted
//	cr:{ws:CODE}:outcome:<scenario>  hash  learner → 1 when their run bore the scenario's claims out, else 0
//	cr:{ws:CODE}:figures:<scenario>  hash  learner → their runs' figures (JSON, as the caller wrote them)
//	cr:{ws:CODE}:joins:<minute>   joins in that minute, for the rate limit
//	cr:{ws:CODE}:events    channel  a word per change, for the boards
//
// and, across workshops, cr:workshops (zset code → expiry) to count them,
// and cr:{<learner>}:workshop, the workshop a learner is in.
// Every key expires with its workshop.

func key(code, part string) string { return "cr:{ws:" + code + "}:" + part }

const indexKey = "cr:workshops"

// Options bound what one server holds.
type Options struct {
	MaxWorkshops    int           // workshops open at once on the server (default 50)
	MaxParticipants int           // per workshop (default 300)
	JoinsPerMinute  int           // per workshop (default 600)
	TTL             time.Duration // a workshop and all it holds are deleted this long after creation (default 7 days)
	Now             func() time.Time
	// Index is the key that counts the workshops open on the server
	// (default cr:workshops): the instances that share it share
	// MaxWorkshops. Tests give each their own.
	Index string
}

func (o *Options) defaults() {
	if o.MaxWorkshops <= 0 {
		o.MaxWorkshops = 50
	}
	if o.MaxParticipants <= 0 {
		o.MaxParticipants = 300
	}
	if o.JoinsPerMinute <= 0 {
		o.JoinsPerMinute = 600
	}
	if o.TTL <= 0 {
		o.TTL = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Index == "" {
		o.Index = indexKey
	}
}

// Store keeps workshops in Redis.
type Store struct {
	c   redis.UniversalClient
	opt Options
}

// NewStore returns a store on c.
func NewStore(c redis.UniversalClient, opt Options) *Store {
	opt.defaults()
	return &Store{c: c, opt: opt}
}

// Limits returns the store's options with defaults filled in.
func (s *Store) Limits() Options { return s.opt }

// Codes lists the workshops the store's index counts, for tests and tools.
func (s *Store) Codes(ctx context.Context) ([]string, error) {
	return s.c.ZRange(ctx, s.opt.Index, 0, -1).Result()
}

// Create opens a workshop and returns it with the facilitator's token, the
// only time the token is seen: only its hash is kept.
func (s *Store) Create(ctx context.Context, p Plan) (Workshop, string, error) {
	if err := p.Check(); err != nil {
		return Workshop{}, "", err
	}
	now := s.opt.Now()
	if err := s.c.ZRemRangeByScore(ctx, s.opt.Index, "-inf", strconv.FormatInt(now.UnixMilli(), 10)).Err(); err != nil {
		return Workshop{}, "", fmt.Errorf("count workshops: %w", err)
	}
	n, err := s.c.ZCard(ctx, s.opt.Index).Result()
	if err != nil {
		return Workshop{}, "", fmt.Errorf("count workshops: %w", err)
	}
	if n >= int64(s.opt.MaxWorkshops) {
		return Workshop{}, "", ErrTooMany
	}
	w := Workshop{Title: p.Title, Agenda: p.Agenda, Current: -1, CreatedAt: now.Truncate(time.Millisecond),
		ExpiresAt: now.Add(s.opt.TTL).Truncate(time.Millisecond)}
	for range 10 {
		code := newCode()
		ok, err := s.c.SetNX(ctx, key(code, "claim"), "1", s.opt.TTL).Result()
		if err != nil {
			return Workshop{}, "", fmt.Errorf("claim a join code: %w", err)
		}
		if ok {
			w.Code = code
			break
		}
	}
	if w.Code == "" {
		return Workshop{}, "", errors.New("claim a join code: ten codes in a row were taken")
	}
	agenda, err := json.Marshal(w.Agenda)
	if err != nil {
		return Workshop{}, "", fmt.Errorf("encode agenda: %w", err)
	}
	token := newToken()
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		k := key(w.Code, "workshop")
		p.HSet(ctx, k, "title", w.Title, "agenda", agenda, "current", -1, "locked", 0, "paused", 0, "closed", 0,
			"created", w.CreatedAt.UnixMilli(), "expires", w.ExpiresAt.UnixMilli(), "token", tokenHash(token))
		p.PExpireAt(ctx, k, w.ExpiresAt)
		return nil
	})
	if err != nil {
		return Workshop{}, "", fmt.Errorf("store workshop: %w", err)
	}
	if err := s.c.ZAdd(ctx, s.opt.Index, redis.Z{Score: float64(w.ExpiresAt.UnixMilli()), Member: w.Code}).Err(); err != nil {
		return Workshop{}, "", fmt.Errorf("index workshop: %w", err)
	}
	return w, token, nil
}

// keyParts are the keys of a workshop but the per-minute join counters,
// which expire within two minutes.
var keyParts = []string{"workshop", "claim", "people", "joined", "at", "seen", "hands", "onmyway"}

// Delete removes a workshop and everything it holds at once, rather than
// when it expires.
func (s *Store) Delete(ctx context.Context, code string) error {
	keys := make([]string, len(keyParts))
	for i, p := range keyParts {
		keys[i] = key(code, p)
	}
	if w, err := s.Get(ctx, code); err == nil {
		for _, it := range w.Agenda {
			if it.Kind == KindScenario {
				keys = append(keys, key(code, "predict:"+it.Ref), key(code, "outcome:"+it.Ref), key(code, "figures:"+it.Ref))
			}
		}
	}
	people, err := s.c.HKeys(ctx, key(code, "people")).Result()
	if err != nil {
		return fmt.Errorf("delete workshop: %w", err)
	}
	for _, l := range people {
		if err := leaveScript.Run(ctx, s.c, []string{learnerKey(l)}, code).Err(); err != nil {
			return fmt.Errorf("delete workshop: %w", err)
		}
	}
	if err := s.c.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("delete workshop: %w", err)
	}
	if err := s.c.ZRem(ctx, s.opt.Index, code).Err(); err != nil {
		return fmt.Errorf("delete workshop: %w", err)
	}
	s.notify(ctx, code, "state")
	return nil
}

// Get returns the workshop with code, or ErrNotFound.
func (s *Store) Get(ctx context.Context, code string) (Workshop, error) {
	m, err := s.c.HGetAll(ctx, key(code, "workshop")).Result()
	if err != nil {
		return Workshop{}, fmt.Errorf("read workshop: %w", err)
	}
	if len(m) == 0 {
		return Workshop{}, ErrNotFound
	}
	w := Workshop{Code: code, Title: m["title"], Locked: m["locked"] == "1", Paused: m["paused"] == "1", Closed: m["closed"] == "1"}
	if err := json.Unmarshal([]byte(m["agenda"]), &w.Agenda); err != nil {
		return Workshop{}, fmt.Errorf("read workshop %s agenda: %w", code, err)
	}
	w.Current, _ = strconv.Atoi(m["current"])
	w.CreatedAt = unixMilli(m["created"])
	w.ExpiresAt = unixMilli(m["expires"])
	w.RoomRun, w.RoomRunAt = m["roomrun"], unixMilli(m["roomrun_at"])
	return w, nil
}

// Authorize returns the workshop when token is its facilitator's.
func (s *Store) Authorize(ctx context.Context, code, token string) (Workshop, error) {
	h, err := s.c.HGet(ctx, key(code, "workshop"), "token").Result()
	if errors.Is(err, redis.Nil) {
		return Workshop{}, ErrNotFound
	}
	if err != nil {
		return Workshop{}, fmt.Errorf("read workshop: %w", err)
	}
	if token == "" || !tokenMatches(token, h) {
		return Workshop{}, ErrForbidden
	}
	return s.Get(ctx, code)
}

// joinScript adds a participant unless the workshop is closed, locked or
// full; one who joined before only gets their new name (even when locked).
//
//	KEYS  1 workshop  2 people  3 joined
//	ARGV  1 learner  2 name  3 now (ms)  4 most participants
var joinScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 'missing' end
local w = redis.call('HMGET', KEYS[1], 'closed', 'locked')
if w[1] == '1' then return 'closed' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 'again'
end
if w[2] == '1' then return 'locked' end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return 'joined'`)

// Join adds learner to the workshop as name (or renames them when they
// joined before). It returns the participant and whether they are new.
func (s *Store) Join(ctx context.Context, code, learner, name string) (Participant, bool, error) {
	name, err := cleanName(name)
	if err != nil {
		return Participant{}, false, err
	}
	now := s.opt.Now()
	minute := key(code, "joins:"+strconv.FormatInt(now.Unix()/60, 10))
	var joins *redis.IntCmd
	if _, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		joins = p.Incr(ctx, minute)
		p.Expire(ctx, minute, 2*time.Minute)
		return nil
	}); err != nil {
		return Participant{}, false, fmt.Errorf("count joins: %w", err)
	}
	if joins.Val() > int64(s.opt.JoinsPerMinute) {
		return Participant{}, false, ErrBusy
	}
	res, err := joinScript.Run(ctx, s.c, []string{key(code, "workshop"), key(code, "people"), key(code, "joined")},
		learner, name, now.UnixMilli(), s.opt.MaxParticipants).Text()
	if err != nil {
		return Participant{}, false, fmt.Errorf("join workshop: %w", err)
	}
	switch res {
	case "missing":
		return Participant{}, false, ErrNotFound
	case "closed":
		return Participant{}, false, ErrClosed
	case "locked":
		return Participant{}, false, ErrLocked
	case "full":
		return Participant{}, false, ErrFull
	}
	p, err := s.Participant(ctx, code, learner)
	if err != nil {
		return Participant{}, false, err
	}
	if ttl, err := s.c.PTTL(ctx, key(code, "workshop")).Result(); err == nil && ttl > 0 {
		if err := s.c.Set(ctx, learnerKey(learner), code, ttl).Err(); err != nil {
			return Participant{}, false, fmt.Errorf("join workshop: %w", err)
		}
	}
	s.notify(ctx, code, "people")
	return p, res == "joined", nil
}

func learnerKey(learner string) string { return "cr:{" + learner + "}:workshop" }

// WorkshopOf returns the code of the workshop learner is in, "" for none.
func (s *Store) WorkshopOf(ctx context.Context, learner string) (string, error) {
	code, err := s.c.Get(ctx, learnerKey(learner)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read learner's workshop: %w", err)
	}
	return code, nil
}

// leaveScript forgets which workshop a learner is in, if it is this one.
var leaveScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`)

// Leave removes learner from the workshop.
func (s *Store) Leave(ctx context.Context, code, learner string) error {
	if err := leaveScript.Run(ctx, s.c, []string{learnerKey(learner)}, code).Err(); err != nil {
		return fmt.Errorf("leave workshop: %w", err)
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, part := range []string{"people", "joined", "at", "seen"} {
			p.HDel(ctx, key(code, part), learner)
		}
		p.ZRem(ctx, key(code, "hands"), learner)
		p.SRem(ctx, key(code, "onmyway"), learner)
		return nil
	})
	if err != nil {
		return fmt.Errorf("leave workshop: %w", err)
	}
	s.notify(ctx, code, "people")
	return nil
}

// Participant returns learner's entry, or ErrNotJoined.
func (s *Store) Participant(ctx context.Context, code, learner string) (Participant, error) {
	var name, joined, at, seen *redis.StringCmd
	var hand *redis.FloatCmd
	var onway *redis.BoolCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		name = p.HGet(ctx, key(code, "people"), learner)
		joined = p.HGet(ctx, key(code, "joined"), learner)
		at = p.HGet(ctx, key(code, "at"), learner)
		seen = p.HGet(ctx, key(code, "seen"), learner)
		hand = p.ZScore(ctx, key(code, "hands"), learner)
		onway = p.SIsMember(ctx, key(code, "onmyway"), learner)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Participant{}, fmt.Errorf("read participant: %w", err)
	}
	if name.Err() != nil {
		return Participant{}, ErrNotJoined
	}
	pt := Participant{Learner: learner, Name: name.Val(), JoinedAt: unixMilli(joined.Val()), At: -1,
		SeenAt: unixMilli(seen.Val()), OnMyWay: onway.Val()}
	if at.Err() == nil {
		pt.At, _ = strconv.Atoi(at.Val())
	}
	if hand.Err() == nil {
		pt.HandAt = time.UnixMilli(int64(hand.Val()))
	}
	return pt, nil
}

// Participants returns everybody in the workshop, in the order they joined.
func (s *Store) Participants(ctx context.Context, code string) ([]Participant, error) {
	var names, joined, at, seen *redis.MapStringStringCmd
	var hands *redis.ZSliceCmd
	var onway *redis.StringSliceCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		names = p.HGetAll(ctx, key(code, "people"))
		joined = p.HGetAll(ctx, key(code, "joined"))
		at = p.HGetAll(ctx, key(code, "at"))
		seen = p.HGetAll(ctx, key(code, "seen"))
		hands = p.ZRangeWithScores(ctx, key(code, "hands"), 0, -1)
		onway = p.SMembers(ctx, key(code, "onmyway"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read participants: %w", err)
	}
	handAt := map[string]time.Time{}
	for _, z := range hands.Val() {
		handAt[z.Member.(string)] = time.UnixMilli(int64(z.Score))
	}
	out := make([]Participant, 0, len(names.Val()))
	for learner, name := range names.Val() {
		p := Participant{Learner: learner, Name: name, JoinedAt: unixMilli(joined.Val()[learner]), At: -1,
			SeenAt: unixMilli(seen.Val()[learner]), HandAt: handAt[learner], OnMyWay: slices.Contains(onway.Val(), learner)}
		if v, ok := at.Val()[learner]; ok {
			p.At, _ = strconv.Atoi(v)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Participant) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Learner, b.Learner)
	})
	return out, nil
}

// HelpQueue returns the participants whose hand is up, oldest first.
func HelpQueue(ps []Participant) []Participant {
	var q []Participant
	for _, p := range ps {
		if p.HandUp() {
			q = append(q, p)
		}
	}
	slices.SortFunc(q, func(a, b Participant) int { return a.HandAt.Compare(b.HandAt) })
	return q
}

// withinScript runs one write on a key of a workshop and gives the key the
// workshop's remaining lifetime, unless the workshop is gone.
//
//	KEYS  1 workshop  2 the key written
//	ARGV  1 command  2… its arguments after the key
var withinScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return {0} end
local args = {ARGV[1], KEYS[2]}
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
local r = redis.call(unpack(args))
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, r}`)

func (s *Store) within(ctx context.Context, code, part string, cmd string, args ...any) (int64, error) {
	res, err := withinScript.Run(ctx, s.c, []string{key(code, "workshop"), key(code, part)}, append([]any{cmd}, args...)...).Slice()
	if err != nil {
		return 0, err
	}
	if len(res) == 0 || res[0] == int64(0) {
		return 0, ErrNotFound
	}
	n, _ := res[1].(int64)
	return n, nil
}

// member fails with ErrNotJoined unless learner is in the workshop.
func (s *Store) member(ctx context.Context, code, learner string) error {
	ok, err := s.c.HExists(ctx, key(code, "people"), learner).Result()
	if err != nil {
		return fmt.Errorf("read participant: %w", err)
	}
	if !ok {
		return ErrNotJoined
	}
	return nil
}

// Visit notes that learner opened agenda item at.
func (s *Store) Visit(ctx context.Context, code, learner string, at int) error {
	if err := s.member(ctx, code, learner); err != nil {
		return err
	}
	now := s.opt.Now().UnixMilli()
	if _, err := s.within(ctx, code, "at", "HSET", learner, at); err != nil {
		return fmt.Errorf("note visit: %w", err)
	}
	if _, err := s.within(ctx, code, "seen", "HSET", learner, now); err != nil {
		return fmt.Errorf("note visit: %w", err)
	}
	s.notify(ctx, code, "people")
	return nil
}

// RaiseHand puts learner in the help queue (where they were, if already).
func (s *Store) RaiseHand(ctx context.Context, code, learner string) error {
	if err := s.member(ctx, code, learner); err != nil {
		return err
	}
	if _, err := s.within(ctx, code, "hands", "ZADD", "NX", s.opt.Now().UnixMilli(), learner); err != nil {
		return fmt.Errorf("raise hand: %w", err)
	}
	s.notify(ctx, code, "hands "+learner)
	return nil
}

// LowerHand takes learner out of the help queue; the participant does it,
// or the facilitator once they have helped.
func (s *Store) LowerHand(ctx context.Context, code, learner string) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, key(code, "hands"), learner)
		p.SRem(ctx, key(code, "onmyway"), learner)
		return nil
	})
	if err != nil {
		return fmt.Errorf("lower hand: %w", err)
	}
	s.notify(ctx, code, "hands "+learner)
	return nil
}

// OnMyWay marks a raised hand as answered: the facilitator is coming.
func (s *Store) OnMyWay(ctx context.Context, code, learner string) error {
	if _, err := s.c.ZScore(ctx, key(code, "hands"), learner).Result(); errors.Is(err, redis.Nil) {
		return ErrNotJoined
	} else if err != nil {
		return fmt.Errorf("answer hand: %w", err)
	}
	if _, err := s.within(ctx, code, "onmyway", "SADD", learner); err != nil {
		return fmt.Errorf("answer hand: %w", err)
	}
	s.notify(ctx, code, "hands "+learner)
	return nil
}

// NoticeRoom says a prediction or an outcome changed the room's picture.
const NoticeRoom = "room"

// RecordPrediction notes learner's prediction for scenario (the option's
// index); predicting again replaces it.
func (s *Store) RecordPrediction(ctx context.Context, code, learner, scenario string, option int) error {
	if err := s.member(ctx, code, learner); err != nil {
		return err
	}
	if _, err := s.within(ctx, code, "predict:"+scenario, "HSET", learner, option); err != nil {
		return fmt.Errorf("record prediction: %w", err)
	}
	s.notify(ctx, code, NoticeRoom)
	return nil
}

// RecordOutcome notes that learner's guided run of scenario finished,
// whether it bore out everything the scenario claims, and its figures.
func (s *Store) RecordOutcome(ctx context.Context, code, learner, scenario string, held bool, figures []byte) error {
	if err := s.member(ctx, code, learner); err != nil {
		return err
	}
	if _, err := s.within(ctx, code, "outcome:"+scenario, "HSET", learner, flag(held)); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	if _, err := s.within(ctx, code, "figures:"+scenario, "HSET", learner, figures); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	s.notify(ctx, code, NoticeRoom)
	return nil
}

// RoomScenario is the room's picture of one scenario: who predicted what,
// and how the runs came out.
type RoomScenario struct {
	Predictions map[string]int    // learner → option
	Outcomes    map[string]bool   // learner → their run bore the claims out
	Figures     map[string][]byte // learner → their runs' figures
}

// Room reads the predictions and outcomes of the given scenarios.
func (s *Store) Room(ctx context.Context, code string, scenarios []string) (map[string]RoomScenario, error) {
	preds := make([]*redis.MapStringStringCmd, len(scenarios))
	outs := make([]*redis.MapStringStringCmd, len(scenarios))
	figs := make([]*redis.MapStringStringCmd, len(scenarios))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sc := range scenarios {
			preds[i] = p.HGetAll(ctx, key(code, "predict:"+sc))
			outs[i] = p.HGetAll(ctx, key(code, "outcome:"+sc))
			figs[i] = p.HGetAll(ctx, key(code, "figures:"+sc))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the room: %w", err)
	}
	room := map[string]RoomScenario{}
	for i, sc := range scenarios {
		rs := RoomScenario{Predictions: map[string]int{}, Outcomes: map[string]bool{}, Figures: map[string][]byte{}}
		for l, v := range figs[i].Val() {
			rs.Figures[l] = []byte(v)
		}
		for l, v := range preds[i].Val() {
			if n, err := strconv.Atoi(v); err == nil {
				rs.Predictions[l] = n
			}
		}
		for l, v := range outs[i].Val() {
			rs.Outcomes[l] = v == "1"
		}
		room[sc] = rs
	}
	return room, nil
}

// NoticeRoomRun, followed by a space and a scenario id, asks every
// instance to run that scenario in the sandboxes of the workshop's
// participants it holds.
const NoticeRoomRun = "roomrun"

// StartRoomRun notes that the facilitator ran scenario for the whole room,
// and announces it.
func (s *Store) StartRoomRun(ctx context.Context, code, scenario string) error {
	w, err := s.Get(ctx, code)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(w.Agenda, func(it Item) bool { return it.Kind == KindScenario && it.Ref == scenario }) {
		return &FieldError{"scenario", "choose a scenario of the agenda"}
	}
	if _, err := s.within(ctx, code, "workshop", "HSET", "roomrun", scenario, "roomrun_at", s.opt.Now().UnixMilli()); err != nil {
		return fmt.Errorf("start a room run: %w", err)
	}
	s.notify(ctx, code, NoticeRoomRun+" "+scenario)
	return nil
}

// Move points everyone at agenda item i (-1: none).
func (s *Store) Move(ctx context.Context, code string, i int) error {
	w, err := s.Get(ctx, code)
	if err != nil {
		return err
	}
	if i < -1 || i >= len(w.Agenda) {
		return &FieldError{"item", fmt.Sprintf("the agenda has items 1 to %d", len(w.Agenda))}
	}
	return s.set(ctx, code, "move", "current", strconv.Itoa(i))
}

// SetLocked stops (or allows again) new participants.
func (s *Store) SetLocked(ctx context.Context, code string, on bool) error {
	return s.set(ctx, code, "state", "locked", flag(on))
}

// Notices besides "people", "hands <learner>", "move" and "state".
const (
	NoticePaused    = "paused"     // the labs were paused: stop the runs in progress
	NoticeResetLabs = "reset-labs" // close every participant's sandbox
)

// SetPaused notes that the facilitator paused (or resumed) every lab.
func (s *Store) SetPaused(ctx context.Context, code string, on bool) error {
	notice := "state"
	if on {
		notice = NoticePaused
	}
	return s.set(ctx, code, notice, "paused", flag(on))
}

// Announce tells every instance of a workshop-wide action, once the
// workshop is known to exist.
func (s *Store) Announce(ctx context.Context, code, notice string) error {
	if _, err := s.Get(ctx, code); err != nil {
		return err
	}
	s.notify(ctx, code, notice)
	return nil
}

// Close ends the workshop: nobody joins any more; what it holds stays until
// it expires, for the report.
func (s *Store) Close(ctx context.Context, code string) error {
	return s.set(ctx, code, "state", "closed", "1")
}

func (s *Store) set(ctx context.Context, code, event, field, value string) error {
	if _, err := s.within(ctx, code, "workshop", "HSET", field, value); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("update workshop: %w", err)
	}
	s.notify(ctx, code, event)
	return nil
}

// Subscribe listens to the changes of a workshop: each message's payload
// says what changed: "people" (joined, left, moved on), "hands <learner>",
// "move" (the facilitator's current item) or "state" (locked, paused,
// closed). The caller closes the subscription.
func (s *Store) Subscribe(ctx context.Context, code string) *redis.PubSub {
	return s.c.Subscribe(ctx, key(code, "events"))
}

// SubscribeAll listens to the changes of every workshop on one connection:
// a process fans them out to its own boards and bars (see EventCode), so
// a room of 300 does not hold 300 Redis connections.
func (s *Store) SubscribeAll(ctx context.Context) *redis.PubSub {
	return s.c.PSubscribe(ctx, "cr:{ws:*}:events")
}

// EventCode returns the workshop a message of SubscribeAll is about.
func EventCode(channel string) (string, bool) {
	code, ok := strings.CutPrefix(channel, "cr:{ws:")
	if !ok {
		return "", false
	}
	code, ok = strings.CutSuffix(code, "}:events")
	return code, ok
}

// notify tells every board of the workshop that something changed. A lost
// notice only delays a board until the next one, or its periodic refresh.
func (s *Store) notify(ctx context.Context, code, what string) {
	s.c.Publish(ctx, key(code, "events"), what)
}

func flag(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

func unixMilli(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
