package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redistest"
)

func TestDraftsKeepALearnersAnswersUntilDeleted(t *testing.T) {
	db := redistest.Open(t)
	d := NewDrafts(db.Client, nil)
	ctx := t.Context()
	learner := redistest.Sandbox(t, db.Client)

	_, found, err := d.Load(ctx, learner)
	require.NoError(t, err)
	assert.False(t, found, "nothing saved yet")

	want := Draft{Answers: Seed(), Reached: 3}
	require.NoError(t, d.Save(ctx, learner, want))
	got, found, err := d.Load(ctx, learner)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, want.Reached, got.Reached)
	assert.Equal(t, want.Answers, got.Answers)
	ttl, err := db.Client.TTL(ctx, draftKey(learner)).Result()
	require.NoError(t, err)
	assert.InDelta(t, DraftTTL.Seconds(), ttl.Seconds(), 60, "kept for DraftTTL after the last change")

	_, found, err = d.Load(ctx, learner+"-other")
	require.NoError(t, err)
	assert.False(t, found, "another learner's draft is theirs")

	require.NoError(t, d.Delete(ctx, learner))
	_, found, err = d.Load(ctx, learner)
	require.NoError(t, err)
	assert.False(t, found)
}

func TestADraftTooLargeIsRefusedAndAnUnreadableOneIsNone(t *testing.T) {
	db := redistest.Open(t)
	d := NewDrafts(db.Client, nil)
	ctx := t.Context()
	learner := redistest.Sandbox(t, db.Client)

	require.NoError(t, d.Save(ctx, learner, Draft{Answers: Seed(), Reached: 1}))
	big := Seed()
	big.Context = strings.Repeat("Long context. ", MaxDraftBytes/10)
	err := d.Save(ctx, learner, Draft{Answers: big})
	require.ErrorIs(t, err, ErrDraftTooLarge)
	got, found, err := d.Load(ctx, learner)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, Seed(), got.Answers, "the answers saved before are kept")

	require.NoError(t, db.Client.Set(ctx, draftKey(learner), "{not json", time.Minute).Err())
	_, found, err = d.Load(ctx, learner)
	require.NoError(t, err, "a draft this version cannot read does not lock the learner out")
	assert.False(t, found)
}
