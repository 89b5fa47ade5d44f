// Package redisdb is the one place that decides which Redis Crossroads talks
// to: an embedded, in-memory server when no URL is given, so a learner needs
// nothing installed, or a real Redis 7+ when REDIS_URL points at one.
//
// REDIS_URL may also name any node of a Redis Cluster (more seeds as
// addr=host:port parameters): Open asks the node and, when it is part of a
// cluster, returns a cluster client. Every key Crossroads writes carries a
// hash tag ({sandbox}, {ws:CODE}, {learner}), so what one sandbox, workshop
// or learner owns lives on one slot and their scripts run there.
//
// Everything above this package sees a go-redis UniversalClient and cannot
// tell the three apart.
package redisdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// MinMajorVersion is the oldest Redis major version the labs support: they
// rely on XAUTOCLAIM and the consumer-group fields of XINFO added in 7.0.
const MinMajorVersion = 7

// DB is an open Redis connection and, when embedded, the server behind it.
type DB struct {
	// Client is the pool the lab sandboxes share (Options.PoolSize; on a
	// cluster, per node).
	Client redis.UniversalClient
	// Pages is a small pool of its own for the web pages and the readiness
	// check (Options.PagesPoolSize), on the same server: a room whose lab
	// loads hold every connection of Client never makes a lesson, a decide
	// save or /readyz wait for one.
	Pages redis.UniversalClient
	// PoolSize and PagesPoolSize are the bounds of the two pools.
	PoolSize, PagesPoolSize int
	// Embedded is true when the server runs inside this process.
	Embedded bool
	// Version is the server version reported by INFO, or "" when embedded.
	Version string
	// Addr is host:port of the server (on a cluster, of the node asked).
	Addr string
	// Cluster is true when Addr is a node of a Redis Cluster.
	Cluster bool

	mini *miniredis.Miniredis
	// ln is the embedded server's listener. Crossroads accepts on it itself
	// (see acceptEmbedded) rather than letting miniredis do it, because
	// miniredis's accept loop returns for good on its first error.
	ln         net.Listener
	stopAccept chan struct{}
	acceptDone chan struct{}
	closeOnce  sync.Once
}

// Options tune Open; the zero value is ready to use.
type Options struct {
	// PingTimeout bounds the connection check against a real server.
	PingTimeout time.Duration
	// PoolSize bounds the connections of the client every lab sandbox
	// shares (0: go-redis's default, 10 per CPU; on a cluster, per node);
	// the pages have a pool of their own (PagesPoolSize). Pipelines use the same pool, and idle connections beyond a
	// quarter of it are closed as soon as they are put back, so a lab run's
	// burst does not linger (see pooled).
	PoolSize int
	// PagesPoolSize bounds DB.Pages (0: 8).
	PagesPoolSize int
}

// withPages opens db's pool for the pages beside its main client, with
// the options the main client was made from.
func (db *DB) withPages(opt Options, single *redis.Options, cluster *redis.ClusterOptions) *DB {
	size := opt.PagesPoolSize
	if size <= 0 {
		size = 8
	}
	db.PagesPoolSize = size
	if cluster != nil {
		o := *cluster
		db.Pages = NewClusterClient(poolCluster(&o, size))
		return db
	}
	o := *single
	db.Pages = NewClient(pooled(&o, Options{PoolSize: size}))
	return db
}

// pooled applies Options.PoolSize to o and returns it: one bound for every
// connection (no separate pipeline pool), and idle connections closed
// promptly — those beyond MaxIdleConns when put back, any other when taken
// after a minute unused.
func pooled(o *redis.Options, opt Options) *redis.Options {
	o.PoolSize = poolSize(opt.PoolSize)
	o.PipelinePoolSize = -1
	o.MaxIdleConns = max(2, o.PoolSize/4)
	o.ConnMaxIdleTime = time.Minute
	return o
}

// poolCluster is pooled for a cluster client, whose bound is per node.
func poolCluster(o *redis.ClusterOptions, size int) *redis.ClusterOptions {
	o.PoolSize = poolSize(size)
	o.PipelinePoolSize = -1
	o.MaxIdleConns = max(2, o.PoolSize/4)
	o.ConnMaxIdleTime = time.Minute
	return o
}

