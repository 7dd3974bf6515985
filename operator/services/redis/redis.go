// Package redis provisions Redis for Applications: one ACL user per app and
// environment on a shared server reached through REDIS_ADMIN_URL, allowed only
// keys and channels under the prefix "<env>:<app>:" and only the commands an
// application needs on them (an allow-list, commandRules), nothing that reaches
// beyond its prefix: no key enumeration, no functions or script management, no
// flushes, no server introspection or administration, no other database.
//
// ':' cannot occur in app or environment names, so no app's pattern can match
// another app's keys: "staging:shop:*" does not match "staging:shop-admin:…".
// Observe compares the whole ACL user with what Ensure sets, so a user widened by
// hand is set back. Redis forgets ACL users on restart unless it has an ACL file:
// Watch notices a restart (a new run_id) and the controller observes every app
// again, and Ensure restores each user with the password the app already has.
// It needs Redis 7 or later, and an admin user allowed ACL, INFO, SCAN and UNLINK.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Secret keys, each listed in plattrv1.InjectedEnv.
const (
	KeyURL      = "REDIS_URL"
	KeyPrefix   = "REDIS_KEY_PREFIX"
	KeyUser     = "REDIS_USERNAME"
	KeyPassword = "REDIS_PASSWORD"
)

// Provisioner is the Redis backing service.
type Provisioner struct {
	services.Identity
	adminURL   string
	opt        *goredis.Options
	watchEvery time.Duration

	mu     sync.Mutex
	client *goredis.Client
	// expected is what ACL GETUSER reports for commandRules on the server with
	// the run id runID: Redis rewrites the rules, differently from one version to
	// the next, so it is asked once per server run rather than hard-coded.
	runID    string
	expected aclUser
}

var (
	_ services.Provisioner = (*Provisioner)(nil)
	_ services.Watcher     = (*Provisioner)(nil)
)

// New returns a provisioner for the server at adminURL (a user allowed ACL,
// INFO, SCAN and UNLINK). An empty adminURL reports services.ErrNotConfigured on every call.
func New(adminURL string, opts ...func(*Provisioner)) (*Provisioner, error) {
	p := &Provisioner{Identity: services.Identity{Service: plattrv1.ServiceRedis}, adminURL: adminURL, watchEvery: 2 * time.Second}
	for _, o := range opts {
		o(p)
	}
	if adminURL != "" {
		opt, err := goredis.ParseURL(adminURL)
		if err != nil {
			return nil, errors.New("REDIS_ADMIN_URL must be a URL such as redis://admin:PASSWORD@host:6379/0")
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
		opt.MaxRetries = 1
		p.opt = opt
	}
	return p, nil
}

// WithWatchInterval sets how often Watch reads the server's run id (default 2 s).
func WithWatchInterval(d time.Duration) func(*Provisioner) {
	return func(p *Provisioner) { p.watchEvery = d }
}

// Close releases the connection pool.
func (p *Provisioner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}

func (p *Provisioner) admin() (*goredis.Client, error) {
	if p.opt == nil {
		return nil, services.NotConfigured("Redis", "REDIS_ADMIN_URL")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		p.client = goredis.NewClient(p.opt)
	}
	return p.client, nil
}

// User is the ACL user of app in env, and Prefix its key prefix.
func User(env, app string) string   { return env + ":" + app }
func Prefix(env, app string) string { return env + ":" + app + ":" }

// glob escapes the characters Redis patterns treat specially.
func glob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

func validName(s string) error {
	if s == "" || strings.ContainsAny(s, ": \t\r\n") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return fmt.Errorf("%q cannot name a Redis user or key prefix: %w", s, services.ErrInvalid)
	}
	return nil
}

