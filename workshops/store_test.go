package workshops

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// newStore returns a store whose workshops are deleted when the test ends,
// counting workshops under an index of its own.
func newStore(t *testing.T, opt Options) *Store {
	t.Helper()
	db := redistest.Open(t)
	opt.Index = "cr:test-workshops:" + t.Name()
	s := NewStore(db.Client, opt)
	t.Cleanup(func() { DeleteAll(s) })
	return s
}

func plan() Plan {
	return Plan{Title: "  Sync or async?\tTeam day ", Agenda: []Item{
		{Kind: KindChapter, Ref: "synchronous-reality", Title: "The synchronous reality"},
		{Kind: KindScenario, Ref: "email-down", Title: "Email is down"},
		{Kind: KindDecide, Title: "Decide"},
	}}
}

func TestCreateGivesACodeAndAFacilitatorToken(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, token, err := s.Create(ctx, plan())
	require.NoError(t, err)
	code, ok := NormalizeCode(w.Code)
	require.True(t, ok, "the code %q reads back", w.Code)
	assert.Equal(t, w.Code, code)
	assert.Len(t, token, 43, "256 bits, URL-safe base64")
	assert.Equal(t, "Sync or async? Team day", w.Title, "title normalised")
	assert.Equal(t, -1, w.Current)

	got, err := s.Get(ctx, w.Code)
	require.NoError(t, err)
	assert.Equal(t, w, got, "read back whole")

	_, err = s.Authorize(ctx, w.Code, token)
	require.NoError(t, err)
	for _, bad := range []string{"", "x", token[:42], token + "x"} {
		_, err = s.Authorize(ctx, w.Code, bad)
		assert.ErrorIs(t, err, ErrForbidden, "token %q", bad)
	}
	_, err = s.Authorize(ctx, "AAAAAA", token)
	assert.ErrorIs(t, err, ErrNotFound)
	raw, err := s.c.HGet(ctx, key(w.Code, "workshop"), "token").Result()
	require.NoError(t, err)
	assert.NotContains(t, raw, token, "only the token's hash is stored")

	ttl, err := s.c.PTTL(ctx, key(w.Code, "workshop")).Result()
	require.NoError(t, err)
	assert.InDelta(t, (7 * 24 * time.Hour).Seconds(), ttl.Seconds(), 60, "expires with the workshop")
}

func TestCreateRefusesBadPlans(t *testing.T) {
	s := newStore(t, Options{})
	long := ""
	for range MaxTitle + 1 {
		long += "x"
	}
	for _, tc := range []struct {
		plan  Plan
		field string
	}{
		{Plan{Title: " \t ", Agenda: plan().Agenda}, "title"},
		{Plan{Title: long, Agenda: plan().Agenda}, "title"},
		{Plan{Title: "T"}, "agenda"},
		{Plan{Title: "T", Agenda: []Item{{Kind: "quiz", Ref: "x"}}}, "agenda"},
		{Plan{Title: "T", Agenda: []Item{{Kind: KindChapter}}}, "agenda"},
		{Plan{Title: "T", Agenda: make([]Item, MaxAgenda+1)}, "agenda"},
	} {
		_, _, err := s.Create(t.Context(), tc.plan)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, "%+v", tc.plan)
		assert.Equal(t, tc.field, fe.Field)
	}
}

func TestDeleteRemovesEverything(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	_, _, err = s.Join(ctx, w.Code, "a", "A")
	require.NoError(t, err)
	require.NoError(t, s.RaiseHand(ctx, w.Code, "a"))
	require.NoError(t, s.Visit(ctx, w.Code, "a", 0))
	require.NoError(t, s.Delete(ctx, w.Code))
	for _, p := range keyParts {
		n, err := s.c.Exists(ctx, key(w.Code, p)).Result()
		require.NoError(t, err)
		assert.Zero(t, n, p)
	}
	codes, err := s.Codes(ctx)
	require.NoError(t, err)
	assert.NotContains(t, codes, w.Code)
}