// poolSize is go-redis's default, 10 per CPU, unless size says otherwise.
func poolSize(size int) int {
	if size > 0 {
		return size
	}
	return 10 * runtime.GOMAXPROCS(0)
}

// ErrUnreachable marks an Open that failed because the server did not
// answer, as opposed to one that answered wrongly (a bad URL, a version too
// old): only the first is worth trying again.
var ErrUnreachable = errors.New("unreachable")

// Open connects to the Redis at url, or starts an embedded one when url is
// empty. A real server must answer PING within the timeout and report a
// version of at least 7.0.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	if opt.PingTimeout <= 0 {
		opt.PingTimeout = 3 * time.Second
	}
	if url == "" {
		return openEmbedded(opt)
	}
	return openURL(ctx, url, opt)
}

// NewClient returns a go-redis client with Crossroads' defaults on top of
// opt: every command gives up when its context does (a deadline from a
// request is honoured even when Redis hangs, instead of the socket's 5 s
// read timeout), and go-redis's own log lines go to slog at debug level.
func NewClient(opt *redis.Options) *redis.Client {
	quietGoRedis()
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt)
}

// NewClusterClient is NewClient for a Redis Cluster.
func NewClusterClient(opt *redis.ClusterOptions) *redis.ClusterClient {
	quietGoRedis()
	opt.ContextTimeoutEnabled = true
	return redis.NewClusterClient(opt)
}

var quietOnce sync.Once

// quietGoRedis sends go-redis's internal log (one "failed to dial" line per
// pool attempt, printed straight to stderr) to slog at debug level, so a
// user sees the one clear error Open returns and an operator can still ask
// for the detail with --log-level debug.
func quietGoRedis() {
	quietOnce.Do(func() { redis.SetLogger(slogLogger{}) })
}

// slogLogger is go-redis's internal.Logging on slog.
type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis", "log", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func openEmbedded(opt Options) (*DB, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start embedded redis: listen: %w", err)
	}
	m := miniredis.NewMiniRedis()
	// Dial on a server that has not started starts it without a listener
	// (connections come in through ServeConn); the pipe it returns is only
	// the way to get there and is closed at once.
	c, err := m.Dial()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	c.Close()
	o := pooled(&redis.Options{Addr: ln.Addr().String()}, opt)
	db := &DB{
		Client:     NewClient(o),
		PoolSize:   o.PoolSize,
		Embedded:   true,
		Addr:       ln.Addr().String(),
		mini:       m,
		ln:         ln,
		stopAccept: make(chan struct{}),
		acceptDone: make(chan struct{}),
	}
	go db.acceptEmbedded()
	return db.withPages(opt, o, nil), nil
}

// maxAcceptBackoff is the longest the embedded server waits between two
// failed accepts: short enough that Redis answers again within a second of
// file descriptors coming back, long enough not to spin while they are gone.
const maxAcceptBackoff = time.Second

// acceptEmbedded hands every connection on db.ln to the embedded server
// until DB.Close. miniredis's own loop stops for good on the first accept
// error, so one burst of "too many open files" under a lab load used to
// leave the process with no Redis (and /readyz 503) until restarted. Here
// an error is waited out with a growing pause, as net/http does, and the
// start and end of each bad spell are logged.
func (db *DB) acceptEmbedded() {
	defer close(db.acceptDone)
	srv := db.mini.Server()
	var (
		failures int
		since    time.Time
		pause    time.Duration
	)
	for {
		conn, err := db.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures == 0 {
				since = time.Now()
				slog.Warn("embedded redis cannot accept connections; retrying", "addr", db.Addr, "err", err)
			}
			failures++
			pause = min(max(2*pause, 5*time.Millisecond), maxAcceptBackoff)
			select {
			case <-db.stopAccept:
				return
			case <-time.After(pause):
			}
			continue
		}
		if failures > 0 {
			slog.Info("embedded redis accepts connections again", "addr", db.Addr,
				"failed_accepts", failures, "after", time.Since(since).Round(time.Millisecond))
			failures, pause = 0, 0
		}
		srv.ServeConn(conn)
	}
}

