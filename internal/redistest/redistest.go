// Package redistest gives tests a Redis to run against: the real server named
// by REDIS_URL when it is set (as CI does), otherwise a fresh embedded one, so
// every Redis-touching test keeps both backends honest.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossroads-learn/crossroads/internal/redisdb"
)

// Open returns a connection for one test and closes it when the test ends.
// With REDIS_URL set, an unreachable server fails the test rather than
// skipping it: a missing dependency must never pass silently.
func Open(t testing.TB) *redisdb.DB {
	t.Helper()
	db, err := redisdb.Open(context.Background(), os.Getenv("REDIS_URL"), redisdb.Options{})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Real reports whether tests run against a real server (REDIS_URL is set).
func Real() bool { return os.Getenv("REDIS_URL") != "" }

// Sandbox returns a fresh, unguessable id for keys of the form cr:{id}:...
// On a real server, shared by every package under test, the keys under it are
// deleted when the test ends.
func Sandbox(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	id := "t" + hex.EncodeToString(b)
	t.Cleanup(func() { DeleteKeys(c, "cr:{"+id+"}:*") })
	return id
}

// DeleteKeys removes every key matching pattern, a batch at a time.
func DeleteKeys(c redis.UniversalClient, pattern string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	redisdb.DeleteKeys(ctx, c, pattern)
}

// Server is a redis-server process owned by one test, for tests that must
// restart or kill Redis itself.
type Server struct {
	Addr string
	Dir  string
	args []string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartServer starts redis-server on a free loopback port with extra config
// arguments (such as "--appendonly", "yes"). Without the binary the test is
// skipped, or failed when CI=true.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server is not installed (CI=true requires it): %v", err)
		}
		t.Skip("redistest: redis-server is not installed; apt-get install redis-server to run this test")
	}
	port := freePort(t)
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:  t.TempDir(),
		t:    t,
	}
	s.args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", s.Dir,
		"--save", "", "--protected-mode", "no"}, args...)
	s.args = append([]string{bin}, s.args...)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the process and waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stdout, _ = os.Create(filepath.Join(s.Dir, "redis.log"))
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the process (like a crash: nothing is flushed beyond what its
// persistence settings already wrote) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// URL is the redis:// address of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartCluster starts a one-node Redis Cluster (a redis-server in cluster
// mode serving every slot) and waits until its state is ok: enough to prove
// that the code routes by slot, keeps each script's keys on one slot and
// scans the node that holds them. CI also runs the suites on a three-node
// cluster through REDIS_URL.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	s := StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("redistest: give the cluster node every slot: %v", err)
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("redistest: the one-node cluster on %s never became ok: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
