package redisdb_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
	"github.com/crossroads-learn/crossroads/internal/redistest"
)

// REDIS_URL naming a cluster node gives a cluster client, which routes each
// key to its slot; scans and deletes by pattern reach the keys wherever
// they live.
func TestOpenFindsAClusterAndScansItsNodes(t *testing.T) {
	srv := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := redisdb.Open(ctx, "redis://"+srv.Addr, redisdb.Options{PoolSize: 3})
	require.NoError(t, err)
	defer db.Close()
	assert.True(t, db.Cluster)
	assert.Contains(t, db.Describe(), "Redis Cluster")
	assert.IsType(t, &redis.ClusterClient{}, db.Client)
	assert.IsType(t, &redis.ClusterClient{}, db.Pages)
	assert.Equal(t, 3, db.PoolSize)

	// One sandbox's keys share a tag; other keys spread over many slots.
	for i := range 20 {
		require.NoError(t, db.Client.Set(ctx, fmt.Sprintf("cr:{sb1}:k%d", i), i, time.Minute).Err())
		require.NoError(t, db.Client.Set(ctx, fmt.Sprintf("cr:{sb%d}:k", i+2), i, time.Minute).Err())
	}
	var tagged []string
	require.NoError(t, redisdb.ScanKeys(ctx, db.Client, "cr:{sb1}:*", func(keys []string) error {
		tagged = append(tagged, keys...)
		return nil
	}))
	assert.Len(t, tagged, 20)
	var all []string
	require.NoError(t, redisdb.ScanKeys(ctx, db.Client, "cr:*", func(keys []string) error {
		all = append(all, keys...)
		return nil
	}))
	assert.Len(t, all, 40)

	require.NoError(t, redisdb.DeleteKeys(ctx, db.Client, "cr:{sb1}:*"))
	require.NoError(t, redisdb.DeleteKeys(ctx, db.Client, "cr:{sb*"), "keys of many slots are deleted one by one")
	all = all[:0]
	require.NoError(t, redisdb.ScanKeys(ctx, db.Client, "cr:*", func(keys []string) error {
		all = append(all, keys...)
		return nil
	}))
	sort.Strings(all)
	assert.Empty(t, all)
}

// A cluster has database 0 only, and addr= seeds make sense only for one.
func TestOpenRefusesWhatAClusterCannotBe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cluster := redistest.StartCluster(t)
	_, err := redisdb.Open(ctx, "redis://"+cluster.Addr+"/3", redisdb.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database 0 only")

	single := redistest.StartServer(t)
	_, err = redisdb.Open(ctx, "redis://"+single.Addr+"?addr=127.0.0.1:1", redisdb.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not part of a cluster")
}
