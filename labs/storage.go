package labs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultDataTTL is how long a sandbox's keys outlive its last sign of life
// unless Options.DataTTL says otherwise.
const DefaultDataTTL = 24 * time.Hour

// Storage is a sandbox's budget in Redis, checked before every run: the
// users it stores (with their addresses, effects and idempotency records),
// the entries its event stream holds and its dead letters. Each 10,000-signup
// run adds about 10 MB, so without a budget one learner could grow a shared
// Redis without limit.
type Storage struct {
	// Users is the most users kept, counting the run about to start
	// (default 20,000: two of the largest web runs).
	Users int64
	// Stream is the most entries the event stream may hold before a run
	// (default 20,000).
	Stream int64
	// Dead is the most dead letters kept (default 10,000).
	Dead int64
}

// DefaultStorage is the budget a sandbox has unless Options.Storage says
// otherwise.
var DefaultStorage = Storage{Users: 20_000, Stream: 20_000, Dead: 10_000}

func (s Storage) withDefaults() Storage {
	if s.Users <= 0 {
		s.Users = DefaultStorage.Users
	}
	if s.Stream <= 0 {
		s.Stream = DefaultStorage.Stream
	}
	if s.Dead <= 0 {
		s.Dead = DefaultStorage.Dead
	}
	return s
}

// ErrStorageFull is what a StorageError is: the sandbox is over its storage
// budget and cannot drop its old data yet.
var ErrStorageFull = errors.New("the lab is over its storage budget")

// StorageError says why a run could not start: the sandbox holds more than
// its budget allows and messages of earlier runs are still waiting, so their
// data cannot be dropped without breaking the async promises (no event lost,
// no email twice).
type StorageError struct {
	Users, Stream, Dead int64
	Budget              Storage
	// Waiting is how many groups still have messages pending or undelivered.
	Waiting int
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("your lab holds %d users, %d stream entries and %d dead letters, over its budget of %d users, %d entries and %d dead letters, "+
		"and earlier runs still have messages waiting; wait for them to finish (bring a downed service back) or reset the lab",
		e.Users, e.Stream, e.Dead, e.Budget.Users, e.Budget.Stream, e.Budget.Dead)
}

// Is makes errors.Is(err, ErrStorageFull) true.
func (e *StorageError) Is(target error) bool { return target == ErrStorageFull }

// makeRoom enforces the storage budget before a run of signups: when the
// sandbox would go over it, the data of earlier runs (users, their
// addresses and effects, the stream, dead letters and idempotency records)
// are dropped — but only when no message of theirs is still waiting, so no
// event can be redelivered after its idempotency records are gone. It
// returns how many users were dropped.
func (s *Sandbox) makeRoom(ctx context.Context, signups int) (int64, error) {
	u, err := s.store.Usage(ctx)
	if err != nil {
		return 0, err
	}
	b := s.opt.Storage
	if u.Users+int64(signups) <= b.Users && u.Stream <= b.Stream && u.Dead <= b.Dead {
		return 0, nil
	}
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	open, err := s.unfinishedGroups(ctx)
	if err != nil {
		return 0, err
	}
	if len(open) > 0 {
		return 0, &StorageError{Users: u.Users, Stream: u.Stream, Dead: u.Dead, Budget: b, Waiting: len(open)}
	}
	if err := s.store.DeleteAll(ctx); err != nil {
		return 0, fmt.Errorf("drop the data of earlier runs: %w", err)
	}
	if err := s.store.EnsureGroups(ctx, Groups...); err != nil {
		return 0, err
	}
	if err := s.keepData(ctx); err != nil {
		return 0, err
	}
	s.log.Info("storage budget: dropped the data of earlier runs", "users", u.Users, "stream", u.Stream, "dead", u.Dead)
	return u.Users, nil
}

// keepData gives every key of the sandbox its lifetime again.
func (s *Sandbox) keepData(ctx context.Context) error {
	if err := s.store.Keep(ctx, s.opt.DataTTL, Groups, Groups); err != nil {
		return fmt.Errorf("renew the lifetime of the sandbox's keys: %w", err)
	}
	return nil
}

// keepLoop renews the sandbox's keys while it lives, so that they only
// expire once no process looks after them any more.
func (s *Sandbox) keepLoop() {
	t := time.NewTicker(min(s.opt.DataTTL/4, keepEvery))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		if err := s.keepData(ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("keep sandbox data", "err", err)
		}
		cancel()
	}
}

// appended tells the consumers of every group that this process appended
// an entry to the stream, so an idle one reads it now rather than after
// its sleep.
func (s *Sandbox) appended() {
	for _, g := range s.groups {
		g.wake.signal()
	}
}
