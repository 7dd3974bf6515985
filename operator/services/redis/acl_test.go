package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

var (
	privateOnce  sync.Once
	privateRedis *testenv.Redis
)

// privateSetup is setup on a Redis of this package's own: the attacker's tests
// run FLUSHALL, SCRIPT FLUSH, SHUTDOWN and the like as a tenant, and a
// regression that lets one through must not wipe a server other packages share.
func privateSetup(t *testing.T) (*Provisioner, *testenv.Redis) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Redis server of its own (-short)")
	}
	privateOnce.Do(func() { privateRedis = testenv.StartPrivateRedis(t) })
	p, err := New(privateRedis.AdminURL)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, privateRedis
}

// TestProvisioner_TenantCannotReachAnotherTenant is tenant A attacking tenant B
// on the same server: every command that reaches beyond A's prefix (B's keys,
// B's channels, every key's name, functions and scripts every tenant shares, the
// server itself) is refused, and B's data, library, script and connection are
// intact afterwards.
func TestProvisioner_TenantCannotReachAnotherTenant(t *testing.T) {
	p, r := privateSetup(t)
	ctx := context.Background()
	admin := r.Client(t)
	a := appClient(t, ensure(t, p, instance("tenant-a"), nil))
	bCreds := ensure(t, p, instance("tenant-b"), nil)
	b := appClient(t, bCreds)
	const bk, ak = "plattr:test-tenant-b:", "plattr:test-tenant-a:"

	// B's data of every type, a function library and a cached script (loaded as
	// admin: B may not manage functions either), and a connection of B's.
	require.NoError(t, b.Set(ctx, bk+"s", "b-secret", 0).Err())
	require.NoError(t, b.HSet(ctx, bk+"h", "f", "v").Err())
	require.NoError(t, b.RPush(ctx, bk+"l", "3", "1").Err())
	require.NoError(t, b.SAdd(ctx, bk+"set", "m").Err())
	require.NoError(t, b.XAdd(ctx, &goredis.XAddArgs{Stream: bk + "x", Values: []string{"k", "v"}}).Err())
	const lib = "plattr_test_tenant_b"
	require.NoError(t, admin.Do(ctx, "FUNCTION", "LOAD", "REPLACE",
		"#!lua name="+lib+"\nredis.register_function('b_get', function(keys, args) return redis.call('GET', keys[1]) end)").Err())
	t.Cleanup(func() { admin.Do(context.Background(), "FUNCTION", "DELETE", lib) })
	sha, err := admin.ScriptLoad(ctx, "return 'b'").Result()
	require.NoError(t, err)
	bConn := b.Conn()
	t.Cleanup(func() { bConn.Close() })
	bID, err := bConn.ClientID(ctx).Result()
	require.NoError(t, err)
	bACL := getUser(t, admin, "plattr:test-tenant-b")

	// A's own keys, for the commands that reach beyond the prefix through an
	// argument (another database, a pattern) rather than a key name.
	require.NoError(t, a.Set(ctx, ak+"s", "a", 0).Err())
	require.NoError(t, a.RPush(ctx, ak+"l", "2", "1").Err())
	require.NoError(t, a.Set(ctx, ak+"w_1", "1", 0).Err())

	const noperm = "NOPERM"
	refused := []struct {
		args   []any
		want   string
		reason string
	}{
		{[]any{"SCAN", "0"}, noperm, "lists every tenant's key names"},
		{[]any{"SCAN", "0", "MATCH", bk + "*"}, noperm, "MATCH filters after the walk: still every name"},
		{[]any{"KEYS", "*"}, noperm, "every tenant's key names"},
		{[]any{"RANDOMKEY"}, noperm, "samples other tenants' key names"},
		{[]any{"DBSIZE"}, noperm, "counts every tenant's keys"},
		{[]any{"FUNCTION", "LIST", "WITHCODE"}, noperm, "B's library code"},
		{[]any{"FUNCTION", "DUMP"}, noperm, "B's library, serialised"},
		{[]any{"FUNCTION", "STATS"}, noperm, "what runs on the server"},
		{[]any{"FUNCTION", "LOAD", "#!lua name=" + lib + "_a\nredis.register_function('a_f', function() return 1 end)"}, noperm, "libraries share one namespace: A could take B's names"},
		{[]any{"FUNCTION", "DELETE", lib}, noperm, "B's library"},
		{[]any{"FUNCTION", "FLUSH"}, noperm, "every tenant's libraries"},
		{[]any{"FUNCTION", "RESTORE", "x"}, noperm, "replaces libraries"},
		{[]any{"FCALL", "b_get", "1", bk + "s"}, noperm, "B's function"},
		{[]any{"FCALL_RO", "b_get", "1", ak + "s"}, noperm, "B's function, even on A's key"},
		{[]any{"SCRIPT", "FLUSH"}, noperm, "every tenant's cached scripts"},
		{[]any{"SCRIPT", "KILL"}, noperm, "another tenant's running script"},
		{[]any{"SCRIPT", "EXISTS", sha}, noperm, "tells which scripts others run"},
		{[]any{"EVAL", "return redis.call('GET', KEYS[1])", "1", bk + "s"}, noperm, "a declared key of B's"},
		{[]any{"EVAL", "return redis.call('GET', '" + bk + "s')", "0"}, "can't access at least one of the keys", "an undeclared key of B's: checked at the call"},
		{[]any{"EVALSHA", sha, "1", bk + "s"}, noperm, "B's key through a cached script"},
		{[]any{"FLUSHDB"}, noperm, "every tenant's keys"},
		{[]any{"FLUSHALL"}, noperm, "every tenant's keys in every database"},
		{[]any{"PUBSUB", "CHANNELS"}, noperm, "every tenant's channel names"},
		{[]any{"PUBSUB", "NUMSUB", bk + "events"}, noperm, "B's subscribers"},
		{[]any{"PUBSUB", "NUMPAT"}, noperm, "every tenant's pattern subscriptions"},
		{[]any{"PUBSUB", "SHARDCHANNELS"}, noperm, "every tenant's shard channels"},
		{[]any{"PUBSUB", "SHARDNUMSUB", bk + "events"}, noperm, "B's shard subscribers"},
		{[]any{"CLIENT", "LIST"}, noperm, "every connection: names, addresses, last commands"},
		{[]any{"CLIENT", "KILL", "ID", fmt.Sprint(bID)}, noperm, "B's connection"},
		{[]any{"CLIENT", "KILL", "USER", "plattr:test-tenant-b"}, noperm, "all of B's connections"},
		{[]any{"CLIENT", "PAUSE", "10"}, noperm, "stops every tenant"},
		{[]any{"CLIENT", "UNBLOCK", fmt.Sprint(bID)}, noperm, "B's blocked call"},
		{[]any{"CLIENT", "NO-EVICT", "ON"}, noperm, "escapes the memory limit every tenant shares"},
		{[]any{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", bk}, noperm, "invalidations would name B's keys"},
		{[]any{"CONFIG", "GET", "*"}, noperm, "the server's settings"},
		{[]any{"CONFIG", "SET", "maxmemory", "1"}, noperm, "the server's settings"},
		{[]any{"INFO"}, noperm, "server-wide figures: clients, keyspace, every tenant's command counts"},
		{[]any{"INFO", "keyspace"}, noperm, "every database's key count"},
		{[]any{"MONITOR"}, noperm, "every tenant's commands, arguments included"},
		{[]any{"DEBUG", "SLEEP", "0"}, "DEBUG command not allowed", "blocks the server (refused before the ACL here: enable-debug-command; the ACL refuses it too, below)"},
		{[]any{"SLOWLOG", "GET"}, noperm, "other tenants' commands and arguments"},
		{[]any{"LATENCY", "DOCTOR"}, noperm, "server introspection"},
		{[]any{"MEMORY", "DOCTOR"}, noperm, "server introspection"},
		{[]any{"MEMORY", "STATS"}, noperm, "server introspection"},
		{[]any{"MEMORY", "USAGE", bk + "s"}, noperm, "B's key"},
		{[]any{"OBJECT", "ENCODING", bk + "s"}, noperm, "B's key"},
		{[]any{"GET", bk + "s"}, noperm, "B's key"},
		{[]any{"SET", bk + "s", "a"}, noperm, "B's key"},
		{[]any{"DEL", bk + "s"}, noperm, "B's key"},
		{[]any{"EXISTS", bk + "s"}, noperm, "B's key"},
		{[]any{"TYPE", bk + "s"}, noperm, "B's key"},
		{[]any{"RENAME", bk + "s", ak + "stolen"}, noperm, "B's key into A's prefix"},
		{[]any{"RENAME", ak + "s", bk + "s"}, noperm, "A's key over B's"},
		{[]any{"HGETALL", bk + "h"}, noperm, "B's hash"},
		{[]any{"SUNIONSTORE", ak + "u", bk + "set"}, noperm, "B's set into A's key"},
		{[]any{"XREAD", "STREAMS", bk + "x", "0"}, noperm, "B's stream"},
		{[]any{"COPY", ak + "s", bk + "c"}, noperm, "into B's prefix"},
		{[]any{"COPY", ak + "s", ak + "c", "DB", "1"}, noperm, "into another database, where Delete never looks"},
		{[]any{"MOVE", ak + "s", "1"}, noperm, "into another database"},
		{[]any{"SELECT", "1"}, noperm, "the database is the URL's"},
		{[]any{"SWAPDB", "0", "1"}, noperm, "swaps every tenant's keys"},
		{[]any{"MIGRATE", "127.0.0.1", "1", bk + "s", "0", "100"}, noperm, "B's key to another server"},
		{[]any{"DUMP", ak + "s"}, noperm, "serialised values only feed RESTORE"},
		{[]any{"RESTORE", ak + "r", "0", "x"}, noperm, "a crafted payload"},
		{[]any{"SORT", ak + "l", "BY", bk + "*"}, noperm, "BY reads keys named by a pattern"},
		{[]any{"SORT", ak + "l", "GET", bk + "*"}, noperm, "GET reads keys named by a pattern"},
		{[]any{"SORT_RO", ak + "l", "BY", ak + "w_*"}, noperm, "SORT reaches keys by pattern: refused as a whole"},
		{[]any{"SUBSCRIBE", bk + "events"}, noperm, "B's channel"},
		{[]any{"PSUBSCRIBE", "*"}, noperm, "every tenant's channels"},
		{[]any{"PUBLISH", bk + "events", "x"}, noperm, "B's channel"},
		{[]any{"SPUBLISH", bk + "events", "x"}, noperm, "B's shard channel"},
		{[]any{"SSUBSCRIBE", bk + "events"}, noperm, "B's shard channel"},
		{[]any{"ACL", "LIST"}, noperm, "every user's rules and password hashes"},
		{[]any{"ACL", "USERS"}, noperm, "every tenant's name"},
		{[]any{"ACL", "GETUSER", "plattr:test-tenant-b"}, noperm, "B's rules"},
		{[]any{"ACL", "SETUSER", "plattr:test-tenant-a", "+@all"}, noperm, "its own rules"},
		{[]any{"ACL", "DELUSER", "plattr:test-tenant-b"}, noperm, "B itself"},
		{[]any{"ACL", "LOG"}, noperm, "other tenants' refusals"},
		{[]any{"WAIT", "0", "1"}, noperm, "replication is the operator's"},
		{[]any{"BGSAVE"}, noperm, "the server's persistence"},
		{[]any{"SAVE"}, noperm, "blocks the server"},
		{[]any{"ROLE"}, noperm, "replication topology"},
		{[]any{"REPLICAOF", "NO", "ONE"}, noperm, "replication"},
		{[]any{"SHUTDOWN", "NOSAVE"}, noperm, "the server itself"},
	}
	for _, tc := range refused {
		err := a.Do(ctx, tc.args...).Err()
		if assert.Error(t, err, "%v: %s", tc.args, tc.reason) {
			assert.Contains(t, err.Error(), tc.want, "%v: %s", tc.args, tc.reason)
		}
	}

	dry, err := admin.Do(ctx, "ACL", "DRYRUN", "plattr:test-tenant-a", "DEBUG", "SLEEP", "0").Text()
	require.NoError(t, err)
	assert.Contains(t, dry, "no permissions to run the 'debug' command", "where DEBUG is enabled")

	// B is intact: data, library, script, connection and rules.
	v, err := admin.Get(ctx, bk+"s").Result()
	require.NoError(t, err, "B's key is still there")
	assert.Equal(t, "b-secret", v)
	n, err := admin.Exists(ctx, bk+"h", bk+"l", bk+"set", bk+"x").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(4), n, "B's hash, list, set and stream")
	libs, err := admin.Do(ctx, "FUNCTION", "LIST", "LIBRARYNAME", lib).Slice()
	require.NoError(t, err)
	assert.Len(t, libs, 1, "B's library")
	exists, err := admin.ScriptExists(ctx, sha).Result()
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, exists, "B's cached script")
	id, err := bConn.ClientID(ctx).Result()
	require.NoError(t, err, "B's connection is alive")
	assert.Equal(t, bID, id)
	assert.Equal(t, bACL, getUser(t, admin, "plattr:test-tenant-b"), "B's rules")
	v, err = b.Get(ctx, bk+"s").Result()
	require.NoError(t, err, "B still works")
	assert.Equal(t, "b-secret", v)
}