func TestCreateIsBoundedPerServer(t *testing.T) {
	s := newStore(t, Options{MaxWorkshops: 2})
	for range 2 {
		_, _, err := s.Create(t.Context(), plan())
		require.NoError(t, err)
	}
	_, _, err := s.Create(t.Context(), plan())
	assert.ErrorIs(t, err, ErrTooMany)
}

func TestJoinRenameLeave(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)

	p, isNew, err := s.Join(ctx, w.Code, "learner-a", "  Ada\u200b  Lovelace ")
	require.NoError(t, err)
	assert.True(t, isNew)
	assert.Equal(t, "Ada Lovelace", p.Name, "spaces collapsed, invisible characters dropped")
	assert.Equal(t, -1, p.At)
	assert.False(t, p.JoinedAt.IsZero())

	again, isNew, err := s.Join(ctx, w.Code, "learner-a", "Ada")
	require.NoError(t, err)
	assert.False(t, isNew, "joining again renames")
	assert.Equal(t, "Ada", again.Name)
	assert.Equal(t, p.JoinedAt, again.JoinedAt)

	_, _, err = s.Join(ctx, w.Code, "learner-b", "Grace")
	require.NoError(t, err)
	ps, err := s.Participants(ctx, w.Code)
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "Ada", ps[0].Name, "in the order they joined")

	require.NoError(t, s.Leave(ctx, w.Code, "learner-a"))
	_, err = s.Participant(ctx, w.Code, "learner-a")
	assert.ErrorIs(t, err, ErrNotJoined)
	ps, err = s.Participants(ctx, w.Code)
	require.NoError(t, err)
	assert.Len(t, ps, 1)

	for _, bad := range []string{"", "   ", "\u200b", string(make([]byte, 200))} {
		_, _, err := s.Join(ctx, w.Code, "learner-c", bad)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, "name %q", bad)
		assert.Equal(t, "name", fe.Field)
	}
	_, _, err = s.Join(ctx, "AAAAAA", "learner-c", "Cy")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestJoinRespectsLockCloseAndCapacity(t *testing.T) {
	s := newStore(t, Options{MaxParticipants: 3})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)

	// Ten join at once; three get in.
	var wg sync.WaitGroup
	var mu sync.Mutex
	joined, full := 0, 0
	for i := range 10 {
		wg.Go(func() {
			_, _, err := s.Join(ctx, w.Code, fmt.Sprintf("l%d", i), fmt.Sprintf("P%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				joined++
			case errors.Is(err, ErrFull):
				full++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 3, joined)
	assert.Equal(t, 7, full)

	require.NoError(t, s.Leave(ctx, w.Code, "l0"))
	require.NoError(t, s.SetLocked(ctx, w.Code, true))
	_, _, err = s.Join(ctx, w.Code, "newcomer", "New")
	assert.ErrorIs(t, err, ErrLocked)
	ps, err := s.Participants(ctx, w.Code)
	require.NoError(t, err)
	_, _, err = s.Join(ctx, w.Code, ps[0].Learner, "Renamed")
	assert.NoError(t, err, "someone already in may rename while joining is locked")

	require.NoError(t, s.SetLocked(ctx, w.Code, false))
	require.NoError(t, s.Close(ctx, w.Code))
	_, _, err = s.Join(ctx, w.Code, "newcomer", "New")
	assert.ErrorIs(t, err, ErrClosed)
	got, err := s.Get(ctx, w.Code)
	require.NoError(t, err)
	assert.True(t, got.Closed)
}

func TestJoinsAreRateLimitedPerWorkshop(t *testing.T) {
	s := newStore(t, Options{JoinsPerMinute: 5})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	var busy int
	for i := range 8 {
		if _, _, err := s.Join(ctx, w.Code, fmt.Sprintf("l%d", i), "P"); errors.Is(err, ErrBusy) {
			busy++
		} else {
			require.NoError(t, err)
		}
	}
	assert.Equal(t, 3, busy)
}

func TestHandsVisitsAndMoves(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	for _, l := range []string{"a", "b", "c"} {
		_, _, err := s.Join(ctx, w.Code, l, "Name "+l)
		require.NoError(t, err)
	}
	assert.ErrorIs(t, s.RaiseHand(ctx, w.Code, "stranger"), ErrNotJoined)
	require.NoError(t, s.RaiseHand(ctx, w.Code, "c"))
	time.Sleep(2 * time.Millisecond)
	require.NoError(t, s.RaiseHand(ctx, w.Code, "a"))
	time.Sleep(2 * time.Millisecond)
	require.NoError(t, s.RaiseHand(ctx, w.Code, "c"), "raising again keeps the place")
	ps, err := s.Participants(ctx, w.Code)
	require.NoError(t, err)
	q := HelpQueue(ps)
	require.Len(t, q, 2)
	assert.Equal(t, []string{"c", "a"}, []string{q[0].Learner, q[1].Learner}, "oldest first")

	require.NoError(t, s.OnMyWay(ctx, w.Code, "c"))
	assert.ErrorIs(t, s.OnMyWay(ctx, w.Code, "b"), ErrNotJoined, "b's hand is down")
	p, err := s.Participant(ctx, w.Code, "c")
	require.NoError(t, err)
	assert.True(t, p.OnMyWay)
	require.NoError(t, s.LowerHand(ctx, w.Code, "c"))
	p, err = s.Participant(ctx, w.Code, "c")
	require.NoError(t, err)
	assert.False(t, p.HandUp())
	assert.False(t, p.OnMyWay)

	require.NoError(t, s.Visit(ctx, w.Code, "b", 1))
	p, err = s.Participant(ctx, w.Code, "b")
	require.NoError(t, err)
	assert.Equal(t, 1, p.At)
	assert.False(t, p.SeenAt.IsZero())
	assert.ErrorIs(t, s.Visit(ctx, w.Code, "stranger", 1), ErrNotJoined)

	require.NoError(t, s.Move(ctx, w.Code, 2))
	got, err := s.Get(ctx, w.Code)
	require.NoError(t, err)
	it, ok := got.CurrentItem()
	require.True(t, ok)
	assert.Equal(t, KindDecide, it.Kind)
	var fe *FieldError
	assert.ErrorAs(t, s.Move(ctx, w.Code, 3), &fe)
	assert.ErrorIs(t, s.Move(ctx, "AAAAAA", 0), ErrNotFound)

	require.NoError(t, s.SetPaused(ctx, w.Code, true))
	got, err = s.Get(ctx, w.Code)
	require.NoError(t, err)
	assert.True(t, got.Paused)
}

// Every change is announced on the workshop's channel, which any instance
// may listen to.
func TestChangesAreAnnounced(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	sub := s.Subscribe(ctx, w.Code)
	defer sub.Close()
	_, err = sub.Receive(ctx) // the subscription is in place
	require.NoError(t, err)
	_, _, err = s.Join(ctx, w.Code, "a", "A")
	require.NoError(t, err)
	require.NoError(t, s.RaiseHand(ctx, w.Code, "a"))
	require.NoError(t, s.Move(ctx, w.Code, 0))
	var got []string
	for len(got) < 3 {
		select {
		case m := <-sub.Channel():
			got = append(got, m.Payload)
		case <-time.After(5 * time.Second):
			t.Fatalf("announced %v, then nothing", got)
		}
	}
	assert.Equal(t, []string{"people", "hands a", "move"}, got)
}

// A workshop that expired is gone for every action: nothing writes keys
// that would outlive it.
func TestExpiredWorkshopIsGone(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	_, _, err = s.Join(ctx, w.Code, "a", "A")
	require.NoError(t, err)
	require.NoError(t, s.c.Del(ctx, key(w.Code, "workshop")).Err())
	_, err = s.Get(ctx, w.Code)
	assert.ErrorIs(t, err, ErrNotFound)
	_, _, err = s.Join(ctx, w.Code, "b", "B")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.RaiseHand(ctx, w.Code, "a"), ErrNotFound)
	n, err := s.c.Exists(ctx, key(w.Code, "hands")).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"ac-d e3 4": "ACDE34", "acde34": "ACDE34", "ACDE3": "", "ACDE3O": "", "ACDE345": ""} {
		got, ok := NormalizeCode(in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, want != "", ok, in)
	}
	seen := map[string]bool{}
	for range 1000 {
		c := newCode()
		_, ok := NormalizeCode(c)
		require.True(t, ok, c)
		seen[c] = true
	}
	assert.Greater(t, len(seen), 990, "codes are drawn at random")
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"  a  b ":          "a b",
		"e\u0301":          "é",
		"x\u202ey":         "xy",
		"tab\tand\nline":   "tab and line",
		"=cmd|' /C calc'!": "=cmd|' /C calc'!", // kept as typed; exports guard it
	} {
		assert.Equal(t, want, CleanText(in, 40), "%q", in)
	}
	assert.Equal(t, "abc", CleanText("abcdef", 3))
	assert.Equal(t, "ab", CleanText("ab cd", 3), "no trailing space at the cut")
}

