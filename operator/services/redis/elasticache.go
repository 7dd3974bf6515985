package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// MaxUsersPerGroup is ElastiCache's limit on the users of one user group: the
// apps one cache can serve.
const MaxUsersPerGroup = 100

// ElastiCache is the Redis service on Amazon ElastiCache (Valkey or Redis OSS),
// which refuses ACL SETUSER: each app's user is made through the ElastiCache
// API (CreateUser, ModifyUser, DeleteUser) with the access string the ACL
// backend sets (the app's key and channel prefix, commandRules), and added to
// the user group attached to the cache. It keeps the provisioner's contract:
// Ensure is idempotent ("already exists" is success) and waits until the user
// and the user group are active; Observe finds drift in the access string, the
// user's state or its group; the password is never logged. ElastiCache never
// returns a password, so Observe cannot compare it: Ensure sets it on every run.
// A rotation gives the user a second password (ElastiCache allows two) and
// Retire takes the old one away; meanwhile Observe wants two passwords and
// Ensure sets both. Delete removes the user; the keys under its prefix stay until they expire
// (no data-plane admin is needed).
type ElastiCache struct {
	services.Identity
	api                     *elasticache.Client
	group, endpoint, engine string
	poll                    time.Duration
}

var _ services.Provisioner = (*ElastiCache)(nil)

// Close implements the operator's provisioner lifecycle: nothing is held open.
func (e *ElastiCache) Close() {}

// ElastiCacheConfig says which cache the apps share.
type ElastiCacheConfig struct {
	// UserGroup is the user group attached to the cache (ELASTICACHE_USER_GROUP).
	UserGroup string
	// Endpoint is what apps connect to, host:port (ELASTICACHE_ENDPOINT), over TLS.
	Endpoint string
	// Engine is "valkey" (default) or "redis".
	Engine string
	// Poll is how often a change is looked at until it is done (default 5 s).
	Poll time.Duration
}

