package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/internal/fakeelasticache"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services/redis"
)

// The Redis service on ElastiCache, end to end: the operator, configured with a
// user group, makes each app's user through the ElastiCache API (a fake on
// 127.0.0.1 the AWS SDK is pointed at), hands the app a TLS URL, states
// ElastiCache's 100-users-per-group limit in the condition when the group is
// full, and removes the user with the Application.
func TestApplication_RedisOnElastiCache(t *testing.T) {
	c := testenv.StartCluster(t)
	ns := envNamespace(t, c)
	fake := fakeelasticache.New("AKIAOPERATOR00000001", "plattr-apps")
	t.Cleanup(fake.Close)
	const endpoint = "master.plattr-apps.abc123.euw1.cache.amazonaws.com:6379"
	startOperator(t, c, ns, operator.Config{ElastiCacheUserGroup: "plattr-apps", ElastiCacheEndpoint: endpoint,
		ElastiCachePoll: 10 * time.Millisecond, ElastiCacheOptions: []func(*elasticache.Options){func(o *elasticache.Options) {
			o.Region, o.BaseEndpoint = "eu-west-1", aws.String(fake.URL)
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIAOPERATOR00000001", "operator-secret-key", "")
		}}})

	redisOnly := func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true}
	}
	app := newApp(ns, "test-cache", redisOnly)
	require.NoError(t, c.Client.Create(context.Background(), app))
	waitCondition(t, c, app, plattrv1.ConditionRedisReady, metav1.ConditionTrue, "")
	data := secretData(t, c, ns, "test-cache-redis")
	id := redis.ElastiCacheUserID("plattr", "test-cache")
	u, ok := fake.User(id)
	require.True(t, ok, "the user is made through the ElastiCache API")
	assert.Equal(t, []string{string(data["REDIS_PASSWORD"])}, u.Passwords)
	assert.Equal(t, redis.AccessString("plattr:test-cache:"), u.AccessString)
	assert.True(t, strings.HasPrefix(string(data["REDIS_URL"]), "rediss://plattr%3Atest-cache:"), "TLS")
	assert.True(t, strings.HasSuffix(string(data["REDIS_URL"]), "@"+endpoint+"/0"))
	assert.Equal(t, []string{id}, fake.GroupUsers("plattr-apps"))

	deleteAndWait(t, c, app)
	_, ok = fake.User(id)
	assert.False(t, ok, "the user goes with the Application")
	assert.Empty(t, fake.GroupUsers("plattr-apps"))

	fake.AddUsers("plattr-apps", fakeelasticache.MaxUsersPerGroup)
	full := newApp(ns, "test-cache-full", redisOnly)
	require.NoError(t, c.Client.Create(context.Background(), full))
	t.Cleanup(func() { deleteAndWait(t, c, full) })
	got := waitCondition(t, c, full, plattrv1.ConditionRedisReady, metav1.ConditionFalse, "")
	assert.Contains(t, condition(got, plattrv1.ConditionRedisReady).Message, `ElastiCache user group "plattr-apps" holds 100 users, ElastiCache's limit`)
	assert.NotContains(t, condition(got, plattrv1.ConditionRedisReady).Message, "operator-secret-key")
}
