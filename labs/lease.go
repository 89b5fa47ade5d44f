package labs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/labs/stream"
)

// Several app instances may serve one room from one Redis. A learner's lab
// runs in one of them at a time — its consumers, services and loads live in
// that process — and a lease in Redis (stream.LeaseKey) says which. The
// instance renews the leases of its labs every few seconds; when it dies,
// they expire, and the next request for the lab on any instance takes the
// lease, opens the sandbox on the same keys (its consumers claim what the
// dead ones left pending) and restores its saved state (state.go); a lab
// that still has work to finish is taken up sooner, unasked (adopt). While
// the lease is alive elsewhere, Open says where (ElsewhereError) so the web
// layer can pass the request on. All the Redis commands for it are here.

// Lease timing: a dead instance's labs move after at most leaseTTL.
const (
	leaseTTL   = 10 * time.Second
	leaseEvery = 3 * time.Second
)

// ownerKey names the sandbox a learner's lab lives in, whichever instance
// runs it.
func (m *Manager) ownerKey(owner string) string { return "cr:{" + m.opt.Scope + owner + "}:lab" }

// instanceKey holds the address another instance can reach this one on.
func instanceKey(instance string) string { return "cr:{instance:" + instance + "}:addr" }

// ElsewhereError says the lab is running in another app instance now.
type ElsewhereError struct {
	// Instance is the other instance's id; Addr the base URL it advertised
	// (--advertise-url), "" when it gave none.
	Instance, Addr string
	// RetryAfter is when the lease ends unless renewed: if the instance is
	// dead, the lab can move here then.
	RetryAfter time.Duration
}

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("this lab is running in another app instance (%s); it moves here if that instance stops", e.Instance)
}

// IsElsewhere returns the ElsewhereError in err, if any.
func IsElsewhere(err error) (*ElsewhereError, bool) {
	var e *ElsewhereError
	ok := errors.As(err, &e)
	return e, ok
}

