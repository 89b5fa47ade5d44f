package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/labs/stream"
)

// benchRedis is the Redis a benchmark runs against: a private redis-server
// this process started (stop ends it) or the server --redis-url names.
type benchRedis struct {
	URL     string
	Version string
	Private bool
	cmd     *exec.Cmd
	dir     string

	auditOnce sync.Once
	audit     *redis.Client // for totals; closed by stop
}

// openRedis starts a private redis-server unless rawURL names one. A named
// server must be on loopback: a benchmark never sends load elsewhere.
func openRedis(ctx context.Context, rawURL string) (*benchRedis, error) {
	if rawURL != "" {
		if err := checkLoopback(rawURL); err != nil {
			return nil, err
		}
		r := &benchRedis{URL: rawURL}
		return r, r.readVersion(ctx)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("no --redis-url and no redis-server on PATH to start a private one: %w", err)
	}
	dir, err := os.MkdirTemp("", "crossroads-bench-redis-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for redis-server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// No persistence: the figures are about the protocol, not the disk.
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &benchRedis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Private: true, cmd: cmd, dir: dir}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := r.readVersion(ctx)
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("private redis-server did not answer within 5 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--redis-url %s: benchmarks only talk to loopback (127.0.0.0/8, ::1, localhost)", host)
}

func (r *benchRedis) readVersion(ctx context.Context) error {
	c, err := r.client(4)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("ask Redis its version: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			r.Version = v
		}
	}
	return nil
}

// client opens a client with a pool of pool connections.
func (r *benchRedis) client(pool int) (*redis.Client, error) {
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, fmt.Errorf("parse Redis URL: %w", err)
	}
	opt.PoolSize = pool
	return redis.NewClient(opt), nil
}

// store is sandbox sb's records, read through the bench's own audit client.
func (r *benchRedis) store(sb string) (*stream.Store, error) {
	r.auditOnce.Do(func() { r.audit, _ = r.client(4) })
	if r.audit == nil {
		return nil, fmt.Errorf("parse Redis URL %s", r.URL)
	}
	return stream.New(r.audit, sb), nil
}

// totals audits a lab sandbox's records in Redis, as the app does at the
// end of a run: users, emails sent for them, duplicates, unfinished events.
func (r *benchRedis) totals(ctx context.Context, sb string) (stream.Totals, error) {
	s, err := r.store(sb)
	if err != nil {
		return stream.Totals{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.Totals(ctx, "email", "analytics")
}

// settled reports whether sandbox sb's groups have nothing pending and
// nothing undelivered (a cheap look; Totals reads every user), and about how
// many email entries are still to handle.
func (r *benchRedis) settled(ctx context.Context, sb string) (bool, int64, error) {
	s, err := r.store(sb)
	if err != nil {
		return false, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.ReadState(ctx, []string{"email", "analytics"})
	if err != nil {
		return false, 0, err
	}
	var left int64
	for _, g := range st.Groups {
		if g.Name == "email" {
			left = g.Pending + g.Lag
		}
	}
	return len(st.Groups) > 0 && len(st.Open()) == 0, left, nil
}

func (r *benchRedis) stop() {
	if r.audit != nil {
		r.audit.Close()
	}
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			r.cmd.Process.Kill()
			<-done
		}
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// deleteKeys removes every key matching pattern, a batch at a time, so a
// run on a shared server leaves nothing behind.
func deleteKeys(ctx context.Context, c *redis.Client, pattern string) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("delete bench keys: %w", err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan bench keys: %w", err)
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}
