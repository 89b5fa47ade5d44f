package labs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthyAsyncRunProcessesEverySignupOnce(t *testing.T) {
	sb := newSandbox(t, fastSettings(ModeAsync))
	res, err := sb.Run(testCtx(t, 30*time.Second), LoadSpec{Signups: 200, Concurrency: 16, DrainTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Logf("%+v", res)
	assert.EqualValues(t, 200, res.SignupsSucceeded)
	assert.EqualValues(t, 200, res.EmailsSent)
	assert.EqualValues(t, 200, res.AnalyticsEvents)
	assert.Zero(t, res.EmailDuplicates)
	assert.Zero(t, res.Lost)
	assert.True(t, res.Drained)
}