// NewElastiCache returns the ElastiCache backend of the Redis service.
func NewElastiCache(api *elasticache.Client, cfg ElastiCacheConfig) (*ElastiCache, error) {
	switch {
	case cfg.UserGroup == "":
		return nil, errors.New("ElastiCache: the user group (ELASTICACHE_USER_GROUP) is required")
	case cfg.Endpoint == "":
		return nil, errors.New("ElastiCache: the cache's endpoint, host:port (ELASTICACHE_ENDPOINT), is required")
	case cfg.Engine != "" && cfg.Engine != "valkey" && cfg.Engine != "redis":
		return nil, fmt.Errorf("ElastiCache: engine is valkey or redis, is %q", cfg.Engine)
	}
	if cfg.Engine == "" {
		cfg.Engine = "valkey"
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	return &ElastiCache{Identity: services.Identity{Service: plattrv1.ServiceRedis}, api: api, group: cfg.UserGroup,
		endpoint: cfg.Endpoint, engine: cfg.Engine, poll: cfg.Poll}, nil
}

// ElastiCacheUserID is the user's ID in ElastiCache: IDs are letters, digits
// and '-' (no ':'), so it is derived from the user's name, which stays the ACL
// backend's "<env>:<app>".
func ElastiCacheUserID(env, app string) string {
	sum := sha256.Sum256([]byte(User(env, app)))
	return "plattr-" + hex.EncodeToString(sum[:8])
}

// AccessString is an app's ElastiCache access string: what the ACL backend sets,
// without the password (ElastiCache keeps passwords apart).
func AccessString(prefix string) string {
	return strings.Join(append([]string{"on", "~" + glob(prefix) + "*", "&" + glob(prefix) + "*"}, commandRules(0)...), " ")
}

func (e *ElastiCache) url(user, password string) string {
	u := url.URL{Scheme: "rediss", User: url.UserPassword(user, password), Host: e.endpoint, Path: "/0"}
	return u.String()
}

// Observe implements services.Provisioner.
func (e *ElastiCache) Observe(ctx context.Context, inst services.Instance, current services.Credentials) (bool, error) {
	user, prefix := User(inst.Env, inst.App), Prefix(inst.Env, inst.App)
	password := string(current[KeyPassword])
	if password == "" || string(current[KeyUser]) != user || string(current[KeyPrefix]) != prefix || string(current[KeyURL]) != e.url(user, password) {
		return false, nil
	}
	u, err := e.user(ctx, ElastiCacheUserID(inst.Env, inst.App))
	if err != nil || u == nil {
		return false, err
	}
	return aws.ToString(u.Status) == "active" && aws.ToString(u.UserName) == user &&
		aws.ToString(u.AccessString) == AccessString(prefix) && slices.Contains(u.UserGroupIds, e.group) &&
		u.Authentication != nil && int(aws.ToInt32(u.Authentication.PasswordCount)) == len(ecPasswords(inst, user, password)), nil
}

// ecPasswords are the passwords the user is to have: current's, and during a
// rotation the previous one too (ElastiCache allows two per user).
func ecPasswords(inst services.Instance, user, current string) []string {
	keep := []string{current}
	if pw := string(inst.Previous[KeyPassword]); pw != "" && pw != current && string(inst.Previous[KeyUser]) == user {
		keep = append(keep, pw)
	}
	return keep
}

// Ensure implements services.Provisioner.
func (e *ElastiCache) Ensure(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	for _, n := range []string{inst.Env, inst.App} {
		if err := validName(n); err != nil {
			return nil, err
		}
	}
	user, prefix, id := User(inst.Env, inst.App), Prefix(inst.Env, inst.App), ElastiCacheUserID(inst.Env, inst.App)
	password, err := services.KeptPassword(current, KeyUser, KeyPassword, user)
	if err != nil {
		return nil, err
	}
	u, err := e.user(ctx, id)
	if err != nil {
		return nil, err
	}
	made := u != nil // by an earlier run, maybe one that did not finish
	if !made {
		_, err := e.api.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(id), UserName: aws.String(user),
			Engine: aws.String(e.engine), AccessString: aws.String(AccessString(prefix)), Passwords: []string{password}})
		var exists *types.UserAlreadyExistsFault
		if made = errors.As(err, &exists); err != nil && !made {
			return nil, e.fail("create user", user, err)
		}
	}
	if made { // set it as Ensure would make it
		if err := e.waitUser(ctx, id); err != nil {
			return nil, err
		}
		if _, err := e.api.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String(id),
			AccessString: aws.String(AccessString(prefix)), Passwords: ecPasswords(inst, user, password)}); err != nil {
			return nil, e.fail("modify user", user, err)
		}
	}
	if err := e.waitUser(ctx, id); err != nil {
		return nil, err
	}
	if err := e.join(ctx, id, user); err != nil {
		return nil, err
	}
	return services.Credentials{KeyURL: []byte(e.url(user, password)), KeyPrefix: []byte(prefix),
		KeyUser: []byte(user), KeyPassword: []byte(password)}, nil
}

var _ services.Rotator = (*ElastiCache)(nil)

// Rotate implements services.Rotator: ModifyUser gives the user a new
// password beside the current one (ElastiCache allows two), and waits until
// the user is active.
func (e *ElastiCache) Rotate(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	user, prefix, id := User(inst.Env, inst.App), Prefix(inst.Env, inst.App), ElastiCacheUserID(inst.Env, inst.App)
	next, err := services.Password()
	if err != nil {
		return nil, fmt.Errorf("generate a password: %w", err)
	}
	if string(current[KeyUser]) != user || len(current[KeyPassword]) == 0 {
		return nil, fmt.Errorf("rotate the password of Redis user %q: the current credentials are not its", user)
	}
	if err := e.setPasswords(ctx, id, user, prefix, next, string(current[KeyPassword])); err != nil {
		return nil, err
	}
	return services.Credentials{KeyURL: []byte(e.url(user, next)), KeyPrefix: []byte(prefix),
		KeyUser: []byte(user), KeyPassword: []byte(next)}, nil
}

// Retire implements services.Rotator: the user keeps current's password only.
func (e *ElastiCache) Retire(ctx context.Context, inst services.Instance, current, _ services.Credentials) error {
	user, prefix, id := User(inst.Env, inst.App), Prefix(inst.Env, inst.App), ElastiCacheUserID(inst.Env, inst.App)
	if string(current[KeyUser]) != user || len(current[KeyPassword]) == 0 {
		return fmt.Errorf("retire the previous password of Redis user %q: the current credentials are not its", user)
	}
	return e.setPasswords(ctx, id, user, prefix, string(current[KeyPassword]))
}

