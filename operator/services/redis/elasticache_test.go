package redis

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/fakeelasticache"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator/services"
)

const (
	fakeKeyID = "AKIAPLATTRTEST0000001"
	cacheHost = "master.plattr-apps.abc123.euw1.cache.amazonaws.com:6379"
)

// elastiCache is the backend pointed at a fake ElastiCache API holding the user
// group "plattr-apps", signing with key.
func elastiCache(t *testing.T, key string) (*ElastiCache, *fakeelasticache.Server) {
	t.Helper()
	fake := fakeelasticache.New(fakeKeyID, "plattr-apps")
	t.Cleanup(fake.Close)
	api := elasticache.New(elasticache.Options{Region: "eu-west-1", BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, "s3cret-key", "")})
	e, err := NewElastiCache(api, ElastiCacheConfig{UserGroup: "plattr-apps", Endpoint: cacheHost, Poll: time.Millisecond})
	require.NoError(t, err)
	return e, fake
}

func TestElastiCache_EnsureObserveDelete(t *testing.T) {
	e, fake := elastiCache(t, fakeKeyID)
	ctx := context.Background()
	inst := services.Instance{Env: "staging", App: "shop"}
	id := ElastiCacheUserID("staging", "shop")
	assert.Regexp(t, `^plattr-[0-9a-f]{16}$`, id)

	creds, err := e.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	password := string(creds[KeyPassword])
	assert.Len(t, password, 32)
	assert.Equal(t, "staging:shop", string(creds[KeyUser]))
	assert.Equal(t, "staging:shop:", string(creds[KeyPrefix]))
	assert.Equal(t, "rediss://staging%3Ashop:"+password+"@"+cacheHost+"/0", string(creds[KeyURL]))
	u, ok := fake.User(id)
	require.True(t, ok)
	assert.Equal(t, "active", u.Status)
	assert.Equal(t, "staging:shop", u.UserName)
	assert.Equal(t, []string{password}, u.Passwords)
	assert.True(t, strings.HasPrefix(u.AccessString, `on ~staging:shop:* &staging:shop:* -@all +@string`), u.AccessString)
	assert.Contains(t, u.AccessString, " +select|0 ")
	assert.NotContains(t, u.AccessString, password)
	assert.Equal(t, []string{id}, fake.GroupUsers("plattr-apps"))

	ok, err = e.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.True(t, ok)

	again, err := e.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	assert.Equal(t, creds, again, "the Secret's password is kept")

	// Drift: a widened access string is seen and set back.
	fake.SetAccessString(id, "on ~* +@all")
	ok, err = e.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = e.Ensure(ctx, inst, creds)
	require.NoError(t, err)
	u, _ = fake.User(id)
	assert.Equal(t, AccessString("staging:shop:"), u.AccessString)

	require.NoError(t, e.Delete(ctx, inst))
	_, ok = fake.User(id)
	assert.False(t, ok)
	assert.Empty(t, fake.GroupUsers("plattr-apps"))
	require.NoError(t, e.Delete(ctx, inst), "deleting what is gone is success")
	ok, err = e.Observe(ctx, inst, creds)
	require.NoError(t, err)
	assert.False(t, ok)
}

// A user made by a run that did not finish (never added to the group) is taken
// over and finished; ElastiCache's throttling is retried.
func TestElastiCache_InterruptedRunAndThrottling(t *testing.T) {
	e, fake := elastiCache(t, fakeKeyID)
	ctx := context.Background()
	inst := services.Instance{Env: "staging", App: "cart"}
	api := e.api
	_, err := api.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(ElastiCacheUserID("staging", "cart")),
		UserName: aws.String("staging:cart"), Engine: aws.String("valkey"), AccessString: aws.String("on ~* +@all"),
		Passwords: []string{"an-older-password-0123456789"}})
	require.NoError(t, err)
	fake.Throttle(2)
	creds, err := e.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	u, _ := fake.User(ElastiCacheUserID("staging", "cart"))
	assert.Equal(t, []string{string(creds[KeyPassword])}, u.Passwords)
	assert.Equal(t, AccessString("staging:cart:"), u.AccessString)
	assert.Contains(t, fake.GroupUsers("plattr-apps"), u.UserID)
}

