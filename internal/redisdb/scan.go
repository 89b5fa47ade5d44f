package redisdb

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanBatch is how many keys one SCAN step asks for and one call of fn gets.
const scanBatch = 500

// ScanKeys calls fn with the keys matching pattern, up to 500 at a time,
// until they are all seen or fn fails. On a Redis Cluster a pattern whose
// hash tag is fixed ("cr:{sb}:*") is scanned on the one node serving that
// slot, any other pattern on every primary: SCAN, unlike a key's command,
// is not routed by go-redis.
func ScanKeys(ctx context.Context, c redis.UniversalClient, pattern string, fn func(keys []string) error) error {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return scanNode(ctx, c, pattern, fn)
	}
	if tag, fixed := hashTag(pattern); fixed {
		node, err := cc.MasterForKey(ctx, tag)
		if err != nil {
			return fmt.Errorf("find the node for %s: %w", pattern, err)
		}
		return scanNode(ctx, node, pattern, fn)
	}
	var mu sync.Mutex // fn is called from one node's scan at a time
	return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return scanNode(ctx, node, pattern, func(keys []string) error {
			mu.Lock()
			defer mu.Unlock()
			return fn(keys)
		})
	})
}

// DeleteKeys removes every key matching pattern (see ScanKeys), a batch at
// a time, each batch on its own node's slot.
func DeleteKeys(ctx context.Context, c redis.UniversalClient, pattern string) error {
	return ScanKeys(ctx, c, pattern, func(keys []string) error {
		if _, fixed := hashTag(pattern); fixed {
			return c.Del(ctx, keys...).Err()
		}
		// Keys of several slots cannot go in one DEL on a cluster; a
		// pipeline of single DELs is routed key by key.
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, k)
			}
			return nil
		})
		return err
	})
}

func scanNode(ctx context.Context, c redis.UniversalClient, pattern string, fn func(keys []string) error) error {
	iter := c.Scan(ctx, 0, pattern, scanBatch).Iterator()
	batch := make([]string, 0, scanBatch)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == scanBatch {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", pattern, err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// hashTag returns the part of pattern that decides its keys' slot, as Redis
// Cluster reads it ("{...}", the first non-empty braces), and whether it is
// fixed: no glob character before or inside it.
func hashTag(pattern string) (string, bool) {
	open := strings.IndexByte(pattern, '{')
	if open < 0 {
		return "", false
	}
	end := strings.IndexByte(pattern[open+1:], '}')
	if end <= 0 {
		return "", false
	}
	tagged := pattern[:open+1+end+1]
	if strings.ContainsAny(tagged, "*?[]\\") {
		return "", false
	}
	return tagged, true
}