func TestPredictionsOutcomesAndTheLearnersWorkshop(t *testing.T) {
	s := newStore(t, Options{})
	ctx := t.Context()
	w, _, err := s.Create(ctx, plan())
	require.NoError(t, err)
	code, err := s.WorkshopOf(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, code, "not in a workshop yet")
	for _, l := range []string{"a", "b", "c"} {
		_, _, err := s.Join(ctx, w.Code, l, "N"+l)
		require.NoError(t, err)
	}
	code, err = s.WorkshopOf(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, w.Code, code)

	require.NoError(t, s.RecordPrediction(ctx, w.Code, "a", "email-down", 0))
	require.NoError(t, s.RecordPrediction(ctx, w.Code, "b", "email-down", 2))
	require.NoError(t, s.RecordPrediction(ctx, w.Code, "b", "email-down", 1), "predicting again replaces")
	require.NoError(t, s.RecordOutcome(ctx, w.Code, "a", "email-down", true, []byte(`[{"label":"x"}]`)))
	require.NoError(t, s.RecordOutcome(ctx, w.Code, "b", "email-down", false, []byte(`[]`)))
	assert.ErrorIs(t, s.RecordPrediction(ctx, w.Code, "stranger", "email-down", 0), ErrNotJoined)

	room, err := s.Room(ctx, w.Code, []string{"email-down", "baseline"})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 0, "b": 1}, room["email-down"].Predictions)
	assert.Equal(t, map[string]bool{"a": true, "b": false}, room["email-down"].Outcomes)
	assert.JSONEq(t, `[{"label":"x"}]`, string(room["email-down"].Figures["a"]))

	var fe *FieldError
	require.ErrorAs(t, s.StartRoomRun(ctx, w.Code, "baseline"), &fe, "not on the agenda")
	require.NoError(t, s.StartRoomRun(ctx, w.Code, "email-down"))
	got, err := s.Get(ctx, w.Code)
	require.NoError(t, err)
	assert.Equal(t, "email-down", got.RoomRun)
	assert.False(t, got.RoomRunAt.IsZero())
	assert.Empty(t, room["baseline"].Predictions)

	require.NoError(t, s.Leave(ctx, w.Code, "a"))
	code, err = s.WorkshopOf(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, code, "leaving forgets it")

	require.NoError(t, s.Delete(ctx, w.Code))
	n, err := s.c.Exists(ctx, key(w.Code, "predict:email-down"), key(w.Code, "outcome:email-down"), key(w.Code, "figures:email-down")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a deleted workshop keeps no predictions")
}