// setPasswords gives the user exactly passwords, once it is active, and waits
// until it is active again.
func (e *ElastiCache) setPasswords(ctx context.Context, id, user, prefix string, passwords ...string) error {
	if err := e.waitUser(ctx, id); err != nil {
		return err
	}
	if _, err := e.api.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String(id),
		AccessString: aws.String(AccessString(prefix)), Passwords: passwords}); err != nil {
		return e.fail("modify user", user, err)
	}
	return e.waitUser(ctx, id)
}

// join adds the user to the cache's user group and waits until the group is
// active with it.
func (e *ElastiCache) join(ctx context.Context, id, user string) error {
	g, err := e.waitGroup(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(g.UserIds, id) {
		return nil
	}
	if len(g.UserIds) >= MaxUsersPerGroup {
		return fmt.Errorf("ElastiCache user group %q holds %d users, ElastiCache's limit: Redis user %q cannot join it; "+
			"give the next apps a cache of their own (another user group)", e.group, len(g.UserIds), user)
	}
	if _, err := e.api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String(e.group), UserIdsToAdd: []string{id}}); err != nil {
		return e.fail("add to user group "+e.group, user, err)
	}
	if g, err = e.waitGroup(ctx); err != nil {
		return err
	}
	if !slices.Contains(g.UserIds, id) {
		return fmt.Errorf("ElastiCache user group %q is active without Redis user %q: it will be added again", e.group, user)
	}
	return nil
}

// Delete implements services.Provisioner.
func (e *ElastiCache) Delete(ctx context.Context, inst services.Instance) error {
	id, user := ElastiCacheUserID(inst.Env, inst.App), User(inst.Env, inst.App)
	g, err := e.waitGroup(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(g.UserIds, id) {
		if _, err := e.api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String(e.group), UserIdsToRemove: []string{id}}); err != nil {
			return e.fail("remove from user group "+e.group, user, err)
		}
		if _, err := e.waitGroup(ctx); err != nil {
			return err
		}
	}
	_, err = e.api.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(id)})
	var missing *types.UserNotFoundFault
	if err != nil && !errors.As(err, &missing) {
		return e.fail("delete user", user, err)
	}
	return nil
}

// user is the user with id, nil when there is none.
func (e *ElastiCache) user(ctx context.Context, id string) (*types.User, error) {
	out, err := e.api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
	var missing *types.UserNotFoundFault
	switch {
	case errors.As(err, &missing):
		return nil, nil
	case err != nil:
		return nil, e.fail("read user", id, err)
	case len(out.Users) == 0:
		return nil, nil
	}
	return &out.Users[0], nil
}

// waitUser waits until the user is active.
func (e *ElastiCache) waitUser(ctx context.Context, id string) error {
	for {
		u, err := e.user(ctx, id)
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("ElastiCache user %s is gone while it was being set", id)
		}
		if aws.ToString(u.Status) == "active" {
			return nil
		}
		if err := e.sleep(ctx, "user "+id+" is "+aws.ToString(u.Status)); err != nil {
			return err
		}
	}
}

// waitGroup waits until the cache's user group is active, and returns it.
func (e *ElastiCache) waitGroup(ctx context.Context) (*types.UserGroup, error) {
	for {
		out, err := e.api.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(e.group)})
		if err != nil {
			return nil, e.fail("read user group", e.group, err)
		}
		if len(out.UserGroups) == 0 {
			return nil, fmt.Errorf("ElastiCache user group %q does not exist: check ELASTICACHE_USER_GROUP", e.group)
		}
		g := out.UserGroups[0]
		if aws.ToString(g.Status) == "active" {
			return &g, nil
		}
		if err := e.sleep(ctx, "user group "+e.group+" is "+aws.ToString(g.Status)); err != nil {
			return nil, err
		}
	}
}

func (e *ElastiCache) sleep(ctx context.Context, what string) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("ElastiCache %s: %w", what, ctx.Err())
	case <-time.After(e.poll):
		return nil
	}
}

// fail says which call on which user failed; a missing user group is said
// plainly (it is the operator's configuration).
func (e *ElastiCache) fail(what, name string, err error) error {
	var noGroup *types.UserGroupNotFoundFault
	if errors.As(err, &noGroup) {
		return fmt.Errorf("ElastiCache user group %q does not exist: check ELASTICACHE_USER_GROUP", e.group)
	}
	return fmt.Errorf("ElastiCache: %s %q: %w", what, name, err)
}