// commandRules are the commands an application may run: the data types' own
// commands on its keys, pub/sub on its channels, transactions, scripts (EVAL runs
// with the caller's ACL, every key a script touches is checked), and the
// connection commands client libraries send. Left out, because they reach beyond
// the prefix or the app: key enumeration (KEYS, SCAN, RANDOMKEY, DBSIZE), SORT
// (BY and GET read keys named by a pattern), functions (one namespace for every
// tenant) and SCRIPT but LOAD (FLUSH and KILL act on every tenant), PUBSUB (every
// channel's name and subscribers), other databases (SELECT but the URL's, MOVE,
// COPY's DB, SWAPDB, MIGRATE), DUMP/RESTORE, client tracking (broadcast
// invalidations name others' keys), and every server command (INFO, CLIENT LIST
// and KILL, CONFIG, MONITOR, DEBUG, SLOWLOG, LATENCY, MEMORY, OBJECT, ACL but
// WHOAMI, WAIT, persistence, replication, SHUTDOWN).
func (p *Provisioner) commandRules() []any {
	var out []any
	for _, r := range commandRules(p.opt.DB) {
		out = append(out, r)
	}
	return out
}

// commandRules are the ACL rules of an app's commands on database db, shared by
// both backends (ACL SETUSER here, an ElastiCache access string there).
func commandRules(db int) []string {
	return []string{
		"-@all",
		"+@string", "+@hash", "+@list", "+@set", "+@sortedset", "+@stream", "+@bitmap", "+@hyperloglog", "+@geo",
		"+@pubsub", "+@transaction",
		"-sort", "-sort_ro", "-pfdebug", "-pfselftest", "-pubsub",
		"+del", "+unlink", "+exists", "+type", "+touch", "+rename", "+renamenx", "+persist",
		"+expire", "+pexpire", "+expireat", "+pexpireat", "+expiretime", "+pexpiretime", "+ttl", "+pttl",
		"+eval", "+evalsha", "+eval_ro", "+evalsha_ro", "+script|load",
		"+ping", "+echo", "+auth", "+hello", "+quit", "+reset", fmt.Sprintf("+select|%d", db),
		"+client|setname", "+client|getname", "+client|id", "+client|info", "+acl|whoami", "+command",
	}
}

// rules are the ACL rules of a user: its passwords (the current one, and
// during a rotation the previous one), its keys and channels, and
// commandRules.
func (p *Provisioner) rules(prefix string, passwords ...string) []any {
	head := []any{"reset", "on"}
	for _, pw := range passwords {
		head = append(head, ">"+pw)
	}
	head = append(head, "~"+glob(prefix)+"*", "resetchannels", "&"+glob(prefix)+"*")
	return append(head, p.commandRules()...)
}

// passwords are the passwords the user of inst has: current's, and during a
// rotation inst.Previous's when it is the same user's and another.
func passwords(inst services.Instance, user, current string) []string {
	out := []string{current}
	if prev := string(inst.Previous[KeyPassword]); prev != "" && prev != current && string(inst.Previous[KeyUser]) == user {
		out = append(out, prev)
	}
	return out
}

func passwordHashes(passwords []string) []string {
	out := make([]string, len(passwords))
	for i, pw := range passwords {
		sum := sha256.Sum256([]byte(pw))
		out[i] = hex.EncodeToString(sum[:])
	}
	slices.Sort(out)
	return out
}

// aclUser is the part of ACL GETUSER's reply Observe compares. commands are
// the rules Redis states, sorted: Redis 7.0 states the same rules in a different
// order from one call to the next, and each token names a distinct command,
// subcommand or category, so the set is the meaning.
type aclUser struct {
	flags, passwords, selectors, commands []string
	keys, channels                        string
}

