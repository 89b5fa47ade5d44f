package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/workshops"
)

// A live view whose draw failed (Redis slow under a room's load) tries
// again within a second, without waiting for another change or the
// 10-second tick: the change it missed may be the last for a while.
func TestALiveViewRetriesAFailedDrawSoon(t *testing.T) {
	e := newWorkshopServer(t, workshops.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("GET", "/workshops/ACDEFG/board/events", nil).WithContext(ctx)
	c.Set(learnerKey, newLearnerID())
	var draws atomic.Int32
	start := time.Now()
	var second time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.s.workshopStream(c, "ACDEFG", func(string) bool { return true }, func(context.Context) (string, string, error) {
			switch draws.Add(1) {
			case 1:
				return "", "", errors.New("redis is slow")
			case 2:
				second = time.Since(start)
				cancel() // one good draw is all this test needs
				return "board", "drawn", nil
			}
			return "board", "drawn", nil
		})
	}()
	<-done
	require.GreaterOrEqual(t, draws.Load(), int32(2), "the failed draw was tried again")
	assert.Less(t, second, 2*time.Second, "within about a second, not at the 10 s tick")
	assert.True(t, strings.Contains(rec.Body.String(), "data: drawn"), rec.Body.String())
}
