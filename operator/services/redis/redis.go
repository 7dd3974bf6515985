// Package redis provisions Redis for Applications: one ACL user per app and
// environment, allowed only keys and channels under the prefix "<env>:<app>:" and
// only commands outside @dangerous, on a shared server reached through
// REDIS_ADMIN_URL.
//
// ':' cannot occur in app or environment names, so no app's pattern can match
// another app's keys: "staging:shop:*" does not match "staging:shop-admin:…".
// Redis forgets ACL users on restart unless it has an ACL file; Observe notices a
// missing user and Ensure restores it with the password the app already has.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Secret keys.
const (
	KeyURL    = "REDIS_URL"
	KeyPrefix = "REDIS_KEY_PREFIX"
	keyUser   = "REDIS_USERNAME"
	keyPass   = "REDIS_PASSWORD"
)

// Provisioner is the Redis backing service.
type Provisioner struct {
	adminURL string
	opt      *goredis.Options
	resync   time.Duration

	mu     sync.Mutex
	client *goredis.Client
}

var _ services.Provisioner = (*Provisioner)(nil)

// New returns a provisioner for the server at adminURL (a user allowed to manage
// ACLs). An empty adminURL reports services.ErrNotConfigured on every call.
func New(adminURL string, opts ...func(*Provisioner)) (*Provisioner, error) {
	p := &Provisioner{adminURL: adminURL, resync: 5 * time.Minute}
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

// ResyncAfter implements services.Volatile: a restarted Redis has forgotten its
// ACL users, and nothing in Kubernetes says so.
func (p *Provisioner) ResyncAfter() time.Duration { return p.resync }

// WithResync sets how often Applications using Redis are observed again (default 5 min).
func WithResync(d time.Duration) func(*Provisioner) { return func(p *Provisioner) { p.resync = d } }

// Name implements services.Provisioner.
func (p *Provisioner) Name() string { return "redis" }

// Condition implements services.Provisioner.
func (p *Provisioner) Condition() string { return plattrv1.ConditionRedisReady }

// Enabled implements services.Provisioner.
func (p *Provisioner) Enabled(spec *plattrv1.ApplicationSpec) bool {
	return spec.Redis != nil && spec.Redis.Enabled
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

// rules are the ACL rules of a user: its password, its keys and channels, and
// every command but the dangerous ones (KEYS, FLUSHALL, CONFIG, DEBUG, …).
func rules(prefix, password string) []any {
	return []any{"reset", "on", ">" + password, "~" + glob(prefix) + "*", "resetchannels", "&" + glob(prefix) + "*", "+@all", "-@dangerous"}
}

// Observe implements services.Provisioner: the user exists, is on, has exactly
// the app's key and channel patterns, and the Secret's password.
func (p *Provisioner) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	c, err := p.admin()
	if err != nil {
		return false, err
	}
	if current == nil || len(current[keyPass]) == 0 {
		return false, nil
	}
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	res, err := c.Do(ctx, "ACL", "GETUSER", user).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return false, nil // never made, or forgotten by a restart
	case err != nil: // the reply is nil on any error: not "user missing"
		return false, fmt.Errorf("read Redis user %q: %w", user, clean(err))
	case res == nil:
		return false, nil
	}
	info, ok := res.(map[any]any)
	if list, isList := res.([]any); isList { // RESP2: a flat list of pairs
		info, ok = map[any]any{}, true
		for i := 0; i+1 < len(list); i += 2 {
			info[list[i]] = list[i+1]
		}
	}
	if !ok {
		return false, fmt.Errorf("read Redis user %q: unexpected reply", user)
	}
	sum := sha256.Sum256(current[keyPass])
	flags := fmt.Sprint(info["flags"])
	passwords := fmt.Sprint(info["passwords"])
	return strings.Contains(flags, "on") &&
		fmt.Sprint(info["keys"]) == "~"+glob(prefix)+"*" &&
		fmt.Sprint(info["channels"]) == "&"+glob(prefix)+"*" &&
		passwords == "["+hex.EncodeToString(sum[:])+"]" &&
		string(current[KeyURL]) == p.url(user, string(current[keyPass])), nil
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
	password := ""
	if current != nil && string(current[keyUser]) == user {
		password = string(current[keyPass])
	}
	if password == "" {
		if password, err = services.Password(); err != nil {
			return nil, fmt.Errorf("generate a password: %w", err)
		}
	}
	args := append([]any{"ACL", "SETUSER", user}, rules(prefix, password)...)
	if err := c.Do(ctx, args...).Err(); err != nil {
		return nil, fmt.Errorf("set Redis user %q: %w", user, clean(err))
	}
	return services.Credentials{
		KeyURL: []byte(p.url(user, password)), KeyPrefix: []byte(prefix),
		keyUser: []byte(user), keyPass: []byte(password),
	}, nil
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