func parseUser(res any) (aclUser, error) {
	info, ok := res.(map[any]any)
	if list, isList := res.([]any); isList { // RESP2: a flat list of pairs
		info, ok = map[any]any{}, true
		for i := 0; i+1 < len(list); i += 2 {
			info[list[i]] = list[i+1]
		}
	}
	if !ok {
		return aclUser{}, errors.New("unexpected reply")
	}
	strs := func(v any) []string {
		var out []string
		if l, ok := v.([]any); ok {
			for _, e := range l {
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	}
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	return aclUser{
		flags: strs(info["flags"]), passwords: strs(info["passwords"]), selectors: strs(info["selectors"]),
		commands: slices.Sorted(slices.Values(strings.Fields(str(info["commands"])))),
		keys:     str(info["keys"]), channels: str(info["channels"]),
	}, nil
}

// expectedUser is what ACL GETUSER reports for a user set with commandRules on
// the server run runID: asked of a scratch user, made and removed in one
// transaction, once per run.
func (p *Provisioner) expectedUser(ctx context.Context, c *goredis.Client, runID string) (aclUser, error) {
	p.mu.Lock()
	if p.runID == runID {
		defer p.mu.Unlock()
		return p.expected, nil
	}
	p.mu.Unlock()
	suffix, err := services.Password()
	if err != nil {
		return aclUser{}, fmt.Errorf("generate a scratch user name: %w", err)
	}
	scratch := "plattr-acl-reference-" + suffix[:12]
	var get *goredis.Cmd
	_, err = c.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Do(ctx, append([]any{"ACL", "SETUSER", scratch, "reset"}, p.commandRules()...)...)
		get = pipe.Do(ctx, "ACL", "GETUSER", scratch)
		pipe.Do(ctx, "ACL", "DELUSER", scratch)
		return nil
	})
	if err != nil {
		return aclUser{}, fmt.Errorf("read how Redis states the ACL rules: %w", clean(err))
	}
	want, err := parseUser(get.Val())
	if err != nil {
		return aclUser{}, fmt.Errorf("read how Redis states the ACL rules: %w", err)
	}
	for i, f := range want.flags { // the scratch user is off; an app's is on
		if f == "off" {
			want.flags[i] = "on"
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runID, p.expected = runID, want
	return want, nil
}

// runIDOf reads run_id from the reply of INFO server.
func runIDOf(info string) (string, error) {
	for _, line := range strings.Split(info, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return id, nil
		}
	}
	return "", errors.New("INFO server has no run_id")
}

// Observe implements services.Provisioner: the Secret is what Ensure would write,
// and the user is exactly what Ensure sets: on, the Secret's password and no
// other, the app's key and channel patterns, no selectors, and commandRules. One
// round trip: INFO server (whose run id says whether the expected rules are
// known) pipelined with ACL GETUSER.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	c, err := p.admin()
	if err != nil {
		return false, err
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	password := string(current[KeyPassword])
	if password == "" || string(current[KeyUser]) != user || string(current[KeyPrefix]) != prefix ||
		string(current[KeyURL]) != p.url(user, password) {
		return false, nil
	}
	var info *goredis.StringCmd
	var get *goredis.Cmd
	_, _ = c.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		info = pipe.Info(ctx, "server")
		get = pipe.Do(ctx, "ACL", "GETUSER", user)
		return nil
	})
	if err := info.Err(); err != nil {
		return false, fmt.Errorf("read Redis user %q: %w", user, clean(err))
	}
	res, err := get.Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return false, nil // never made, or forgotten by a restart
	case err != nil: // the reply is nil on any error: not "user missing"
		return false, fmt.Errorf("read Redis user %q: %w", user, clean(err))
	case res == nil:
		return false, nil
	}
	got, err := parseUser(res)
	if err != nil {
		return false, fmt.Errorf("read Redis user %q: %w", user, err)
	}
	runID, err := runIDOf(info.Val())
	if err != nil {
		return false, fmt.Errorf("read Redis user %q: %w", user, err)
	}
	want, err := p.expectedUser(ctx, c, runID)
	if err != nil {
		return false, err
	}
	gotPasswords := slices.Sorted(slices.Values(got.passwords))
	return slices.Equal(got.flags, want.flags) &&
		slices.Equal(gotPasswords, passwordHashes(passwords(inst, user, password))) &&
		len(got.selectors) == 0 &&
		slices.Equal(got.commands, want.commands) &&
		got.keys == "~"+glob(prefix)+"*" &&
		got.channels == "&"+glob(prefix)+"*", nil
}