// TestProvisioner_TenantUsesItsOwnPrefix is what an application may do on its
// own keys and channels: every data type, expiry, transactions, scripts on
// declared keys, pub/sub, and the connection commands client libraries send.
func TestProvisioner_TenantUsesItsOwnPrefix(t *testing.T) {
	p, r := privateSetup(t)
	ctx := context.Background()
	a := appClient(t, ensure(t, p, instance("tenant-own"), nil))
	const k = "plattr:test-tenant-own:"
	sha, err := r.Client(t).ScriptLoad(ctx, "return redis.call('GET', KEYS[1])").Result()
	require.NoError(t, err)

	allowed := [][]any{
		// strings
		{"SET", k + "s", "1"}, {"GET", k + "s"}, {"INCR", k + "s"}, {"APPEND", k + "s", "0"}, {"MSET", k + "m1", "a", k + "m2", "b"},
		{"MGET", k + "m1", k + "m2"}, {"GETDEL", k + "m2"}, {"SETEX", k + "e", "60", "x"}, {"STRLEN", k + "s"},
		// hashes
		{"HSET", k + "h", "f", "v"}, {"HGETALL", k + "h"}, {"HINCRBY", k + "h", "n", "1"}, {"HSCAN", k + "h", "0"}, {"HDEL", k + "h", "n"},
		// lists
		{"RPUSH", k + "l", "2", "1"}, {"LRANGE", k + "l", "0", "-1"}, {"LMOVE", k + "l", k + "l2", "LEFT", "RIGHT"}, {"BLPOP", k + "l", "0.01"},
		// sets
		{"SADD", k + "set", "a", "b"}, {"SMEMBERS", k + "set"}, {"SSCAN", k + "set", "0"}, {"SINTERSTORE", k + "set2", k + "set"},
		// sorted sets
		{"ZADD", k + "z", "1", "a"}, {"ZRANGE", k + "z", "0", "-1", "WITHSCORES"}, {"ZINCRBY", k + "z", "1", "a"}, {"ZSCAN", k + "z", "0"},
		// streams
		{"XADD", k + "x", "*", "f", "v"}, {"XRANGE", k + "x", "-", "+"}, {"XGROUP", "CREATE", k + "x", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", k + "x", ">"}, {"XINFO", "STREAM", k + "x"}, {"XLEN", k + "x"},
		// bitmaps, HyperLogLog, geo
		{"SETBIT", k + "b", "7", "1"}, {"BITCOUNT", k + "b"}, {"BITOP", "NOT", k + "b2", k + "b"},
		{"PFADD", k + "hll", "a"}, {"PFCOUNT", k + "hll"}, {"PFMERGE", k + "hll2", k + "hll"},
		{"GEOADD", k + "g", "13.4", "52.5", "berlin"}, {"GEOSEARCH", k + "g", "FROMLONLAT", "13.4", "52.5", "BYRADIUS", "10", "km"},
		// the keyspace commands on one's own keys
		{"EXPIRE", k + "s", "60"}, {"TTL", k + "s"}, {"PEXPIRE", k + "s", "60000"}, {"PTTL", k + "s"}, {"EXPIRETIME", k + "s"},
		{"PERSIST", k + "s"}, {"EXISTS", k + "s"}, {"TYPE", k + "s"}, {"TOUCH", k + "s"}, {"RENAME", k + "m1", k + "m3"},
		{"RENAMENX", k + "m3", k + "m4"}, {"DEL", k + "m4"}, {"UNLINK", k + "e"},
		// scripts on declared keys of one's own, and publishing on one's channels
		{"EVAL", "return redis.call('GET', KEYS[1])", "1", k + "s"}, {"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", k + "s"},
		{"EVALSHA", sha, "1", k + "s"}, {"SCRIPT", "LOAD", "return 1"},
		{"PUBLISH", k + "events", "x"}, {"SPUBLISH", k + "events", "x"},
		// connection basics client libraries send
		{"PING"}, {"ECHO", "x"}, {"SELECT", "0"}, {"CLIENT", "SETNAME", "shop"}, {"CLIENT", "GETNAME"}, {"CLIENT", "ID"},
		{"CLIENT", "INFO"}, {"ACL", "WHOAMI"}, {"COMMAND", "COUNT"}, {"COMMAND", "DOCS", "GET"},
	}
	for _, args := range allowed {
		assert.NoError(t, a.Do(ctx, args...).Err(), "%v", args)
	}

	// Transactions, optimistic locking included.
	require.NoError(t, a.Watch(ctx, func(tx *goredis.Tx) error {
		_, err := tx.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Incr(ctx, k+"counter")
			pipe.Expire(ctx, k+"counter", time.Minute)
			return nil
		})
		return err
	}, k+"counter"), "WATCH, MULTI, EXEC")
	conn := a.Conn()
	defer conn.Close()
	require.NoError(t, conn.Do(ctx, "MULTI").Err())
	require.NoError(t, conn.Do(ctx, "DISCARD").Err(), "DISCARD")

	// Pub/sub on its own channels and patterns.
	sub := a.PSubscribe(ctx, k+"*")
	defer sub.Close()
	require.NoError(t, sub.Subscribe(ctx, k+"events"))
	for range 2 {
		_, err := sub.Receive(ctx) // the two subscription confirmations
		require.NoError(t, err)
	}
	require.NoError(t, a.Publish(ctx, k+"events", "hello").Err())
	msg, err := sub.ReceiveMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hello", msg.Payload)

	// The commands that change the connection itself, each on a connection of its own.
	for _, args := range [][]any{{"HELLO", "3"}, {"AUTH", "plattr:test-tenant-own", "wrong"}, {"RESET"}, {"QUIT"}} {
		c := a.Conn()
		err := c.Do(ctx, args...).Err()
		if args[0] == "AUTH" {
			assert.ErrorContains(t, err, "WRONGPASS", "AUTH may be sent; a wrong password is refused")
		} else {
			assert.NoError(t, err, "%v", args)
		}
		c.Close()
	}
}

// getUser is ACL GETUSER user as admin, its commands sorted.
func getUser(t *testing.T, c *goredis.Client, user string) aclUser {
	t.Helper()
	res, err := c.Do(context.Background(), "ACL", "GETUSER", user).Result()
	require.NoError(t, err)
	u, err := parseUser(res)
	require.NoError(t, err)
	return u
}
