package redis

import (
	"context"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func instance(app string) services.Instance {
	return services.Instance{Env: "plattr", App: "test-" + app, Spec: &plattrv1.ApplicationSpec{Redis: &plattrv1.RedisSpec{Enabled: true}}}
}

func setup(t *testing.T) (*Provisioner, *testenv.Redis) {
	t.Helper()
	r := testenv.StartRedis(t)
	p, err := New(r.AdminURL)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, r
}

func appClient(t *testing.T, creds services.Credentials) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(string(creds[KeyURL]))
	require.NoError(t, err)
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func ensure(t *testing.T, p *Provisioner, inst services.Instance, current services.Credentials) services.Credentials {
	t.Helper()
	creds, err := p.Ensure(context.Background(), inst, current)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Delete(context.Background(), inst) })
	return creds
}

func TestProvisioner_ConfinesTheAppToItsPrefix(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	shop, admin := instance("shop"), instance("shop-admin")
	shopCreds := ensure(t, p, shop, nil)
	adminCreds := ensure(t, p, admin, nil)
	assert.Equal(t, "plattr:test-shop:", string(shopCreds[KeyPrefix]))

	c := appClient(t, shopCreds)
	require.NoError(t, c.Set(ctx, "plattr:test-shop:cart:1", "3 items", time.Minute).Err())
	v, err := c.Get(ctx, "plattr:test-shop:cart:1").Result()
	require.NoError(t, err)
	assert.Equal(t, "3 items", v)

	other := appClient(t, adminCreds)
	require.NoError(t, other.Set(ctx, "plattr:test-shop-admin:x", "1", time.Minute).Err())
	for name, cmd := range map[string]func() error{
		"another app's key (shop vs shop-admin)": func() error { return c.Get(ctx, "plattr:test-shop-admin:x").Err() },
		"a key outside any prefix":               func() error { return c.Set(ctx, "global", "x", 0).Err() },
		"KEYS *":                                 func() error { return c.Keys(ctx, "*").Err() },
		"FLUSHALL":                               func() error { return c.FlushAll(ctx).Err() },
		"CONFIG GET":                             func() error { return c.ConfigGet(ctx, "*").Err() },
		"another app's channel":                  func() error { return c.Publish(ctx, "plattr:test-shop-admin:events", "x").Err() },
	} {
		err := cmd()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "NOPERM", name)
	}
	require.NoError(t, c.Publish(ctx, "plattr:test-shop:events", "x").Err(), "its own channels work")
}

func TestProvisioner_ObserveAndRestoreAfterRestart(t *testing.T) {
	p, r := setup(t)
	ctx := context.Background()
	inst := instance("restart")
	creds := ensure(t, p, inst, nil)
	ok, err := p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)

	// A restart without an ACL file forgets users: Observe notices...
	require.NoError(t, r.Client(t).Do(ctx, "ACL", "DELUSER", User(inst.Env, inst.App)).Err())
	ok, err = p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.False(t, ok, "a missing user is not up to date")
	// ...and Ensure restores the user with the password the app already has.
	again := ensure(t, p, inst, creds)
	assert.Equal(t, string(creds[KeyURL]), string(again[KeyURL]))
	require.NoError(t, appClient(t, creds).Set(ctx, "plattr:test-restart:k", "v", time.Minute).Err())

	// A tampered ACL (wider keys) is not up to date either.
	require.NoError(t, r.Client(t).Do(ctx, "ACL", "SETUSER", User(inst.Env, inst.App), "~*").Err())
	ok, err = p.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestProvisioner_DeleteRemovesUserAndKeys(t *testing.T) {
	p, r := setup(t)
	ctx := context.Background()
	inst := instance("gone")
	creds := ensure(t, p, inst, nil)
	c := appClient(t, creds)
	for i := 0; i < 1200; i++ {
		require.NoError(t, c.Set(ctx, "plattr:test-gone:"+string(rune('a'+i%26))+":"+time.Duration(i).String(), "v", time.Hour).Err())
	}
	require.NoError(t, p.Delete(ctx, inst))
	admin := r.Client(t)
	_, err := admin.Do(ctx, "ACL", "GETUSER", User(inst.Env, inst.App)).Result()
	assert.ErrorIs(t, err, goredis.Nil, "the user is gone")
	keys, err := admin.Keys(ctx, "plattr:test-gone:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "and its keys")
	require.NoError(t, p.Delete(ctx, inst), "already gone is success")
}

func TestProvisioner_NotConfiguredAndBadNames(t *testing.T) {
	p, err := New("")
	require.NoError(t, err)
	_, err = p.Ensure(context.Background(), instance("x"), nil)
	assert.ErrorIs(t, err, services.ErrNotConfigured)
	_, err = New("http://nope")
	assert.ErrorContains(t, err, "REDIS_ADMIN_URL must be a URL")

	q, _ := setup(t)
	_, err = q.Ensure(context.Background(), services.Instance{Env: "a:b", App: "x"}, nil)
	assert.ErrorIs(t, err, services.ErrInvalid)
	assert.Equal(t, `a\*b\?`, glob("a*b?"))
}

// An unreachable Redis is an error to retry, not "the user is missing" (which
// would make every reconcile provision again).
func TestProvisioner_ObserveReportsAnUnreachableServer(t *testing.T) {
	p, err := New("redis://127.0.0.1:1/0")
	require.NoError(t, err)
	t.Cleanup(p.Close)
	inst := instance("down")
	user := User(inst.Env, inst.App)
	secret := services.Credentials{KeyURL: []byte(p.url(user, "pw")), KeyPrefix: []byte(Prefix(inst.Env, inst.App)),
		KeyUser: []byte(user), KeyPassword: []byte("pw")}
	ok, err := p.Observe(context.Background(), inst, secret)
	assert.False(t, ok)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `read Redis user "plattr:test-down`)
}

// Every key of the Secret is a variable the generator refuses in env: otherwise
// an env entry would override it in the container.
func TestProvisioner_EnsureKeysAreInjectedEnv(t *testing.T) {
	p, _ := setup(t)
	creds := ensure(t, p, instance("injected"), nil)
	require.NotEmpty(t, creds)
	for k := range creds {
		assert.Equal(t, "redis", plattrv1.InjectedEnv[k], "%s is listed in plattrv1.InjectedEnv as Redis's", k)
	}
	listed := 0
	for _, svc := range plattrv1.InjectedEnv {
		if svc == "redis" {
			listed++
		}
	}
	assert.Equal(t, len(creds), listed, "and nothing else is listed as Redis's")
}