// Ensure implements services.Provisioner.
func (p *Provisioner) Ensure(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	c, err := p.admin()
	if err != nil {
		return nil, err
	}
	if err := validName(inst.Env); err != nil {
		return nil, err
	}
	if err := validName(inst.App); err != nil {
		return nil, err
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	password, err := services.KeptPassword(current, KeyUser, KeyPassword, user)
	if err != nil {
		return nil, err
	}
	return p.setUser(ctx, c, user, prefix, passwords(inst, user, password)...)
}

// setUser sets the app's user to exactly its rules with passwords (the first
// is the Secret's) and returns the Secret's data.
func (p *Provisioner) setUser(ctx context.Context, c *goredis.Client, user, prefix string, passwords ...string) (services.Credentials, error) {
	args := append([]any{"ACL", "SETUSER", user}, p.rules(prefix, passwords...)...)
	if err := c.Do(ctx, args...).Err(); err != nil {
		return nil, fmt.Errorf("set Redis user %q: %w", user, clean(err))
	}
	return services.Credentials{
		KeyURL: []byte(p.url(user, passwords[0])), KeyPrefix: []byte(prefix),
		KeyUser: []byte(user), KeyPassword: []byte(passwords[0]),
	}, nil
}

var _ services.Rotator = (*Provisioner)(nil)

// Rotate implements services.Rotator: a new password beside the current one
// (Redis users have as many as they are given).
func (p *Provisioner) Rotate(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	c, err := p.admin()
	if err != nil {
		return nil, err
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	next, err := services.Password()
	if err != nil {
		return nil, fmt.Errorf("generate a password: %w", err)
	}
	keep := []string{next}
	if pw := string(current[KeyPassword]); pw != "" && string(current[KeyUser]) == user {
		keep = append(keep, pw)
	}
	return p.setUser(ctx, c, user, prefix, keep...)
}

// Retire implements services.Rotator: the user keeps current's password only.
// Redis checks a password at AUTH: a connection that logged in with the old
// one stays open (the pods that hold one are gone by then).
func (p *Provisioner) Retire(ctx context.Context, inst services.Instance, current, _ services.Credentials) error {
	c, err := p.admin()
	if err != nil {
		return err
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	pw := string(current[KeyPassword])
	if pw == "" || string(current[KeyUser]) != user {
		return fmt.Errorf("retire the previous password of Redis user %q: the current credentials are not its", user)
	}
	_, err = p.setUser(ctx, c, user, prefix, pw)
	return err
}

func (p *Provisioner) url(user, password string) string {
	u := url.URL{Scheme: "redis", User: url.UserPassword(user, password), Host: p.opt.Addr, Path: fmt.Sprintf("/%d", p.opt.DB)}
	if p.opt.TLSConfig != nil {
		u.Scheme = "rediss"
	}
	if _, _, err := net.SplitHostPort(p.opt.Addr); err != nil {
		u.Host = net.JoinHostPort(p.opt.Addr, "6379")
	}
	return u.String()
}

// Delete implements services.Provisioner: the user goes, and the keys under its
// prefix with it.
func (p *Provisioner) Delete(ctx context.Context, inst services.Instance) error {
	c, err := p.admin()
	if err != nil {
		return err
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	if err := c.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
		return fmt.Errorf("delete Redis user %q: %w", user, clean(err))
	}
	iter := c.Scan(ctx, 0, glob(prefix)+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("delete the keys of %q: %w", prefix, clean(err))
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("list the keys of %q: %w", prefix, clean(err))
	}
	if len(batch) > 0 {
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			return fmt.Errorf("delete the keys of %q: %w", prefix, clean(err))
		}
	}
	return nil
}

// clean keeps Redis's message; a connection error names no credentials.
func clean(err error) error {
	var ne net.Error
	if errors.As(err, &ne) {
		return errors.New("cannot connect to the Redis server")
	}
	return err
}

// Watch implements services.Watcher: every interval it reads the server's run
// id, and calls lost when it differs from the last one read, the server having
// restarted (and, without an ACL file, forgotten every user). A server that does
// not answer is not lost: it is only once it answers with a new run id.
func (p *Provisioner) Watch(ctx context.Context, lost func()) {
	c, err := p.admin()
	if err != nil { // not configured: nothing to watch
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(p.watchEvery)
	defer tick.Stop()
	last := ""
	for {
		if info, err := c.Info(ctx, "server").Result(); err == nil {
			if id, err := runIDOf(info); err == nil {
				if last != "" && id != last {
					lost()
				}
				last = id
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