// A full user group is named with ElastiCache's limit; nothing is half made in it.
func TestElastiCache_FullUserGroup(t *testing.T) {
	e, fake := elastiCache(t, fakeKeyID)
	fake.AddUsers("plattr-apps", fakeelasticache.MaxUsersPerGroup)
	_, err := e.Ensure(context.Background(), services.Instance{Env: "staging", App: "one-too-many"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `ElastiCache user group "plattr-apps" holds 100 users, ElastiCache's limit`)
	assert.Len(t, fake.GroupUsers("plattr-apps"), 100)
}

// Wrong credentials and a missing user group fail with what to fix, and no
// error carries a password or the secret key.
func TestElastiCache_Misconfigured(t *testing.T) {
	e, _ := elastiCache(t, "AKIAOTHERACCOUNT00001")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	current := services.Credentials{KeyUser: []byte("staging:shop"), KeyPassword: []byte("kept-password-0123456789abcdef")}
	_, err := e.Ensure(ctx, services.Instance{Env: "staging", App: "shop"}, current)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InvalidClientTokenId")
	assert.NotContains(t, err.Error(), "kept-password")
	assert.NotContains(t, err.Error(), "s3cret-key")

	good, fake := elastiCache(t, fakeKeyID)
	good.group = "no-such-group"
	_, err = good.Ensure(ctx, services.Instance{Env: "staging", App: "shop"}, current)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `ElastiCache user group "no-such-group" does not exist: check ELASTICACHE_USER_GROUP`)
	assert.NotContains(t, err.Error(), "kept-password")
	assert.Empty(t, fake.GroupUsers("plattr-apps"))

	for _, bad := range []ElastiCacheConfig{{Endpoint: cacheHost}, {UserGroup: "g"}, {UserGroup: "g", Endpoint: cacheHost, Engine: "memcached"}} {
		_, err := NewElastiCache(nil, bad)
		assert.Error(t, err, bad)
	}
}

// The access string is the ACL backend's rules: the same commands, keys and channels.
func TestAccessString_IsTheACLRules(t *testing.T) {
	got := strings.Fields(AccessString("staging:a*b:"))
	assert.Equal(t, []string{"on", `~staging:a\*b:*`, `&staging:a\*b:*`}, got[:3])
	assert.Equal(t, commandRules(0), got[3:])
}

// A rotation on ElastiCache with no failed login: the new password beside
// the current one (ModifyUser takes two), Observe and Ensure keep both while
// the pods move, Retire leaves the new one only.
func TestElastiCache_RotateWithNoFailedLogin(t *testing.T) {
	e, fake := elastiCache(t, fakeKeyID)
	ctx := context.Background()
	inst := services.Instance{Env: "staging", App: "shop"}
	old, err := e.Ensure(ctx, inst, nil)
	require.NoError(t, err)
	var pod atomic.Pointer[services.Credentials]
	pod.Store(&old)
	stop := testenv.KeepLoggingIn(t, func() error {
		if c := *pod.Load(); !fake.Authenticates(string(c[KeyUser]), string(c[KeyPassword])) {
			return errors.New("WRONGPASS")
		}
		return nil
	})

	next, err := e.Rotate(ctx, inst, old)
	require.NoError(t, err)
	assert.NotEqual(t, old[KeyPassword], next[KeyPassword])
	during := inst
	during.Previous = old
	seen, err := e.Observe(ctx, during, next)
	require.NoError(t, err)
	assert.True(t, seen, "both passwords are what is wanted mid-rotation")
	seen, err = e.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.False(t, seen, "outside a rotation two passwords are one too many")
	again, err := e.Ensure(ctx, during, next)
	require.NoError(t, err)
	assert.Equal(t, next, again)
	u, _ := fake.User(ElastiCacheUserID("staging", "shop"))
	assert.ElementsMatch(t, []string{string(old[KeyPassword]), string(next[KeyPassword])}, u.Passwords, "Ensure kept the previous one")

	time.Sleep(50 * time.Millisecond)
	pod.Store(&next)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, e.Retire(ctx, inst, next, old))
	ok, failed := stop()
	assert.Zero(t, failed)
	assert.Greater(t, ok, int64(10))
	assert.False(t, fake.Authenticates("staging:shop", string(old[KeyPassword])), "retired")
	assert.True(t, fake.Authenticates("staging:shop", string(next[KeyPassword])))
	seen, err = e.Observe(ctx, inst, next)
	require.NoError(t, err)
	assert.True(t, seen)
}
