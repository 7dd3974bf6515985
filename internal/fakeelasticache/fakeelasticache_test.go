package fakeelasticache

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func client(s *Server, key string) *elasticache.Client {
	return elasticache.New(elasticache.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", "")})
}

// The AWS SDK reads the fake's answers and errors as the service's own: typed
// faults with their codes, states that settle, the limits.
func TestFake_ThroughTheSDK(t *testing.T) {
	s := New("AKIAFAKE", "apps")
	defer s.Close()
	api := client(s, "AKIAFAKE")
	ctx := context.Background()
	in := &elasticache.CreateUserInput{UserId: aws.String("Plattr-One"), UserName: aws.String("staging:one"), Engine: aws.String("valkey"),
		AccessString: aws.String("on ~staging:one:* -@all +get"), Passwords: []string{"0123456789abcdef"}}
	out, err := api.CreateUser(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, "plattr-one", aws.ToString(out.UserId), "stored lower-case")
	assert.Equal(t, "modifying", aws.ToString(out.Status), "a new user is not active yet")

	_, err = api.CreateUser(ctx, in)
	var exists *types.UserAlreadyExistsFault
	assert.ErrorAs(t, err, &exists)

	_, err = api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("apps"), UserIdsToAdd: []string{"plattr-one"}})
	var state *types.InvalidUserStateFault
	assert.ErrorAs(t, err, &state, "a user not yet active cannot join")

	d, err := api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("plattr-one")})
	require.NoError(t, err)
	require.Len(t, d.Users, 1)
	assert.Equal(t, "modifying", aws.ToString(d.Users[0].Status), "Settle describes see it pending")
	d, err = api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("plattr-one")})
	require.NoError(t, err)
	assert.Equal(t, "active", aws.ToString(d.Users[0].Status))
	assert.Equal(t, int32(1), aws.ToInt32(d.Users[0].Authentication.PasswordCount))

	g, err := api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("apps"), UserIdsToAdd: []string{"plattr-one"}})
	require.NoError(t, err)
	assert.Equal(t, "modifying", aws.ToString(g.Status))
	assert.Equal(t, []string{"plattr-one"}, g.PendingChanges.UserIdsToAdd)
	_, err = api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("apps"), UserIdsToRemove: []string{"plattr-one"}})
	var groupState *types.InvalidUserGroupStateFault
	assert.ErrorAs(t, err, &groupState, "one change at a time")
	_, err = api.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("plattr-one")})
	assert.ErrorAs(t, err, &state, "a user in a group is removed from it first")
	for range 2 {
		_, err = api.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("apps")})
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"plattr-one"}, s.GroupUsers("apps"))

	_, err = api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("nobody")})
	var missing *types.UserNotFoundFault
	assert.ErrorAs(t, err, &missing)
	_, err = api.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("other")})
	var noGroup *types.UserGroupNotFoundFault
	assert.ErrorAs(t, err, &noGroup)

	short := *in
	short.UserId, short.UserName, short.Passwords = aws.String("two"), aws.String("two"), []string{"short"}
	_, err = api.CreateUser(ctx, &short)
	var invalid *types.InvalidParameterValueException
	assert.ErrorAs(t, err, &invalid, "passwords are 16 to 128 characters")
	bad := *in
	bad.UserId, bad.UserName = aws.String("staging:two"), aws.String("staging:two")
	_, err = api.CreateUser(ctx, &bad)
	assert.ErrorAs(t, err, &invalid, "no ':' in an id")

	s.Throttle(1)
	_, err = api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{})
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Throttling", ae.ErrorCode())

	_, err = client(s, "AKIAOTHER").DescribeUsers(ctx, &elasticache.DescribeUsersInput{})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "InvalidClientTokenId", ae.ErrorCode())
	assert.False(t, errors.As(err, &missing))
}

// Two passwords at most, and the cache's AUTH takes either, only for a user
// in a user group.
func TestFake_Passwords(t *testing.T) {
	s := New("AKIAFAKE", "apps")
	defer s.Close()
	s.Settle = 0
	api := client(s, "AKIAFAKE")
	ctx := context.Background()
	a, b, c := "0123456789abcdef", "fedcba9876543210", "aaaaaaaaaaaaaaaa"
	_, err := api.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("u1"), UserName: aws.String("staging:one"), Engine: aws.String("valkey"),
		AccessString: aws.String("on ~staging:one:* -@all +get"), Passwords: []string{a}})
	require.NoError(t, err)
	_, err = api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("u1")})
	require.NoError(t, err)
	assert.False(t, s.Authenticates("staging:one", a), "in no user group yet")
	_, err = api.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("apps"), UserIdsToAdd: []string{"u1"}})
	require.NoError(t, err)
	_, err = api.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("apps")})
	require.NoError(t, err)
	assert.True(t, s.Authenticates("staging:one", a))

	_, err = api.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("u1"), Passwords: []string{a, b, c}})
	var invalid *types.InvalidParameterValueException
	assert.ErrorAs(t, err, &invalid, "three passwords")
	_, err = api.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("u1"), Passwords: []string{b, a}})
	require.NoError(t, err)
	assert.True(t, s.Authenticates("staging:one", a) && s.Authenticates("staging:one", b))
	d, err := api.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("u1")})
	require.NoError(t, err)
	assert.Equal(t, int32(2), aws.ToInt32(d.Users[0].Authentication.PasswordCount))
	_, err = api.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("u1"), Passwords: []string{b}})
	require.NoError(t, err)
	assert.False(t, s.Authenticates("staging:one", a), "the password ModifyUser left out")
	assert.False(t, s.Authenticates("staging:two", b), "another user")
}