func openURL(ctx context.Context, url string, opt Options) (*DB, error) {
	// The first node is asked what it is; addr= seeds matter only when it
	// is part of a cluster.
	first, seeds, err := firstNode(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	o, err := redis.ParseURL(first)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	o.DialTimeout = opt.PingTimeout
	c := NewClient(pooled(o, opt))
	ctx, cancel := context.WithTimeout(ctx, opt.PingTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if strings.Contains(err.Error(), "SELECT is not allowed in cluster mode") {
			return nil, fmt.Errorf("REDIS_URL: redis at %s is a cluster node, which has database 0 only, not %d", o.Addr, o.DB)
		}
		return nil, fmt.Errorf("redis at %s is %w: %w", o.Addr, ErrUnreachable, err)
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s: read INFO server: %w", o.Addr, err)
	}
	// A server that cannot say (the embedded one, reached by a worker) is
	// not a cluster node.
	cluster, _ := c.Info(ctx, "cluster").Result()
	version := infoField(info, "redis_version")
	if err := checkVersion(version); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s: %w", o.Addr, err)
	}
	db := &DB{Client: c, PoolSize: o.PoolSize, Version: version, Addr: o.Addr}
	if infoField(cluster, "cluster_enabled") != "1" {
		if seeds {
			c.Close()
			return nil, fmt.Errorf("REDIS_URL: its addr= parameters name cluster nodes, but redis at %s is not part of a cluster", o.Addr)
		}
		return db.withPages(opt, o, nil), nil
	}
	c.Close()
	return openCluster(ctx, url, db, opt)
}

// firstNode returns raw without its addr= parameters, and whether it had any.
func firstNode(raw string) (string, bool, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", false, err
	}
	q := u.Query()
	seeds := q.Has("addr")
	q.Del("addr")
	u.RawQuery = q.Encode()
	return u.String(), seeds, nil
}

// openCluster replaces db's client, which found a cluster node at url, by a
// cluster client seeded with url's addresses, once the cluster says it can
// serve every slot.
func openCluster(ctx context.Context, url string, db *DB, opt Options) (*DB, error) {
	if o, _ := redis.ParseURL(url); o != nil && o.DB != 0 {
		return nil, fmt.Errorf("REDIS_URL: redis at %s is a cluster node, which has database 0 only, not %d", db.Addr, o.DB)
	}
	co, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	co.DialTimeout = opt.PingTimeout
	cc := NewClusterClient(poolCluster(co, opt.PoolSize))
	state, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("redis cluster at %s: read CLUSTER INFO: %w", db.Addr, err)
	}
	if s := infoField(state, "cluster_state"); s != "ok" {
		cc.Close()
		return nil, fmt.Errorf("redis cluster at %s is %w: its state is %q, not ok", db.Addr, ErrUnreachable, s)
	}
	db.Client, db.PoolSize, db.Cluster = cc, co.PoolSize, true
	return db.withPages(opt, nil, co), nil
}

// infoField returns the value of key in the text INFO prints.
func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

func checkVersion(v string) error {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return fmt.Errorf("cannot read its version %q", v)
	}
	if n < MinMajorVersion {
		return fmt.Errorf("version %s is older than %d.0, which the labs need", v, MinMajorVersion)
	}
	return nil
}

// Describe says in a few words which Redis is in use, for logs and the footer.
func (db *DB) Describe() string {
	if db.Embedded {
		return "embedded Redis — data is in memory"
	}
	if db.Cluster {
		return "Redis Cluster " + db.Version + " via " + db.Addr
	}
	return "Redis " + db.Version + " at " + db.Addr
}

// Ready reports whether the server answers PING, asked on the pages' pool
// so a busy lab cannot make a healthy Redis look down.
func (db *DB) Ready(ctx context.Context) error {
	c := db.Pages
	if c == nil {
		c = db.Client
	}
	return c.Ping(ctx).Err()
}

// Close closes the client and stops an embedded server: its listener
// first, so no connection arrives while miniredis closes the others.
func (db *DB) Close() error {
	err := db.Client.Close()
	if db.Pages != nil {
		db.Pages.Close()
	}
	if db.mini != nil {
		db.closeOnce.Do(func() {
			close(db.stopAccept)
			db.ln.Close()
			<-db.acceptDone
			db.mini.Close()
		})
	}
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}