// claimScript takes or renews a lease: it returns "" when ARGV[1] holds it
// now, or the holder and the milliseconds left on its lease.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {'', 0}
end
return {cur, redis.call('PTTL', KEYS[1])}`)

// releaseScript deletes a key only while it still holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// sandboxOf returns the sandbox owner's lab lives in, naming a fresh one
// (fresh) when the owner has none and create is set, "" otherwise; two
// instances asking at once agree.
func (m *Manager) sandboxOf(ctx context.Context, owner string, create bool) (id string, fresh bool, err error) {
	key := m.ownerKey(owner)
	id, err = m.rc.Get(ctx, key).Result()
	if err == nil {
		if ValidateID(id) == nil {
			return id, false, nil
		}
		err = redis.Nil // written by something else: start afresh
	}
	if !errors.Is(err, redis.Nil) {
		return "", false, fmt.Errorf("find the learner's lab: %w", err)
	}
	if !create {
		return "", false, nil
	}
	id = "lab-" + randomHex(16)
	ok, err := m.rc.SetNX(ctx, key, id, m.dataTTL()).Result()
	if err != nil {
		return "", false, fmt.Errorf("name the learner's lab: %w", err)
	}
	if !ok {
		if id, err = m.rc.Get(ctx, key).Result(); err != nil {
			return "", false, fmt.Errorf("find the learner's lab: %w", err)
		}
		return id, false, nil
	}
	return id, true, nil
}

// claim takes or renews the lease on sandbox id for this instance.
func (m *Manager) claim(ctx context.Context, id string) error {
	res, err := claimScript.Run(ctx, m.rc, []string{stream.LeaseKey(id)}, m.instance, leaseTTL.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("take the lab's lease: %w", err)
	}
	holder, _ := res[0].(string)
	if holder == "" {
		return nil
	}
	left, _ := res[1].(int64)
	e := &ElsewhereError{Instance: holder, RetryAfter: time.Duration(max(left, 0)) * time.Millisecond}
	e.Addr, _ = m.rc.Get(ctx, instanceKey(holder)).Result()
	return e
}

// renewLeases renews the lease of every lab this instance runs, in one
// round trip, and returns the labs whose lease another instance took
// meanwhile (this one stalled longer than leaseTTL).
func (m *Manager) renewLeases(ctx context.Context, labs []*Lab) []*Lab {
	cmds := make([]*redis.Cmd, len(labs))
	_, err := m.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range labs {
			// EVAL, not EVALSHA: a pipeline cannot fall back when the
			// script is not cached yet.
			cmds[i] = claimScript.Eval(ctx, p, []string{stream.LeaseKey(l.ID())}, m.instance, leaseTTL.Milliseconds())
			p.Expire(ctx, m.ownerKey(l.owner), m.dataTTL())
		}
		return nil
	})
	if err != nil {
		// Redis is away: keep the labs and try again at the next tick;
		// leases not renewed by then expire, and another instance
		// taking them is seen on the first renewal after Redis is back.
		m.log.Warn("renew lab leases", "err", err)
	}
	m.advertise(ctx)
	var lost []*Lab
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			continue
		}
		if holder, _ := res[0].(string); holder != "" {
			lost = append(lost, labs[i])
		}
	}
	return lost
}

// dropOwnerLocked forgets which sandbox the owner's lab is, as the lab
// is being deleted. It runs under the manager's lock, as Open does, so that
// no visit in between can take the closing lab up again: the next one
// starts a fresh lab.
func (m *Manager) dropOwnerLocked(l *Lab) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 2*time.Second)
	defer cancel()
	m.forgetOwner(ctx, l.owner, l.ID())
}

// forgetOwner deletes the owner's pointer to sandbox id, if it still
// points there.
func (m *Manager) forgetOwner(ctx context.Context, owner, id string) {
	if err := releaseScript.Run(ctx, m.rc, []string{m.ownerKey(owner)}, id).Err(); err != nil {
		m.log.Warn("forget the learner's lab", "sandbox", id, "err", err)
	}
}

// releaseLease gives up this instance's lease on sandbox id, if it holds it.
func (m *Manager) releaseLease(ctx context.Context, id string) {
	if err := releaseScript.Run(ctx, m.rc, []string{stream.LeaseKey(id)}, m.instance).Err(); err != nil {
		m.log.Warn("release lab lease", "sandbox", id, "err", err)
	}
}

// dataTTL is how long a lab's keys outlive the last instance looking after it.
func (m *Manager) dataTTL() time.Duration {
	if m.opt.Sandbox.DataTTL > 0 {
		return m.opt.Sandbox.DataTTL
	}
	return DefaultDataTTL
}

// advertise tells the other instances where this one can be reached, for
// as long as it renews its leases.
func (m *Manager) advertise(ctx context.Context) {
	if m.opt.Advertise == "" {
		return
	}
	if err := m.rc.Set(ctx, instanceKey(m.instance), m.opt.Advertise, leaseTTL).Err(); err != nil {
		m.log.Warn("advertise this instance", "err", err)
	}
}

// adoptEvery is how often an instance looks for labs no instance runs that
// still have work to finish; at most adoptBatch are taken up at a time.
const (
	adoptEvery = leaseTTL
	adoptBatch = 32
)

// adopt takes up the labs of this manager's scope that no instance runs (no
// lease: their instance died, or stopped with a backlog) while their
// streams still hold work: entries pending or never delivered. Their
// consumers then go on delivering though nobody asks for the lab — a
// learner who closed the tab still gets every welcome email. Instances
// race for a lab through its lease, so one takes it. A lab taken up here
// counts as used, so the idle sweep gives it the full idle timeout to
// finish in.
func (m *Manager) adopt() {
	ctx, cancel := context.WithTimeout(m.ctx, adoptEvery)
	defer cancel()
	var orphans []labOwner
	var ids []string
	err := redisdb.ScanKeys(ctx, m.rc, stream.LabKey("lab-*"), func(keys []string) error {
		leases := make([]*redis.IntCmd, len(keys))
		owners := make([]*redis.StringCmd, len(keys))
		_, err := m.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				leases[i] = p.Exists(ctx, stream.LeaseKey(stream.SandboxOf(k)))
				owners[i] = p.HGet(ctx, k, stateOwner)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, k := range keys {
			var o labOwner
			if leases[i].Val() > 0 || json.Unmarshal([]byte(owners[i].Val()), &o) != nil || o.Owner == "" || o.Scope != m.opt.Scope {
				continue
			}
			orphans, ids = append(orphans, o), append(ids, stream.SandboxOf(k))
		}
		return nil
	})
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("look for labs to take up", "err", err)
		}
		return
	}
	taken := 0
	for i, o := range orphans {
		if taken == adoptBatch || ctx.Err() != nil {
			return
		}
		if m.Lookup(o.Owner) != nil {
			continue
		}
		if id, _ := m.rc.Get(ctx, m.ownerKey(o.Owner)).Result(); id != ids[i] {
			continue // the learner has moved on to a fresh lab
		}
		st, err := stream.New(m.rc, ids[i]).ReadState(ctx, Groups)
		if err != nil || len(st.Open()) == 0 {
			continue
		}
		l, err := m.Resume(ctx, o.Owner, "")
		if err != nil {
			if _, elsewhere := IsElsewhere(err); !elsewhere {
				m.log.Warn("take up a lab with work left", "sandbox", ids[i], "err", err)
			}
			if errors.Is(err, ErrFull) {
				return
			}
			continue
		}
		l.touch()
		taken++
		m.log.Info("lab with work left taken up", "sandbox", ids[i])
	}
}
